"""TUI streaming benchmark: keypress-to-screen latency while a reply streams, and TUI stream time vs `generate`.

1. Latency: while the demo model streams a long reply into the chat, a key is typed into the input every
   100 ms; each sample is the time from posting the key event to the first frame the compositor produces after
   the input changed (Pilot's headless driver runs the same compositor as a terminal, minus the write).
2. Ratio: the time from pressing Enter to the reply being complete on screen (1,000 tokens, fixed seed)
   divided by `stablelm-tui generate`'s own stream time (ttft + decode) for the same prompt, seed and settings;
   and, within the TUI process, that wall time divided by the engine's own ttft + decode time (UI overhead).
3. The same chat against a `stablelm-tui serve --engine local` on 127.0.0.1 (`chat --server URL`): the model
   in its own process, so decoding no longer shares the GIL with Textual's rendering. Same prompt, seed and
   settings, interleaved with the other two; the server is loaded before timing (like the in-process model)
   and its KV cache is emptied before each run, so it prefills the whole prompt like a fresh in-process app.
   `--server-threads N` sets the server's torch threads (OMP_NUM_THREADS; default: torch's own choice).

Run: .venv/bin/python bench/bench_tui_stream.py [--device cpu|cuda] [--tokens 1000] [--repeats 3] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

PROMPT = "日本の四季について詳しく説明してください。"
SEED = 1234


def _app(device: str, tokens: int, server: str | None = None) -> Any:
    from tui.app.app import ChatApp
    from tui.app.screens.chat import ChatScreen
    from tui.chat.settings import ChatSettings
    from tui.engine.factory import EngineChoice, open_host
    from tui.presets import load_settings

    preset = load_settings().preset("demo")
    settings = ChatSettings(max_new_tokens=tokens, seed=SEED)
    if server is not None:
        # What `stablelm-tui chat --preset demo --server URL` builds.
        host = open_host(preset, EngineChoice(server=server))
    else:
        # The TUI's own engine choice: one core left to the UI thread on a CPU.
        host = open_host(preset, EngineChoice(device=device, residency="both", leave_core_for_ui=True))
    return ChatApp(ChatScreen(preset, host, settings=settings))


class LocalServer:
    """`stablelm-tui serve --engine local --preset demo` in a subprocess, loaded and answering."""

    def __init__(self, device: str, threads: int | None) -> None:
        import os
        import socket

        import httpx

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        exe = Path(sys.executable).with_name("stablelm-tui")
        env = dict(os.environ) | ({"OMP_NUM_THREADS": str(threads)} if threads else {})
        cmd = [
            str(exe),
            "serve",
            "--engine",
            "local",
            "--preset",
            "demo",
            "--port",
            str(port),
            "--device",
            device,
        ]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        deadline = time.perf_counter() + 300
        while True:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.perf_counter() > deadline:
                raise RuntimeError("stablelm-tui serve did not come up")
            time.sleep(0.2)

    def empty_cache(self) -> None:
        """A one-token request leaves the model's KV cache holding nothing the benchmark prompt starts with."""
        import httpx

        body = {"model": "demo-instruct", "prompt": [5], "max_tokens": 1}
        httpx.post(f"{self.url}/v1/completions", json=body, timeout=60).raise_for_status()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(60)


async def _wait(pilot: Any, condition: Any, timeout: float = 600, poll: float = 0.02) -> None:
    # Polling wakes the event loop, which takes the GIL from the generation thread: poll finely only where a
    # sample needs it (the latency probe), coarsely (20 ms, 0.2 % of a 10 s reply) everywhere else.
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError("the app did not get there in time")
        await asyncio.sleep(poll)


