"""What `stablelm-tui serve` prints once it is ready: the URL and a preset for the client's config file."""

from __future__ import annotations

import json
import socket
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tui.presets import Mode, Preset

WILDCARDS = ("0.0.0.0", "::", "")


def client_url(url: str, host: str) -> str:
    """The URL a client uses: a server listening on every interface is reached by this machine's name."""
    if host not in WILDCARDS:
        return url
    port = url.rsplit(":", 1)[1]
    return f"http://{socket.gethostname()}:{port}"


def _toml(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def preset_snippet(preset: Preset, urls: dict[Mode, str], api_key_env: str | None) -> str:
    """A preset that extends the served one and points at the server(s): one URL, or one per mode (vLLM)."""
    name = f"{preset.name}-server"
    lines = [f"[presets.{name}]", f"extends = {_toml(preset.name)}"]
    shared = len(set(urls.values())) == 1
    if shared:
        lines.append(f"remote_base_url = {_toml(next(iter(urls.values())))}")
    if api_key_env:
        lines.append(f"remote_api_key_env = {_toml(api_key_env)}")
    if len(urls) == 1:
        mode = next(iter(urls))
        lines.append(f"remote_model = {_toml(preset.served_name(mode))}")
        return "\n".join(lines)
    for mode, url in urls.items():
        lines.append(f"[presets.{name}.{mode}]")
        if not shared:
            lines.append(f"remote_base_url = {_toml(url)}")
        lines.append(f"remote_model = {_toml(preset.served_name(mode))}")
    return "\n".join(lines)


def ready_message(preset: Preset, urls: dict[Mode, str], engine: str, api_key_env: str | None) -> str:
    served = ", ".join(f"{preset.served_name(m)} at {u}/v1" for m, u in urls.items())
    first = next(iter(urls.values()))
    chat = f"stablelm-tui chat --preset {preset.name} --server {first}"
    lines = [f"serving {served} ({engine})"]
    if len(set(urls.values())) == 1 and not api_key_env:  # with a key, the preset names its variable
        lines.append(f"chat with it:  {chat}")
    lines += [
        "or add this preset to your config file (`stablelm-tui presets --path` prints where):",
        "",
        preset_snippet(preset, urls, api_key_env),
        "",
        "ctrl+c stops the server",
    ]
    return "\n".join(lines)


def adapter_lines(preset: Preset, adapters: tuple[tuple[Mode, str], ...]) -> list[str]:
    """One line per served adapter: the name it answers to, as every engine serves it (`<model>+lora`)."""
    from tui.engine.adapters import LORA_SUFFIX

    lines = []
    for mode, folder in adapters:
        name = preset.served_name(mode) + LORA_SUFFIX
        lines.append(f"adapter {folder} served as {name} (--remote-model {name})")
    return lines
