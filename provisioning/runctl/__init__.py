"""`provisioning/cloudrun`: the browser app on Cloud Run with one NVIDIA L4, scaled to zero (standard library only).

Like `vm`, it runs on the user's own machine with the system Python, so it imports nothing outside the standard
library and nothing from `tui`.
"""
