"""`stablelm-tui trust MODEL`: confirm once that a model repository's own code may run."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "trust",
        help="confirm once that a model's own Python code may run (trust_remote_code)",
        description="List a model directory's .py files and record a confirmation for this exact revision. "
        "Loading with remote code also needs `trust_remote_code = true` in the preset.",
    )
    parser.add_argument("model", help="model id as written in the preset")
    parser.add_argument(
        "--dir", type=Path, help="local directory of the model (default: the Hugging Face cache)"
    )
    parser.add_argument("--yes", action="store_true", help="do not ask")
    parser.set_defaults(func=run)


def _local_dir(model: str, explicit: Path | None) -> Path:
    from tui.errors import UserError

    if explicit is not None:
        return explicit
    if Path(model).is_dir():
        return Path(model)
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(model, local_files_only=True))
    except Exception:
        raise UserError(
            f"{model} is not in the local Hugging Face cache; download it first or pass --dir"
        ) from None


def run(args: argparse.Namespace) -> int:
    from tui.errors import UserError
    from tui.trust import code_fingerprint, record_trust

    model_dir = _local_dir(args.model, args.dir)
    files = sorted(model_dir.rglob("*.py"))
    if not files:
        raise UserError(f"{model_dir} has no .py files: nothing to trust")
    fingerprint = code_fingerprint(model_dir)
    print(f"{args.model}: {len(files)} Python file(s), fingerprint {fingerprint[:12]}")
    for path in files:
        print(f"  {path.relative_to(model_dir)}  ({path.stat().st_size} bytes)")
    if not args.yes:
        answer = input("Allow this code to run with your rights? Type 'yes' to confirm: ")
        if answer.strip().lower() != "yes":
            print("not confirmed")
            return 1
    record_trust(args.model, fingerprint)
    print("confirmed; it will ask again if these files change")
    return 0
