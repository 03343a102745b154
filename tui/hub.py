"""Is the Hugging Face hub reachable from here? Asked once per process, in a few seconds at most.

huggingface_hub retries an unreachable hub with back-off for over a minute per file, printing each retry. On a
VM without network (or a machine like our CI) we want the local cache at once and one clear sentence instead.
"""

from __future__ import annotations

import functools
import os
import socket
from urllib.parse import urlsplit

DEFAULT_ENDPOINT = "https://huggingface.co"


def _offline_by_env() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


@functools.cache
def hub_reachable(timeout_s: float = 3.0) -> bool:
    """False when HF_HUB_OFFLINE is set or a TCP connection to the hub endpoint fails within the timeout."""
    if _offline_by_env():
        return False
    endpoint = urlsplit(os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT)
    host = endpoint.hostname
    if not host:
        return False
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def looks_like_hub_id(ref: str) -> bool:
    return ref.count("/") == 1 and not ref.startswith((".", "/", "~")) and not os.path.exists(ref)
