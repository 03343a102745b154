"""What runs inside the container and the weights build: the image layout the build configs rely on, the weight
download, the app's files kept across instances, and the entry point (with fakes of `stablelm-tui` and `hf`)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.unit.provisioning_fakes import PROVISIONING, make_fake

sys.path.insert(0, str(PROVISIONING))

import cloudrun_state


def test_the_image_and_the_weights_build_point_at_files_the_image_holds() -> None:
    dockerfile = (PROVISIONING / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["/opt/stablelm-tui/provisioning/cloudrun-entry.sh"]' in dockerfile
    assert "WORKDIR /opt/stablelm-tui" in dockerfile and "COPY . ." in dockerfile
    assert (
        "entrypoint: /opt/stablelm-tui/provisioning/fetch-weights.sh"
        in (PROVISIONING / "cloudbuild-weights.yaml").read_text()
    )
    assert '"-f", "provisioning/Dockerfile"' in (PROVISIONING / "cloudbuild-image.yaml").read_text()
    ignored = (PROVISIONING / "cloudrun.gcloudignore").read_text().split()
    assert not any(
        line.startswith(("provisioning", "tui", "prompt_template", "pyproject")) for line in ignored
    )
    for script in ("cloudrun-entry.sh", "fetch-weights.sh"):
        assert (PROVISIONING / script).stat().st_mode & 0o111


def test_fetch_weights_downloads_the_presets_hub_models_and_consumes_the_token(tmp_path: Path) -> None:
    presets = {"p": {"tokenizer": "org/tok", "base": {"model": "org/base"}, "instruct": {"model": "./local"}}}
    bin_dir = tmp_path / "bin"
    make_fake(bin_dir, "stablelm-tui", f"echo '{json.dumps(presets)}'\n")
    make_fake(bin_dir, "hf", 'echo "$* token=${HF_TOKEN:-none} cache=$HF_HUB_CACHE" >>"$WORKSPACE/hf.log"\n')
    make_fake(bin_dir, "python", f'exec {sys.executable} "$@"\n')
    (tmp_path / ".hf-token").write_text("hf_secret")
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "WORKSPACE": str(tmp_path)}
    done = subprocess.run(
        ["bash", str(PROVISIONING / "fetch-weights.sh"), "p"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    log = (tmp_path / "hf.log").read_text().splitlines()
    assert log == [
        f"download --quiet org/tok token=hf_secret cache={tmp_path}/hub",
        f"download --quiet org/base token=hf_secret cache={tmp_path}/hub",
    ]
    assert not (tmp_path / ".hf-token").exists()
    unknown = subprocess.run(
        ["bash", str(PROVISIONING / "fetch-weights.sh"), "nope"], env=env, capture_output=True, text=True
    )
    assert unknown.returncode != 0 and "unknown preset nope" in unknown.stderr


def sessions_db(path: Path, rows: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE IF NOT EXISTS m (text TEXT)")
    db.executemany("INSERT INTO m VALUES (?)", [(f"こんにちは {i}",) for i in range(rows)])
    db.commit()
    db.close()


def test_state_is_saved_with_a_consistent_sqlite_snapshot_and_restored(tmp_path: Path) -> None:
    local, bucket, fresh = tmp_path / "local", tmp_path / "bucket", tmp_path / "fresh"
    sessions_db(local / "sessions.sqlite3", 3)
    live = sqlite3.connect(local / "sessions.sqlite3")  # the app still has it open, its WAL not checkpointed
    live.execute("INSERT INTO m VALUES ('未チェックポイント')")
    live.commit()
    (local / "stories").mkdir()
    (local / "stories" / "a.json").write_text('{"title": "物語"}')
    assert cloudrun_state.main(["save", str(local), str(bucket)]) == 0
    live.close()
    assert sorted(p.name for p in bucket.rglob("*") if p.is_file()) == ["a.json", "sessions.sqlite3"]
    assert cloudrun_state.main(["restore", str(bucket), str(fresh)]) == 0
    rows = sqlite3.connect(fresh / "sessions.sqlite3").execute("SELECT count(*) FROM m").fetchone()
    assert rows == (4,)
    assert (fresh / "stories" / "a.json").read_text() == '{"title": "物語"}'
    assert oct((fresh / "sessions.sqlite3").stat().st_mode & 0o777) == "0o600"


def test_restoring_from_an_empty_or_missing_state_is_not_an_error(tmp_path: Path) -> None:
    assert cloudrun_state.main(["restore", str(tmp_path / "none"), str(tmp_path / "local")]) == 0
    assert cloudrun_state.main(["bogus", "a", "b"]) == 2


def entry_env(tmp_path: Path, app_body: str) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    make_fake(bin_dir, "stablelm-tui", app_body)
    make_fake(bin_dir, "python3", f'exec {sys.executable} "$@"\n')
    return {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "HOME": str(tmp_path / "home"),
        "PORT": "9090",
        "STABLELM_TUI_WEB_TOKEN": "t0ken",
        "STABLELM_TUI_PRESET": "ja-alpha",
        "STABLELM_TUI_MODELS_DIR": str(tmp_path / "models"),
        "STABLELM_TUI_STATE_DIR": str(tmp_path / "state"),
        "STABLELM_TUI_SAVE_SECONDS": "1",
    }


def test_the_entry_runs_web_on_port_with_the_token_variable_and_keeps_the_files(tmp_path: Path) -> None:
    sessions_db(tmp_path / "state" / "data" / "sessions.sqlite3", 2)  # saved by an earlier instance
    app = (
        'echo "$*" >"$HOME/args"; env | grep -E "^(HF_|STABLELM_TUI_DATA|STABLELM_TUI_CONFIG)" | sort >"$HOME/env"\n'
        'ls "$STABLELM_TUI_DATA_DIR" >"$HOME/restored"\n'
        'echo "theme = 1" >"$STABLELM_TUI_CONFIG_DIR/config.toml" 2>/dev/null || '
        '{ mkdir -p "$STABLELM_TUI_CONFIG_DIR"; echo "theme = 1" >"$STABLELM_TUI_CONFIG_DIR/config.toml"; }\n'
    )
    env = entry_env(tmp_path, app)
    done = subprocess.run(
        [str(PROVISIONING / "cloudrun-entry.sh")], env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    home = tmp_path / "home"
    assert (home / "args").read_text().split() == [
        "web", "--preset", "ja-alpha", "--host", "0.0.0.0", "--port", "9090",
        "--token-env", "STABLELM_TUI_WEB_TOKEN", "--idle-minutes", "15",
    ]  # fmt: skip
    assert "t0ken" not in (home / "args").read_text()
    env_lines = (home / "env").read_text()
    assert f"HF_HUB_CACHE={tmp_path}/models/hub" in env_lines and "HF_HUB_OFFLINE=1" in env_lines
    assert (home / "restored").read_text().split() == ["sessions.sqlite3"]
    assert (tmp_path / "state" / "config" / "config.toml").read_text() == "theme = 1\n"


def test_the_entry_saves_the_files_when_cloud_run_stops_the_instance(tmp_path: Path) -> None:
    app = 'mkdir -p "$STABLELM_TUI_DATA_DIR"; echo kept >"$STABLELM_TUI_DATA_DIR/note.txt"\nexec sleep 60\n'
    (tmp_path / "state").mkdir()  # the bucket mount
    entry = subprocess.Popen([str(PROVISIONING / "cloudrun-entry.sh")], env=entry_env(tmp_path, app))
    time.sleep(0.5)
    entry.send_signal(signal.SIGTERM)
    assert entry.wait(timeout=15) == 0
    assert (tmp_path / "state" / "data" / "note.txt").read_text() == "kept\n"


def test_the_entry_refuses_to_start_without_the_token(tmp_path: Path) -> None:
    env = {k: v for k, v in entry_env(tmp_path, "exit 0\n").items() if k != "STABLELM_TUI_WEB_TOKEN"}
    done = subprocess.run([str(PROVISIONING / "cloudrun-entry.sh")], env=env, capture_output=True, text=True)
    assert done.returncode != 0 and "the app token is missing" in done.stderr
