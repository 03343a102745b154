"""provisioning/sky.yaml, read by SkyPilot itself: its JSON schema and sky.Task.from_yaml, offline.

SkyPilot lives in a venv of its own (`make test` builds .venv-sky; STABLELM_TUI_SKY_PYTHON names another). A
`sky launch --dryrun` is not used: it downloads SkyPilot's catalog from GitHub and wants cloud credentials, neither
of which CI has; parsing with SkyPilot's own code checks what the YAML can get wrong (keys, types, autostop, spot,
secrets) without them.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml  # transformers' dependency, so in the dev venv

from tests.unit.provisioning_fakes import PROVISIONING, REPO
from tests.unit.test_provisioning_scripts import shellcheck

SKY_YAML = PROVISIONING / "sky.yaml"


@pytest.fixture(scope="module")
def sky_python() -> str:
    candidate = os.environ.get("STABLELM_TUI_SKY_PYTHON") or str(REPO / ".venv-sky" / "bin" / "python")
    assert Path(candidate).exists(), (
        f"no SkyPilot venv at {candidate}: `make test` builds it (target .venv-sky)"
    )
    return candidate


def sky(python: str, tmp_path: Path, code: str) -> dict[str, object]:
    """Run `code` in SkyPilot's venv (offline, a throwaway HOME); it prints one JSON object."""
    done = subprocess.run(
        [python, "-c", code, str(SKY_YAML)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_skypilot_accepts_the_task_and_reads_its_guards(sky_python: str, tmp_path: Path) -> None:
    seen = sky(
        sky_python,
        tmp_path,
        "import json, sys, sky, yaml\n"
        "from sky.utils import common_utils, schemas\n"
        "config = yaml.safe_load(open(sys.argv[1]))\n"
        "common_utils.validate_schema(config, schemas.get_task_schema(), 'sky.yaml: ')\n"
        "task = sky.Task.from_yaml(sys.argv[1])\n"
        "(r,) = task.resources\n"
        "a = r.autostop_config\n"
        "print(json.dumps({'autostop': [a.enabled, a.idle_minutes, a.down], 'spot': r.use_spot,\n"
        "    'gpus': dict(r.accelerators), 'cloud': str(r.cloud), 'labels': r.labels, 'envs': task.envs}))\n",
    )
    assert seen["autostop"] == [True, 30, True]  # torn down, disk included, after 30 idle minutes
    assert seen["spot"] is True and seen["gpus"] == {"T4": 1} and seen["cloud"] == "GCP"
    assert seen["labels"] == {"stablelm-tui": "managed", "stablelm-tui-profile": "sky"}
    assert seen["envs"] == {"PRESET": "ja-alpha", "TORCH_CUDA_INDEX": "cu128"}


def test_the_hugging_face_token_is_optional_at_launch(sky_python: str, tmp_path: Path) -> None:
    """A null secret is a reference SkyPilot must resolve at launch, or it refuses (sky/execution.py); the token
    is only needed for gated models, so the task launches without it and takes it from `--secret HF_TOKEN`."""
    seen = sky(
        sky_python,
        tmp_path,
        "import json, sys, sky, yaml\n"
        "plain = sky.Task.from_yaml(sys.argv[1])\n"
        "given = sky.Task.from_yaml_config(yaml.safe_load(open(sys.argv[1])),\n"
        "    secrets_overrides=[('HF_TOKEN', 'hf_test')])\n"
        "print(json.dumps({'unresolved': [r.name for r in plain.managed_secret_refs],\n"
        "    'plain': {k: v.get_secret_value() for k, v in plain.secrets.items()},\n"
        "    'given': {k: v.get_secret_value() for k, v in given.secrets.items()}}))\n",
    )
    assert seen["unresolved"] == []
    assert seen["plain"] == {"HF_TOKEN": ""} and seen["given"] == {"HF_TOKEN": "hf_test"}


def test_the_setup_script_is_shellcheck_clean(tmp_path: Path) -> None:
    script = tmp_path / "setup.sh"
    script.write_text("#!/usr/bin/env bash\n" + yaml.safe_load(SKY_YAML.read_text())["setup"])
    done = subprocess.run([shellcheck(), str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout
