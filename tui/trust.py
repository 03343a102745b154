"""One-time confirmation before running a model repository's own Python code (`trust_remote_code`).

Remote code runs with the user's rights, so it needs two things: the preset must ask for it, and the user must
have confirmed this exact code once. A confirmation is tied to a fingerprint of the repository's .py files,
so a changed revision asks again.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from tui.errors import UserError
from tui.paths import data_dir, make_private, private_data_dir, write_private_file
from tui.presets import Preset


def trust_file() -> Path:
    return data_dir() / "trusted-remote-code.json"


def code_fingerprint(model_dir: Path) -> str:
    """sha256 over the names and contents of every .py file in a local model directory (sorted)."""
    digest = hashlib.sha256()
    files = sorted(model_dir.rglob("*.py"))
    for path in files:
        digest.update(str(path.relative_to(model_dir)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def _load() -> dict[str, dict[str, object]]:
    try:
        make_private(trust_file())  # a file written by an older version may still be world-readable
        data = json.loads(trust_file().read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise UserError(f"{trust_file()}: cannot read the remote-code confirmations ({exc})") from None
    return data if isinstance(data, dict) else {}


def is_trusted(model_id: str, fingerprint: str) -> bool:
    entry = _load().get(model_id)
    return isinstance(entry, dict) and entry.get("fingerprint") == fingerprint


def record_trust(model_id: str, fingerprint: str) -> None:
    entries = _load()
    entries[model_id] = {"fingerprint": fingerprint, "confirmed": time.time()}
    path = trust_file()
    try:
        private_data_dir()
        write_private_file(path, json.dumps(entries, indent=2) + "\n")
    except OSError as exc:
        raise UserError(f"cannot save the confirmation to {path}: {exc.strerror or exc}") from None


def check_remote_code(model_id: str, model_dir: Path, preset_allows: bool) -> bool:
    """Whether to pass trust_remote_code=True; raises a UserError saying how to confirm when it is not yet allowed.

    Returns False (load without remote code) when the directory has no code or the preset does not ask for it.
    """
    if not preset_allows or not any(model_dir.rglob("*.py")):
        return False
    fingerprint = code_fingerprint(model_dir)
    if is_trusted(model_id, fingerprint):
        return True
    raise UserError(
        f"{model_id} wants to run its own Python code (trust_remote_code) and this revision "
        f"({fingerprint[:12]}) was not confirmed; review the .py files in {model_dir} and run "
        f"`stablelm-tui trust {model_id}` once"
    )


def remote_code_allowed(preset: Preset, model_ref: str) -> bool:
    """trust_remote_code for one of a preset's models: only when the preset asks AND this code was confirmed."""
    if not preset.trust_remote_code:
        return False
    from tui.demo import DEMO_PREFIX, resolve_model_ref

    if model_ref.startswith(DEMO_PREFIX):
        # Our own demo models: their one-line shim only imports the installed classes, which this process has
        # registered already, so nothing from the directory runs and there is nothing to confirm.
        return False

    path = Path(resolve_model_ref(model_ref)).expanduser()
    if not path.is_dir():
        try:
            from huggingface_hub import snapshot_download

            path = Path(snapshot_download(model_ref, local_files_only=True))
        except Exception:
            raise UserError(
                f"{model_ref} needs its own code (trust_remote_code): download it first "
                f"(`hf download {model_ref}`) so its .py files can be reviewed and confirmed"
            ) from None
    return check_remote_code(model_ref, path, True)
