"""Modal screens: help, settings, session picker, preset picker."""
