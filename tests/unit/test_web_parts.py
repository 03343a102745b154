"""The pieces of `stablelm-tui web` that need no server: what each tab runs, what is printed, who counts as this
machine, the per-conversation hold, and the rule that the web process never imports Textual."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys

import pytest

from tui.chat.open_lock import try_hold
from tui.cli import main
from tui.lifeline import PARENT_ENV
from tui.web.auth import cookie_name, new_token
from tui.web.run import WebPlan, browser_url, is_loopback, tab_command


def plan(**changes: object) -> WebPlan:
    fields: dict[str, object] = {
        "preset": "demo",
        "host": "127.0.0.1",
        "port": 8080,
        "token": "T0KEN",
        "token_env": None,
        "public_url": None,
        "idle_minutes": 30.0,
        "server": None,
        "remote_urls": (),
    }
    return WebPlan(**(fields | changes))  # type: ignore[arg-type]


def test_the_web_process_never_imports_textual() -> None:
    code = (
        "import sys, tui.commands.web, tui.web.run, tui.web.tabs, tui.web.auth, tui.web.model_server;"
        "sys.exit('textual' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


def test_each_tab_execs_a_chat_client_that_continues_and_ends_when_idle() -> None:
    words = shlex.split(tab_command(plan(idle_minutes=0.5), "http://127.0.0.1:9000"))
    assert words[0] == "exec"
    chat = words[words.index("-m") :]
    assert chat == [
        "-m", "tui", "chat", "--continue", "--preset", "demo",
        "--server", "http://127.0.0.1:9000", "--idle-minutes", "0.5",
    ]  # fmt: skip


def test_a_tab_names_the_variable_of_the_model_servers_key_never_the_key() -> None:
    words = shlex.split(tab_command(plan(), "http://127.0.0.1:9000", key_env="STABLELM_TUI_WEB_SERVER_KEY"))
    assert words[words.index("--api-key-env") + 1] == "STABLELM_TUI_WEB_SERVER_KEY"
    assert "--api-key-env" not in tab_command(
        plan(), "http://127.0.0.1:9000"
    )  # --server: the user's own server


def test_idle_minutes_0_means_tabs_never_end_by_themselves() -> None:
    assert "--idle-minutes" not in tab_command(plan(idle_minutes=0), None)
    assert "--server" not in tab_command(plan(), None)  # the preset's own remote server


def test_the_printed_url_carries_the_random_token_but_never_a_token_from_the_environment() -> None:
    assert browser_url(plan(), 8080) == "http://127.0.0.1:8080/?token=T0KEN"
    from_env = browser_url(plan(token="s3cret", token_env="WEB_TOKEN"), 8080)
    assert from_env == "http://127.0.0.1:8080/?token=$WEB_TOKEN" and "s3cret" not in from_env
    assert browser_url(plan(public_url="https://x.example/"), 8080) == "https://x.example/?token=T0KEN"


@pytest.mark.parametrize(
    ("host", "local"),
    [("127.0.0.1", True), ("localhost", True), ("::1", True), ("127.0.0.2", True),
     ("0.0.0.0", False), ("::", False), ("192.168.1.5", False), ("myhost", False)],
)  # fmt: skip
def test_only_loopback_addresses_count_as_this_machine(host: str, local: bool) -> None:
    assert is_loopback(host) is local


def test_two_servers_on_one_host_use_different_cookies() -> None:
    assert cookie_name("a") != cookie_name("b") and cookie_name("a") == cookie_name("a")
    token = new_token()
    assert token not in cookie_name(token) and len(token) >= 32


def test_a_held_conversation_cannot_be_held_again_until_released() -> None:
    first = try_hold(7)
    assert first is not None
    assert try_hold(7) is None
    other = try_hold(8)
    assert other is not None
    first.release()
    again = try_hold(7)
    assert again is not None
    again.release()
    other.release()


@pytest.mark.parametrize("minutes", ["0", "-1", "soon"])
def test_chat_refuses_idle_minutes_that_are_not_a_positive_number(
    minutes: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["chat", "--idle-minutes", minutes])
    assert stopped.value.code == 2
    assert "--idle-minutes" in capsys.readouterr().err


def test_chat_refuses_continue_with_resume(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["chat", "--preset", "demo", "--continue", "--resume"]) == 2
    assert "--continue and --resume both choose the conversation" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "70000"], "--port must be between 0 and 65535"),
        (["--idle-minutes", "-2"], "--idle-minutes must be 0 (never) or more"),
        (["--public-url", "chat.example.org"], "--public-url must start with http:// or https://"),
    ],
)
def test_web_refuses_bad_options_in_one_sentence(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["web", "--preset", "demo", *args]) == 2
    assert message in capsys.readouterr().err


def test_an_app_whose_web_parent_is_already_gone_ends_at_once() -> None:
    """The app was started for a web server that died before the app could ask to follow it."""
    code = "from tui.lifeline import end_with_parent_from_env as f; f(); import time; time.sleep(30)"
    env = {**os.environ, PARENT_ENV: "1"}  # pid 1 is never our parent here
    result = subprocess.run([sys.executable, "-c", code], env=env, timeout=20)
    assert result.returncode == -signal.SIGTERM


def test_an_app_started_by_its_web_parent_keeps_running() -> None:
    code = "from tui.lifeline import end_with_parent_from_env as f; f(); print('alive')"
    env = {**os.environ, PARENT_ENV: str(os.getpid())}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=20)
    assert result.returncode == 0 and result.stdout == "alive\n"
