"""`provisioning/vm`: spot GPU VMs on Google Compute Engine for stablelm-tui (standard library only).

It runs on the user's own machine, outside the project's venv, so it must not import `tui` or anything
that is not in the standard library.
"""
