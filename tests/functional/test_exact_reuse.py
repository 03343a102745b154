"""Exact prefix reuse on the demo model: a turn without a trim prefills exactly its new tokens, turn after turn.

"New" is independent of the engine's cache: the prompt's tokens past the previous prompt and the reply's
sampled ids, which the new prompt must start with. The engine then reports what it prefilled.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from tests.functional.app_helpers import make_app, wait_for
from tui.app.app import ChatApp
from tui.app.messages import GenerationFinished, GenerationStarted
from tui.chat.conversation import Turn
from tui.chat.resume import restore
from tui.chat.settings import ChatSettings
from tui.context import Message, Planner
from tui.engine.events import Finished
from tui.engine.hosts import PairHost
from tui.engine.loading import LoadOptions
from tui.engine.local import LocalBackend
from tui.engine.request import GenerationRequest
from tui.presets import load_settings
from tui.recorder import ConversationRecorder
from tui.store import SessionStore
from tui.templates import load_template
from tui.tokenizers import tokenizer_for_preset

pytestmark = pytest.mark.slow

USER_LINES = (
    "こんにちは。",
    "今日は何をしましょうか。",
    "散歩に行きたいです。",
    "おすすめの公園は?",
    "ありがとう!",
)


@pytest.mark.parametrize("mode", ["instruct", "base"])
def test_each_turn_prefills_exactly_the_new_tokens(demo_models: dict[str, Path], mode: str) -> None:
    preset = load_settings().preset("demo")
    spec = preset.mode(mode)  # type: ignore[arg-type]
    tokenizer = tokenizer_for_preset(preset)
    planner = Planner(tokenizer, load_template(spec.template), window=2048, reserve=32)
    backend = LocalBackend.load(spec.model, tokenizer, LoadOptions(device="cpu"))
    messages: list[Message] = []
    carried: list[int] = []
    reasons = []
    for turn, user in enumerate(USER_LINES):
        plan = planner.plan(messages, draft=user)
        ids = list(plan.token_ids)
        assert ids[: len(carried)] == carried  # the previous prompt and the sampled reply, unchanged
        request = GenerationRequest(
            prompt_ids=ids, max_new_tokens=32, seed=turn, top_p=0.95, eos_token_id=preset.eos_token_id
        )
        (finished,) = [e for e in backend.stream(request, threading.Event()) if isinstance(e, Finished)]
        assert finished.stats.prefill_tokens == len(ids) - len(carried)
        assert finished.stats.reused_tokens == len(carried)
        reasons.append(finished.reason)
        messages += [Message("user", user), Message("assistant", finished.text, ids=finished.token_ids)]
        carried = ids + list(finished.token_ids)
    assert set(reasons) <= {"eos", "length"}  # no stop string: every sampled id is in the next prompt
    # Without the sampled ids these turns would not be exact: some reply's text encodes back to other ids.
    assert any(tokenizer.encode(m.content) != list(m.ids) for m in messages if m.ids is not None)


def test_a_continued_reply_keeps_its_ids_and_adds_the_new_ones() -> None:
    turn = Turn("assistant", "東京", ids=(1, 2))
    assert turn.sampled_ids("東京", (3,)) == (1, 2, 3)
    assert turn.sampled_ids("", (3,)) == (3,)
    assert turn.sampled_ids("東京", None) is None  # a remote reply: no ids
    assert Turn("assistant", "東京").sampled_ids("東京", (3,)) is None  # the start's ids are unknown


def check_exact(started: list[Any], finished: list[Any]) -> None:
    """Each plan starts with the previous plan and reply ids, and only what follows them was prefilled."""
    for before, reply, plan, result in zip(started, finished, started[1:], finished[1:], strict=False):
        assert reply.reason in ("eos", "length")
        carried = (*before.token_ids, *(reply.token_ids or ()))
        assert plan.token_ids[: len(carried)] == carried
        assert result.stats.prefill_tokens == len(plan.token_ids) - len(carried)


async def test_the_chat_and_a_resumed_session_reuse_exactly(
    demo_models: dict[str, Path], tmp_path: Path
) -> None:
    preset = load_settings().preset("demo")
    tokenizer = tokenizer_for_preset(preset)
    refs = {mode: preset.mode(mode).model for mode in ("base", "instruct")}
    host = PairHost(refs, tokenizer, options=LoadOptions(device="cpu"), residency="both")  # type: ignore[arg-type]
    store = SessionStore(tmp_path / "s.sqlite3")
    recorder = ConversationRecorder(store)
    seen: list[Any] = []
    app = make_app(host, recorder=recorder)

    async def send(pilot: Any, app: ChatApp, text: str, seed: int) -> None:
        chat = app.chat_screen
        chat.chat_settings = ChatSettings(max_new_tokens=24, seed=seed)
        chat.composer.load_text(text)
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: not chat.generating and chat.conversation.turns[-1].reason is not None, 120
        )

    def re_encodes_differently(turn: Any) -> bool:
        return tokenizer.encode(turn.content) != list(turn.ids or ())

    async with app.run_test(size=(80, 24), message_hook=seen.append) as pilot:
        # Turn after turn until a reply whose text encodes back to other ids (about one in four with the
        # random demo model): that is the case exact reuse is for. Then one more turn.
        for turn in range(12):
            await send(pilot, app, USER_LINES[turn % len(USER_LINES)], seed=turn)
            if turn > 0 and re_encodes_differently(app.chat_screen.conversation.turns[-1]):
                break
        assert re_encodes_differently(app.chat_screen.conversation.turns[-1]), (
            "no reply re-encoded differently: more turns"
        )
        await send(pilot, app, "続けて", seed=99)
    started = [m.plan for m in seen if isinstance(m, GenerationStarted)]
    finished = [m for m in seen if isinstance(m, GenerationFinished)]
    assert len(started) == len(finished) >= 3
    check_exact(started, finished)
    saved = store.load(recorder.conversation_id or 0).messages
    assert [m.token_ids for m in saved[1::2]] == [f.token_ids for f in finished]

    # The same conversation resumed from the store (the engine still holds it): exact again, the reply that
    # re-encodes differently included.
    conversation, recorder2, _settings, _mode = restore(store, recorder.conversation_id or 0)
    seen.clear()
    app2 = make_app(host, conversation=conversation, recorder=recorder2)
    async with app2.run_test(size=(80, 24), message_hook=seen.append) as pilot:
        await send(pilot, app2, "もう一度", seed=100)
    (plan,) = [m.plan for m in seen if isinstance(m, GenerationStarted)]
    (result,) = [m for m in seen if isinstance(m, GenerationFinished)]
    check_exact([started[-1], plan], [finished[-1], result])
    store.close()
