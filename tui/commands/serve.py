"""`stablelm-tui serve`: serve a preset's models over the OpenAI API (vLLM, our own engine, or transformers)."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve a preset's models over the OpenAI API (vLLM, the local engine or transformers)",
        description="Serve a preset's base and/or instruct model over the OpenAI API (/v1/completions, "
        "/v1/models, /health) and print the URL and a preset for the client. --engine auto runs vLLM when it "
        "is installed, else our own engine. Extra arguments after `--` go to the engine's own command line.",
    )
    parser.add_argument("--preset", help="model preset (default: the default preset)")
    parser.add_argument(
        "--mode",
        choices=("base", "instruct", "both"),
        default="instruct",
        help="which model(s) to serve (default instruct); both: one process (local) or two ports (vLLM)",
    )
    parser.add_argument(
        "--engine", choices=("auto", "vllm", "local", "transformers"), default="auto", help="default: auto"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="default 8000 (--mode both on vLLM: also +1)")
    parser.add_argument(
        "--tensor-parallel-size", type=int, default=1, metavar="N", help="vLLM: GPUs per model"
    )
    parser.add_argument("--pipeline-parallel-size", type=int, default=1, metavar="N", help="vLLM: stages")
    parser.add_argument(
        "--api-key-env",
        metavar="NAME",
        help="require `Authorization: Bearer KEY`, KEY read from this environment variable",
    )
    parser.add_argument(
        "--dtype", choices=("auto", "float16", "bfloat16", "float32"), default="auto", help="default auto"
    )
    parser.add_argument("--device", default="auto", help="local: auto, cpu, cuda, cuda:1... (default auto)")
    parser.add_argument(
        "--adapter",
        action="append",
        metavar="[MODE=]DIR",
        help="also serve a LoRA adapter from `train` as <model>+lora beside the model, on the local engine or vLLM "
        "(DIR for the one --mode, base=DIR / instruct=DIR with --mode both; default: the preset's `adapter`)",
    )
    parser.add_argument(
        "engine_args", nargs="*", metavar="-- ENGINE_ARGS", help="passed to vLLM/transformers"
    )
    parser.set_defaults(func=run)


def _api_key(name: str | None) -> str | None:
    import os

    from tui.errors import UserError

    if name is None:
        return None
    key = os.environ.get(name)
    if not key:
        raise UserError(f"--api-key-env names {name}, which is not set (or empty) in the environment")
    return key


def _adapters(args: argparse.Namespace, preset: Any, modes: tuple[Any, ...]) -> dict[Any, str]:
    """The adapter each served mode also serves: the flag's, else the preset's; every folder checked now."""
    from tui.engine.adapters import check_base, read_adapter_dir
    from tui.engine.factory import adapter_flags
    from tui.engine.identity import model_directory
    from tui.errors import UserError

    flags = adapter_flags(args.adapter, modes[0] if len(modes) == 1 else None)
    for mode in flags:
        if mode not in modes:
            raise UserError(f"--adapter {mode}=...: the {mode} model is not served (--mode {args.mode})")
    chosen = {mode: preset.mode(mode).adapter for mode in modes} | flags
    adapters = {mode: folder for mode, folder in chosen.items() if folder}
    for mode, folder in adapters.items():
        found, _config, card = read_adapter_dir(folder)
        try:
            model_directory(preset.mode(mode).model)
        except UserError:
            continue  # a hub model not downloaded yet: its adapter is checked once the model has loaded
        check_base(card, found, preset.mode(mode).model)
    return adapters


def run(args: argparse.Namespace) -> int:
    from tui.errors import UserError
    from tui.presets import MODES, Mode, load_settings
    from tui.serving.engines import ServePlan, check_parallel, choose_engine

    preset = load_settings().preset(args.preset)
    modes: tuple[Mode, ...] = MODES if args.mode == "both" else (args.mode,)
    if not 0 <= args.port <= 65535:
        raise UserError(f"--port must be between 0 and 65535, got {args.port}")
    api_key = _api_key(args.api_key_env)
    adapters = _adapters(args, preset, modes)
    plan = ServePlan(
        preset=preset,
        modes=modes,
        host=args.host,
        port=args.port,
        tensor_parallel_size=args.tensor_parallel_size,
        pipeline_parallel_size=args.pipeline_parallel_size,
        api_key_env=args.api_key_env,
        dtype=args.dtype,
        device=args.device,
        extra_args=tuple(args.engine_args),
        adapters=tuple(adapters.items()),
    )
    engine = choose_engine(args.engine)
    check_parallel(plan, engine)
    if plan.adapters and engine == "transformers":
        raise UserError(
            "--engine transformers serves no LoRA adapters: serve them with --engine local or vllm"
        )
    if engine == "local":
        if plan.extra_args:
            raise UserError(
                f"the local engine takes no engine arguments (got {' '.join(plan.extra_args)}); "
                "they are for --engine vllm or transformers"
            )
        return _serve_local(plan, api_key)
    return _serve_external(plan, engine)


def _say(text: str) -> None:
    print(text, flush=True)


def _serve_local(plan: Any, api_key: str | None) -> int:
    import os

    from tui.engine.errors import EngineError
    from tui.errors import UserError
    from tui.serving.local_engine import LocalEngine
    from tui.serving.openai_server import run_local_server
    from tui.serving.snippet import adapter_lines, client_url, ready_message

    # On a CPU, leave one core to the event loop that streams every token (and to a chat on this machine),
    # as the in-process chat does: measured in bench/bench_tui_stream.py.
    threads = max(1, (os.cpu_count() or 2) - 1)
    try:
        engine = LocalEngine(
            plan.preset,
            plan.modes,
            device=plan.device,
            dtype=plan.dtype,
            cpu_threads=threads,
            adapters=dict(plan.adapters),
        )
    except EngineError as exc:
        raise UserError(str(exc)) from None
    names = ", ".join(engine.models)

    def listening(url: str) -> None:
        print(f"loading {names} on {engine.device}; {url}/health answers 503 until ready", file=sys.stderr)

    def ready(url: str) -> None:
        urls = dict.fromkeys(plan.modes, client_url(url, plan.host))
        _say(ready_message(plan.preset, urls, f"local engine, {engine.device}", plan.api_key_env))
        for line in adapter_lines(plan.preset, plan.adapters):
            _say(line)

    run_local_server(
        engine, host=plan.host, port=plan.port, api_key=api_key, on_listening=listening, on_ready=ready
    )
    return 0


def _serve_external(plan: Any, engine: str) -> int:
    import signal
    import threading

    from tui.serving.engines import EXTERNAL, check_port_free
    from tui.serving.snippet import adapter_lines, client_url, ready_message

    for mode in plan.modes:
        check_port_free(plan.host, plan.port_for(mode))
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    servers: dict[Any, Any] = {}
    try:
        for mode in plan.modes:
            servers[mode] = EXTERNAL[engine].start(plan, mode)
            if stop.is_set():
                return 0
        urls = {mode: client_url(server.url, plan.host) for mode, server in servers.items()}
        _say(ready_message(plan.preset, urls, engine, plan.api_key_env))
        for line in adapter_lines(plan.preset, plan.adapters):
            _say(line)
        while not stop.wait(1.0):
            ended = {mode: s.poll() for mode, s in servers.items() if s.poll() is not None}
            if ended:
                mode, status = next(iter(ended.items()))
                print(
                    f"stablelm-tui: error: the {engine} server for {mode} exited by itself (status {status})",
                    file=sys.stderr,
                )
                return 1
        return 0
    finally:
        for server in servers.values():
            server.stop()
