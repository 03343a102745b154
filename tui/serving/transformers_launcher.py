"""`stablelm-tui serve --engine transformers`: `transformers serve` on a preset's model, one server per model.

A second, independent OpenAI server to test our client and serving directory against (vLLM is the engine for
real deployments). What it needs, checked against transformers 5.19 to 5.24:
- `transformers serve FORCE_MODEL` loads the model by `getattr(transformers, config.architectures[0])`, so the
  child registers our class on the transformers module first (tui/serving/transformers_child.py); no remote code.
- The served name is the model id, which for a local directory is the path as given: the child runs in the
  serving root and names the directory `<preset>-<mode>`, exactly `Preset.served_name(mode)`.
- Its /v1/completions takes text prompts only: our client falls back to text, and the serving directory's
  tokenizer (split_special_tokens) keeps a typed "<|endoftext|>" as text, so the ids are still ours.
- It has no API key option: `--api-key-env` is refused rather than silently serving without a key.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tui.errors import UserError
from tui.serving.child import connect_host, free_port, server_url

if TYPE_CHECKING:
    from tui.presets import Mode
    from tui.serving.engines import RunningServer, ServePlan

CHILD_MODULE = "tui.serving.transformers_child"
READY_TIMEOUT_S = 900.0
"""The model loads before the server answers: a 7B from a cold disk takes minutes."""


def transformers_argv(plan: ServePlan, model_dir: Path, port: int) -> list[str]:
    """The child's command line: our registering wrapper around `transformers serve`."""
    argv = [sys.executable, "-m", CHILD_MODULE, str(model_dir.parent), "serve", model_dir.name]
    argv += ["--host", plan.host, "--port", str(port), "--dtype", plan.dtype, "--device", plan.device]
    return [*argv, *plan.extra_args]


def start(plan: ServePlan, mode: Mode) -> RunningServer:
    from tui.paths import private_data_dir, private_dir
    from tui.serving.child import start_child
    from tui.serving.model_dir import prepare_serving_dir

    if plan.api_key_env:
        raise UserError(
            "transformers serve has no API key option: drop --api-key-env, or serve with --engine vllm or local"
        )
    name = plan.preset.served_name(mode)
    model_dir = prepare_serving_dir(plan.preset, mode)
    if model_dir.name != name:  # pragma: no cover - prepare_serving_dir names it so
        raise UserError(f"the serving directory {model_dir} is not named {name}")
    port = plan.port_for(mode) or free_port(plan.host)
    url = server_url(connect_host(plan.host), port)
    log_path = private_dir(private_data_dir() / "serve") / f"transformers-{name}-{port}.log"
    print(
        f"starting transformers serve for {name} on {url} (its log: {log_path})", file=sys.stderr, flush=True
    )
    return start_child(
        transformers_argv(plan, model_dir, port),
        url=url,
        env=dict(os.environ),
        name=f"transformers serve ({name})",
        ready_timeout=READY_TIMEOUT_S,
        log_path=log_path,
    )
