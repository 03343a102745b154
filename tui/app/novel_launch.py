"""Opening the novel screen: from the chat (F6, the palette) or straight from `stablelm-tui novel open`.

Both run on the chat's model host (one set of models in memory; novel mode uses the base model) and remember
the story in the story store, so `novel open --resume` and F6 reopen the story written last.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from tui.errors import UserError

if TYPE_CHECKING:
    from tui.app.screens.chat import ChatScreen
    from tui.app.screens.novel import NovelScreen
    from tui.novel.session import NovelSession
    from tui.presets import Preset
    from tui.tokenizers import Tokenizer


def story_path(story: str | None, *, resume: bool) -> Path:
    """The story to open: the one named, the last one (resume), else a new one in the story store."""
    from tui.novel.store import StoryStore

    if story is not None and resume:
        raise UserError("give a STORY or --resume, not both")
    if story is not None:
        return Path(story)
    store = StoryStore()
    if resume:
        last = store.last()
        if last is None:
            raise UserError("no story to resume yet: open one with `stablelm-tui novel open STORY`")
        return last
    try:
        return store.new_path()
    except OSError as exc:
        raise UserError(f"cannot create the story folder {store.folder}: {exc.strerror or exc}") from None


def open_session(path: Path, preset: Preset, tokenizer: Tokenizer) -> NovelSession:
    """The story as a NovelSession (created empty when missing); a bad file is a UserError before anything
    else opens."""
    from tui.novel.session import NovelSession
    from tui.novel.store import StoryStore

    if path.is_dir():
        raise UserError(f"{path}: is a directory, not a story file")
    if not path.exists() and not path.parent.is_dir():
        raise UserError(f"{path.parent}: no such folder")
    return NovelSession.open(path, preset=preset, tokenizer=tokenizer, store=StoryStore(), create=True)


def novel_screen_for(chat: ChatScreen) -> NovelScreen:
    """F6 in the chat: the story written last (or a new one), on the chat's models."""
    from tui.app.screens.novel import NovelScreen

    session = open_session(story_path(None, resume=_has_recent()), chat.core.preset, chat.core.tokenizer)
    return NovelScreen(session, chat.core.host, heartbeat=chat.heartbeat)


def _has_recent() -> bool:
    from tui.novel.store import StoryStore

    return StoryStore().last() is not None


def launch_novel(args: argparse.Namespace, preset: Preset) -> int:
    """`stablelm-tui novel open [STORY | --resume]`: the app, with the novel screen over the chat."""
    from tui.app.launch import launch
    from tui.app.screens.novel import NovelScreen
    from tui.tokenizers import tokenizer_for_preset

    session = open_session(
        story_path(args.story, resume=args.resume_story), preset, tokenizer_for_preset(preset)
    )
    args.mode = "base"  # the chat beneath loads the model the story needs
    return launch(
        args, preset, first_screen=lambda chat: NovelScreen(session, chat.core.host, heartbeat=chat.heartbeat)
    )