async def tui_run(device: str, tokens: int, latency: bool, server: str | None = None) -> dict[str, Any]:
    from textual import events

    app = _app(device, tokens, server)
    samples: list[float] = []
    frames: list[float] = []
    original_display = app._display

    def display(screen: Any, renderable: Any) -> None:
        # The headless driver writes nothing, but the compositor still hands each frame here.
        if renderable is not None:
            frames.append(time.perf_counter())
        original_display(screen, renderable)

    app._display = display  # type: ignore[method-assign]
    async with app.run_test(size=(80, 24)) as pilot:
        # Load the model first: the comparison is about streaming, not loading.
        await _wait(
            pilot, lambda: app.chat_screen.core.is_resident("instruct") and app.chat_screen.plan is not None
        )
        await pilot.pause(0.1)
        app.chat_screen.composer.load_text(PROMPT)
        started = time.perf_counter()
        await pilot.press("enter")
        await _wait(pilot, lambda: len(app.chat_screen.conversation.turns) == 2)
        if latency:
            await _wait(pilot, lambda: len(app.chat_screen.conversation.turns[1].content) > 0)
            while app.chat_screen.generating:
                before = app.chat_screen.composer.text
                t0 = time.perf_counter()
                app.chat_screen.composer.post_message(events.Key("x", "x"))
                await _wait(pilot, lambda before=before: app.chat_screen.composer.text != before, 10, 0.001)  # type: ignore[misc]
                changed = time.perf_counter()
                # The first frame drawn after the input changed is when the character is on screen.
                await _wait(pilot, lambda changed=changed: bool(frames) and frames[-1] >= changed, 10, 0.001)  # type: ignore[misc]
                samples.append(next(f for f in frames if f >= changed) - t0)
                await asyncio.sleep(0.1)
        await _wait(pilot, lambda: not app.chat_screen.generating)
        elapsed = time.perf_counter() - started
        reply = app.chat_screen.conversation.turns[1]
        stats = reply.meta.get("stats", {})
    # The engine's own time for this reply (ttft + decode), measured inside the same process.
    engine = (
        stats["ttft_s"] + (stats["new_tokens"] - 1) / stats["tokens_per_s"]
        if stats.get("tokens_per_s")
        else 0.0
    )
    return {
        "seconds": elapsed,
        "engine_seconds": engine,
        "new_tokens": stats.get("new_tokens"),
        "reason": reply.reason,
        "latency": samples,
    }


def generate_run(device: str, tokens: int) -> dict[str, Any]:
    exe = Path(sys.executable).with_name("stablelm-tui")
    cmd = [str(exe), "generate", "--preset", "demo", "--prompt", PROMPT, "--max-new-tokens", str(tokens)]
    cmd += ["--seed", str(SEED), "--stats", "--device", device]
    result = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=900)
    stats = json.loads(result.stderr.strip().splitlines()[-1])
    decode = (stats["new_tokens"] - 1) / stats["tokens_per_s"] if stats["tokens_per_s"] else 0.0
    return {"seconds": stats["ttft_s"] + decode, "new_tokens": stats["new_tokens"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--tokens", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--server-threads", type=int, metavar="N", help="the server's torch threads")
    args = parser.parse_args()

    from tui.demo import ensure_demo_models

    ensure_demo_models()
    server = LocalServer(args.device, args.server_threads)
    try:
        latency = asyncio.run(tui_run(args.device, args.tokens, latency=True))["latency"]
        server.empty_cache()
        server_latency = asyncio.run(tui_run(args.device, args.tokens, True, server.url))["latency"]
        tui: list[dict[str, Any]] = []
        gen: list[dict[str, Any]] = []
        remote: list[dict[str, Any]] = []
        for _ in range(args.repeats):  # interleaved, so a change in machine load hits every side alike
            tui.append(asyncio.run(tui_run(args.device, args.tokens, latency=False)))
            gen.append(generate_run(args.device, args.tokens))
            server.empty_cache()
            remote.append(asyncio.run(tui_run(args.device, args.tokens, False, server.url)))
    finally:
        server.stop()
    tui_s = statistics.median(r["seconds"] for r in tui)
    gen_s = statistics.median(r["seconds"] for r in gen)
    remote_s = statistics.median(r["seconds"] for r in remote)

    def spread(samples: list[float]) -> dict[str, float | int | None]:
        ms = sorted(x * 1000 for x in samples)
        return {
            "samples": len(ms),
            "median_ms": round(statistics.median(ms), 2) if ms else None,
            "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 2) if ms else None,
            "max_ms": round(ms[-1], 2) if ms else None,
        }

    result = {
        "device": args.device,
        "latency": spread(latency),
        "server_latency": spread(server_latency),
        "tui_seconds": round(tui_s, 3),
        "server_tui_seconds": round(remote_s, 3),
        "generate_seconds": round(gen_s, 3),
        "ratio": round(tui_s / gen_s, 3) if gen_s else None,
        "server_ratio": round(remote_s / gen_s, 3) if gen_s else None,
        "server_vs_in_process": round(remote_s / tui_s, 3) if tui_s else None,
        "tui_engine_seconds": round(statistics.median(r["engine_seconds"] for r in tui), 3),
        "ui_overhead_ratio": round(statistics.median(r["seconds"] / r["engine_seconds"] for r in tui), 3),
        "tui_runs_s": [round(r["seconds"], 2) for r in tui],
        "server_tui_runs_s": [round(r["seconds"], 2) for r in remote],
        "generate_runs_s": [round(r["seconds"], 2) for r in gen],
        "tui_tokens": [r["new_tokens"] for r in tui],
        "server_tui_tokens": [r["new_tokens"] for r in remote],
        "generate_tokens": [r["new_tokens"] for r in gen],
        "tui_reasons": [r["reason"] for r in tui],
        "server_tui_reasons": [r["reason"] for r in remote],
        "server_threads": args.server_threads,
    }
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:20} {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
