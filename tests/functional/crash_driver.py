"""Chat with the real demo model and record every message, until N replies are complete.

Run by test_crash.py, which kills it with SIGKILL at random moments and starts it again. Each run resumes the
latest conversation. After a reply's final transaction it prints `DONE <n> <sha1 of the reply>`, so the test
knows which replies were complete before the kill.
"""

from __future__ import annotations

import hashlib
import sys
import threading
from pathlib import Path

from tui.engine import Finished, GenerationRequest, TextChunk
from tui.engine.local import LocalBackend
from tui.recorder import ConversationRecorder
from tui.store import SessionStore
from tui.tokenizers import load_tokenizer


def main() -> int:
    db_path, target = Path(sys.argv[1]), int(sys.argv[2])
    store = SessionStore(db_path)
    conversation_id = store.latest_id()
    done = 0
    if conversation_id is not None:
        done = sum(1 for m in store.load(conversation_id).messages if m.role == "assistant" and not m.partial)
    recorder = ConversationRecorder(
        store, conversation_id, settings={"preset": "demo"}, partial_interval_s=0.05
    )
    tokenizer = load_tokenizer("demo:base")
    backend = LocalBackend.load("demo:base", tokenizer)
    print("READY", flush=True)
    while done < target:
        question = f"質問{done}：今日の天気は？"
        recorder.add("user", question)
        reply = recorder.add("assistant", "", mode="base", partial=True)
        request = GenerationRequest(
            prompt_ids=tokenizer.encode(question), max_new_tokens=24, seed=done, eos_token_id=None
        )
        text = ""
        for event in backend.stream(request, threading.Event()):
            if isinstance(event, TextChunk):
                text += event.text
                recorder.progress(reply, text)
            elif isinstance(event, Finished):
                text = event.text
        recorder.finish(reply, text, meta={"n": done})
        if not recorder.flush():
            print(f"UNSAVED {recorder.last_error}", flush=True)
            return 1
        done += 1
        print(f"DONE {done} {hashlib.sha1(text.encode()).hexdigest()}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
