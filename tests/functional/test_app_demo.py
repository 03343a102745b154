"""Pilot tests through the real demo models (tokenizer, templates, planner, engine; tiny random weights).

Each test drives the app by keys as a user would and checks what the screen shows against the core's answers.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.functional.app_helpers import wait_for
from tui.app.app import ChatApp
from tui.app.screens.chat import ChatScreen
from tui.chat.settings import ChatSettings
from tui.context.jsonl import message_record
from tui.engine.factory import EngineChoice, open_host
from tui.engine.hosts import ModelHost
from tui.presets import load_settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_host(demo_models: dict[str, Path]) -> ModelHost:
    """One model pair for the module: loading is the slow part, and both demo models fit in memory."""
    return open_host(load_settings().preset("demo"), EngineChoice(device="cpu", residency="both"))


def demo_app(host: ModelHost, **kwargs: object) -> ChatApp:
    preset = load_settings().preset("demo")
    return ChatApp(ChatScreen(preset, host, **kwargs))  # type: ignore[arg-type]


async def send(pilot: object, app: ChatApp, text: str) -> None:
    screen = app.chat_screen
    screen.composer.load_text(text)
    await pilot.press("enter")  # type: ignore[attr-defined]
    await wait_for(
        pilot,
        lambda: not screen.generating and screen.conversation.turns[-1].reason is not None,
        120,
    )


async def test_send_and_stream_then_stop_keeps_partial(demo_host: ModelHost) -> None:
    # A fixed seed: the random model's replies are the same every run, and the long one does not end by itself
    # within the first seconds (so Esc always has a reply to stop).
    app = demo_app(demo_host, settings=ChatSettings(max_new_tokens=60, seed=11))
    screen = app.chat_screen
    async with app.run_test(size=(80, 24)) as pilot:
        await send(pilot, app, "こんにちは")
        reply = screen.conversation.turns[1]
        assert reply.role == "assistant" and reply.mode == "instruct"
        assert reply.reason in ("eos", "length", "stop")
        shown = screen.chat.views[1].text
        assert shown.strip() and screen.status.info.tokens_per_s is not None
        # A long reply, stopped mid-way with Esc: the partial text stays on screen.
        screen.chat_settings = ChatSettings(max_new_tokens=1500, window=2048, seed=11)
        screen.composer.load_text("もっと長く")
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: len(screen.conversation.turns) == 4 and len(screen.conversation.turns[3].content) > 5,
            120,
        )
        await pilot.press("escape")
        await wait_for(pilot, lambda: not screen.generating, 60)
        stopped = screen.conversation.turns[3]
        assert stopped.reason == "cancelled" and stopped.partial and len(stopped.content) > 5
        assert "stopped" in str(screen.chat.views[3].query_one(".message-label").render())
        assert screen.chat.views[3].text == stopped.content  # the partial text stays on screen


async def test_toggle_changes_label_template_and_meter(demo_host: ModelHost) -> None:
    app = demo_app(demo_host, mode="base", settings=ChatSettings(max_new_tokens=20))
    screen = app.chat_screen
    async with app.run_test(size=(80, 24)) as pilot:
        await send(pilot, app, "日本の首都は")
        await wait_for(
            pilot,
            lambda: screen.plan is not None and screen.plan.template == "ja-alpha-base-dialogue",
        )
        base_plan = screen.plan
        assert "BASE" in str(screen.status.render())
        await pilot.press("ctrl+t")
        assert "INSTRUCT" in str(screen.status.render())
        # The engine times the switch; the status line says what it took (both models stay resident here).
        await wait_for(
            pilot, lambda: bool(screen.status.info.toggle) and screen.status.info.state == "ready", 60
        )
        assert re.fullmatch(r"(switch|load) \d+\.\d\ds", screen.status.info.toggle)
        assert f"ready · {screen.status.info.toggle}" in str(screen.status.render())
        await wait_for(
            pilot,
            lambda: screen.plan is not None and screen.plan.template == "ja-alpha-instruct",
        )
        assert screen.plan is not None and base_plan is not None
        assert screen.plan.total_tokens != base_plan.total_tokens
        assert str(screen.plan.used) in str(screen.meter.render())
        await send(pilot, app, "続けて")
        labels = [str(v.query_one(".message-label").render()) for v in screen.chat.views]
        assert "BASE" in labels[1] and "INSTRUCT" in labels[3]


async def test_inspector_matches_context_command(demo_host: ModelHost, tmp_path: Path) -> None:
    app = demo_app(demo_host, settings=ChatSettings(max_new_tokens=16))
    screen = app.chat_screen
    async with app.run_test(size=(120, 40)) as pilot:
        await send(pilot, app, "一つ目の質問です。")
        await pilot.press("ctrl+o")
        await wait_for(
            pilot,
            lambda: screen.plan is not None and not screen.plan.draft_tokens and screen.inspector.display,
        )
        conv = tmp_path / "conv.jsonl"
        # The reply travels with the ids it was sampled as, as `sessions export` writes it.
        conv.write_text(
            "".join(
                message_record(t.role, t.content, t.pinned, t.ids) + "\n" for t in screen.conversation.turns
            ),
            encoding="utf-8",
        )
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "tui",
                "context",
                "--preset",
                "demo",
                "--conversation",
                str(conv),
                "--max-new-tokens",
                "16",
                "--json",
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        expected = json.loads(out.stdout)
        plan = screen.plan
        assert plan is not None
        assert plan.total_tokens == expected["total_tokens"] and plan.window == expected["window"]
        assert [s.tokens for s in plan.segments] == [s["tokens"] for s in expected["segments"]]
        summary = str(screen.inspector.query_one("#inspector-summary").render())
        assert f"prompt {expected['total_tokens']}" in summary and f"window {expected['window']}" in summary
        table = screen.inspector.query_one("DataTable")
        assert table.row_count == len(expected["segments"])  # type: ignore[attr-defined]


async def test_overflow_dims_oldest_messages(demo_host: ModelHost) -> None:
    app = demo_app(demo_host, settings=ChatSettings(max_new_tokens=8, window=120))
    screen = app.chat_screen
    async with app.run_test(size=(80, 24)) as pilot:
        for i in range(4):
            await send(pilot, app, f"メッセージ{i} " + "長い文章です。" * 4)
        await wait_for(pilot, lambda: screen.plan is not None and bool(screen.plan.dropped_messages))
        views = screen.chat.views
        assert views[0].has_class("-dropped")
        newest_user = screen.conversation.last_index("user")
        assert newest_user is not None and not views[newest_user].has_class("-dropped")  # never dropped
        assert "not in context" in str(views[0].query_one(".message-label").render())
        marker = screen.chat.query_one(".context-marker")
        assert marker.display
        assert screen.plan is not None and screen.plan.trim_log


async def test_summarize_policy_computes_summaries_and_shows_them(demo_host: ModelHost) -> None:
    # A window with room for the summary (up to ~200 tokens from the random demo model) beside the kept turns.
    app = demo_app(demo_host, settings=ChatSettings(max_new_tokens=8, window=700, policy="summarize"))
    screen = app.chat_screen
    async with app.run_test(size=(120, 40)) as pilot:
        for i in range(6):
            await send(pilot, app, f"話題{i} " + "長い文章です。" * 30)
        # The engine's background runner writes the summary; the plan then carries a summary segment.
        await wait_for(pilot, lambda: screen.plan is not None and bool(screen.plan.summaries), 120)
        await pilot.press("ctrl+o")
        await pilot.pause(0.2)
        log = str(screen.inspector.query_one("#inspector-log").render())
        assert "summary of messages" in log and "×" in log
        assert any(v.has_class("-summarized") for v in screen.chat.views)
