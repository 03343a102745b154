"""Drive the real `stablelm-tui chat` in a real terminal: a tmux pane on a private tmux server.

Keys go in with send-keys and the screen comes back with capture-pane, exactly as over SSH. Each driver starts
its own tmux server (its socket in a temporary folder), so the pane gets this test's environment, never that of
a tmux server someone else started, and closing the driver ends everything it started.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

APP = Path(sys.executable).with_name("stablelm-tui")
ENV_NAMES = ("STABLELM_TUI_CONFIG_DIR", "STABLELM_TUI_DATA_DIR", "STABLELM_TUI_CACHE_DIR", "PATH", "HOME")


def require_tmux() -> None:
    """tmux is installed by `make test` (make browser), so its absence is a failure, never a skip."""
    if shutil.which("tmux") is None:
        raise AssertionError("tmux is not installed: `make test` installs it (see `make browser`)")


def terminal_env(config_toml: str) -> dict[str, str]:
    """The environment of an app in a tmux pane: the test's own dirs, `config_toml` as its config file, UTF-8."""
    config = Path(os.environ["STABLELM_TUI_CONFIG_DIR"])
    config.mkdir(parents=True, exist_ok=True)
    (config / "config.toml").write_text(config_toml, encoding="utf-8")
    return {name: os.environ[name] for name in ENV_NAMES if name in os.environ} | {
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
    }


class TmuxChat:
    def __init__(
        self,
        args: list[str],
        *,
        env: dict[str, str],
        size: tuple[int, int] = (80, 24),
        command: tuple[str, ...] = ("chat",),
    ) -> None:
        require_tmux()
        self._home = tempfile.TemporaryDirectory(prefix="stui-tmux-")
        self.socket = str(Path(self._home.name) / "tmux.sock")
        self.session = "chat"
        assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        # exec: the pane's process is the app itself, so its pid is the one a signal must reach.
        line = f"exec env {assignments} {shlex.quote(str(APP))} {shlex.join([*command, *args])}"
        self._tmux("new-session", "-d", "-s", self.session, "-x", str(size[0]), "-y", str(size[1]), line)
        self.pid = int(self._tmux("display-message", "-p", "-t", self.session, "#{pane_pid}").strip())

    def _tmux(self, *args: str, check: bool = True) -> str:
        # A UTF-8 locale for tmux itself, or it shows Japanese text as underscores.
        env = {**os.environ, "LANG": "C.UTF-8"}
        result = subprocess.run(
            ["tmux", "-S", self.socket, *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            env=env,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", self.session, check=False)

    def send(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", self.session, *keys)

    def type(self, text: str) -> None:
        self._tmux("send-keys", "-t", self.session, "-l", text)

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        """The screen once `text` is on it; fails with the screen as it was."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} did not appear in {timeout:.0f} s; the screen:\n{screen}")
            time.sleep(0.2)

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        # A killed child of the tmux server may linger as a zombie until tmux reaps it.
        stat = Path(f"/proc/{self.pid}/stat")
        return not (stat.exists() and stat.read_text().split(") ")[-1].startswith("Z"))

    def wait_exit(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() > deadline:
                raise AssertionError(f"the app (pid {self.pid}) was still running {timeout:.0f} s later")
            time.sleep(0.1)

    def kill_session(self) -> None:
        """Close the terminal: the pane's process gets SIGHUP, as when an SSH link drops."""
        self._tmux("kill-session", "-t", self.session, check=False)

    def close(self) -> None:
        self._tmux("kill-server", check=False)
        if self.alive():
            os.kill(self.pid, 9)
        self._home.cleanup()


def reply_lines(screen: str, label: str) -> list[str]:
    """The reply's text as shown: the lines after its label, up to the blank line that ends the message."""
    lines = screen.splitlines()
    start = next(i for i, line in enumerate(lines) if label in line) + 1
    shown: list[str] = []
    for line in lines[start:]:
        if not line.strip() or line.lstrip().startswith(("─", "▔", "▁")):
            break
        shown.append(line.strip())
    return shown
