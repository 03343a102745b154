"""Prompt templates: sandboxed Jinja2 files that render a prompt one piece at a time.

A template file (prompt_template/NAME.j2) defines macros instead of one big loop, so every conversation message
maps to its own span of the prompt (and of its token ids) and the planner can drop or cut one message without
re-rendering the others:

    {%- set stop = ["\\n\\n###"] -%}            stop strings the engine watches for (optional, default none)
    {%- macro header() -%}...{%- endmacro -%}   text before the first message
    {%- macro message(role, content) -%}...      one message; role is "system", "user" or "assistant"
    {%- macro footer() -%}...                    the cue for the reply (the model continues after it)
    {%- macro summary(content) -%}...            optional: a summary of dropped messages (default: a system message)
    {%- macro marker(count) -%}...               optional: text left where `count` messages were dropped

The prompt is header + message(...) for each kept message + footer, concatenated with nothing in between.
Literal text is best written as Jinja strings ("\\n\\n### 指示: \\n") so editors cannot strip trailing spaces.

A model's own chat template (tokenizer_config.json / chat_template.jinja, a loop over `messages`) works too:
`hf:DIR` renders it with growing message lists and takes the differences as the pieces.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tui.template_sandbox import TemplateError, call_template, compile_template

ROLES = ("system", "user", "assistant")
TEMPLATE_SUFFIX = ".j2"
HF_PREFIX = "hf:"
_PACKAGE_DIR = Path(__file__).resolve().parent
_CACHE_LIMIT = 8192


def template_dirs() -> list[Path]:
    """Where template names are looked up, first match wins: the user's folder, then the built-in ones.

    An installed wheel carries the templates as tui/_data/prompt_template; a checkout has them at the top level.
    """
    from tui.paths import config_dir

    return [
        config_dir() / "templates",
        _PACKAGE_DIR / "_data" / "prompt_template",
        _PACKAGE_DIR.parent / "prompt_template",
    ]


def available_templates() -> list[str]:
    names: set[str] = set()
    for directory in template_dirs():
        if directory.is_dir():
            names.update(p.stem for p in directory.glob(f"*{TEMPLATE_SUFFIX}"))
    return sorted(names)


def find_template(name_or_path: str) -> Path:
    """A path to a .j2 file, or a name looked up in template_dirs()."""
    looks_like_path = name_or_path.endswith(TEMPLATE_SUFFIX) or os.sep in name_or_path or "/" in name_or_path
    if looks_like_path:
        path = Path(name_or_path).expanduser()
        if not path.is_file():
            raise TemplateError(f"template file {path} does not exist")
        return path
    for directory in template_dirs():
        candidate = directory / f"{name_or_path}{TEMPLATE_SUFFIX}"
        if candidate.is_file():
            return candidate
    known = ", ".join(available_templates()) or "none found"
    raise TemplateError(f"unknown template {name_or_path!r} (known: {known}; or give a path to a .j2 file)")


class PromptTemplate:
    """A loaded template. Pieces are memoized: a template is pure, and the live meter asks on every keystroke."""

    def __init__(
        self,
        name: str,
        *,
        source_id: str,
        stop: tuple[str, ...],
        header: Callable[[], str],
        message: Callable[[str, str], str],
        footer: Callable[[], str],
        summary: Callable[[str], str] | None = None,
        marker: Callable[[int], str] | None = None,
        path: Path | None = None,
    ) -> None:
        self.name = name
        self.path = path
        self.stop = stop
        self.identity = f"{name}:{source_id}"
        """Changes whenever the template's source does: part of every cache key built on rendered text."""
        self._header = header()
        self._footer = footer()
        self._message = message
        self._summary = summary
        self._marker = marker
        self._pieces: dict[tuple[str, str], str] = {}

    def header(self) -> str:
        return self._header

    def footer(self) -> str:
        return self._footer

    def message(self, role: str, content: str) -> str:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r} (expected one of {', '.join(ROLES)})")
        key = (role, content)
        piece = self._pieces.get(key)
        if piece is None:
            if len(self._pieces) >= _CACHE_LIMIT:
                self._pieces.clear()
            piece = self._pieces[key] = self._message(role, content)
        return piece

    def summary(self, content: str) -> str:
        if self._summary is None:
            return self.message("system", content)
        return self._summary(content)

    @property
    def has_marker(self) -> bool:
        return self._marker is not None

    def marker(self, count: int) -> str:
        return self._marker(count) if self._marker is not None else ""

    def render(self, messages: Sequence[tuple[str, str]], *, add_generation_prompt: bool = True) -> str:
        """The whole prompt for (role, content) pairs: what the planner builds when nothing is dropped."""
        body = "".join(self.message(role, content) for role, content in messages)
        return self.header() + body + (self.footer() if add_generation_prompt else "")

    def __repr__(self) -> str:
        return f"PromptTemplate({self.name!r}, stop={self.stop!r})"


def _source_id(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]


def _string_result(value: Any, where: str, what: str) -> str:
    if not isinstance(value, str):
        raise TemplateError(f"{where}: {what} must render text, got {type(value).__name__}")
    return str(value)


def template_from_source(source: str, name: str, where: str, path: Path | None = None) -> PromptTemplate:
    """Compile a macro-style template and check it renders every part, so errors show at load, not mid-chat."""
    template = compile_template(source, where, name)
    module = call_template(template, where, "the template body", lambda: template.module)
    missing = [m for m in ("header", "message", "footer") if not callable(getattr(module, m, None))]
    if missing:
        raise TemplateError(f"{where}: missing macro(s) {', '.join(missing)} (see docs/context.md)")
    stop_value = getattr(module, "stop", [])
    if isinstance(stop_value, str) or not all(isinstance(s, str) and s for s in stop_value):
        raise TemplateError(f"{where}: `stop` must be a list of non-empty strings, got {stop_value!r}")

    def piece(what: str, fn: Callable[[], Any]) -> str:
        return _string_result(call_template(template, where, what, fn), where, what)

    def header() -> str:
        return piece("header()", module.header)

    def footer() -> str:
        return piece("footer()", module.footer)

    def message(role: str, content: str) -> str:
        return piece(f"message({role!r}, ...)", lambda: module.message(role, content))

    summary = marker = None
    if callable(getattr(module, "summary", None)):

        def summary(content: str) -> str:
            return piece("summary(...)", lambda: module.summary(content))

    if callable(getattr(module, "marker", None)):

        def marker(count: int) -> str:
            return piece("marker(...)", lambda: module.marker(count))

    loaded = PromptTemplate(
        name,
        source_id=_source_id(source),
        stop=tuple(stop_value),
        header=header,
        message=message,
        footer=footer,
        summary=summary,
        marker=marker,
        path=path,
    )
    for role in ROLES:  # fail now on an undefined variable in any branch a real conversation would hit
        loaded.message(role, "probe")
    loaded.summary("probe")
    loaded.marker(2)
    return loaded


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise TemplateError(f"{path}: not valid UTF-8 (byte {exc.start})") from None
    except OSError as exc:
        raise TemplateError(f"{path}: cannot read the template: {exc.strerror or exc}") from None


def _hf_chat_template(directory: Path) -> tuple[str, Path, str | None, str | None]:
    """The chat template of a model directory: chat_template.jinja (transformers 5) or tokenizer_config.json."""
    jinja_file = directory / "chat_template.jinja"
    config_file = directory / "tokenizer_config.json"
    config: dict[str, Any] = {}
    if config_file.is_file():
        try:
            config = json.loads(_read(config_file))
        except ValueError as exc:
            raise TemplateError(f"{config_file}: not valid JSON: {exc}") from None

    def token(key: str) -> str | None:
        value = config.get(key)
        if isinstance(value, dict):
            value = value.get("content")
        return value if isinstance(value, str) else None

    if jinja_file.is_file():
        return _read(jinja_file), jinja_file, token("bos_token"), token("eos_token")
    chat = config.get("chat_template")
    if isinstance(chat, list):  # named templates: use the default one
        chat = next((t.get("template") for t in chat if t.get("name") == "default"), None)
    if not isinstance(chat, str):
        raise TemplateError(f"{directory}: the model has no chat template (a base model: use a .j2 template)")
    return chat, config_file, token("bos_token"), token("eos_token")


def _strip_prefix(whole: str, prefix: str, where: str, what: str) -> str:
    if not whole.startswith(prefix):
        raise TemplateError(
            f"{where}: the chat template renders {what} in a way that changes earlier text, "
            "so messages cannot be measured one by one; write a .j2 template for this model"
        )
    return whole[len(prefix) :]


def load_hf_chat_template(directory: Path, name: str | None = None) -> PromptTemplate:
    """A model's own chat template, split into pieces by rendering growing conversations and diffing."""
    source, path, bos, eos = _hf_chat_template(directory)
    where = str(path)
    template = compile_template(source, where, name or f"{HF_PREFIX}{directory}")

    def render(messages: list[dict[str, str]], generation: bool) -> str:
        variables = {
            "messages": messages,
            "add_generation_prompt": generation,
            "bos_token": bos or "",
            "eos_token": eos or "",
        }
        return _string_result(
            call_template(template, where, "the chat template", lambda: template.render(**variables)),
            where,
            "it",
        )

    # A placeholder user turn first: many chat templates refuse a conversation that starts with an assistant.
    opener = [{"role": "user", "content": "."}]
    base = render([], False)
    base_with_opener = render(opener, False)

    def message(role: str, content: str) -> str:
        if role == "assistant":
            whole = render([*opener, {"role": role, "content": content}], False)
            return _strip_prefix(whole, base_with_opener, where, "an assistant message")
        whole = render([{"role": role, "content": content}], False)
        return _strip_prefix(whole, base, where, f"a {role} message")

    def footer() -> str:
        return _strip_prefix(render(opener, True), base_with_opener, where, "the generation prompt")

    stop = (eos,) if eos else ()
    loaded = PromptTemplate(
        name or f"{HF_PREFIX}{directory}",
        source_id=_source_id(source),
        stop=stop,
        header=lambda: base,
        message=message,
        footer=footer,
        path=path,
    )
    for role in ROLES:
        loaded.message(role, "probe")
    return loaded


def load_template(name_or_path: str) -> PromptTemplate:
    """A built-in or user template by name, a path to a .j2 file, or `hf:MODEL_DIR` for a model's chat template."""
    if name_or_path.startswith(HF_PREFIX):
        from tui.demo import resolve_model_ref

        directory = Path(resolve_model_ref(name_or_path[len(HF_PREFIX) :])).expanduser()
        if not directory.is_dir():
            raise TemplateError(f"{directory}: no such model directory")
        return load_hf_chat_template(directory, name_or_path)
    path = find_template(name_or_path)
    name = path.stem if not name_or_path.endswith(TEMPLATE_SUFFIX) else name_or_path
    return template_from_source(_read(path), name, str(path), path)


@dataclass
class _Stamp:
    mtime_ns: int
    size: int


def _stamp(path: Path) -> _Stamp | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return _Stamp(info.st_mtime_ns, info.st_size)


class TemplateReloader:
    """Keeps a template current while the app runs: a changed file is reloaded on the next `current()`.

    If the new version does not load, the last good template stays in use and `error` says what is wrong
    (file:line); the error clears as soon as the file is fixed. `current()` costs one stat() call.
    """

    def __init__(self, name_or_path: str) -> None:
        self.spec = name_or_path
        self.template = load_template(name_or_path)
        self.error: str | None = None
        self._path = self.template.path
        self._stamp = _stamp(self._path) if self._path else None

    def current(self) -> PromptTemplate:
        if self._path is None:
            return self.template
        stamp = _stamp(self._path)
        if stamp == self._stamp:
            return self.template
        self._stamp = stamp
        if stamp is None:
            self.error = f"{self._path}: the template file is gone; still using the last good version"
            return self.template
        try:
            self.template = load_template(self.spec)
            self.error = None
        except TemplateError as exc:
            self.error = f"{exc} (still using the last good version)"
        return self.template


def _find_task_template(name_or_path: str) -> Path:
    """Task templates (whole prompts, not chat formats) live in a tasks/ folder beside the chat templates."""
    if name_or_path.endswith(TEMPLATE_SUFFIX) or "/" in name_or_path or os.sep in name_or_path:
        return find_template(name_or_path)
    for directory in template_dirs():
        candidate = directory / "tasks" / f"{name_or_path}{TEMPLATE_SUFFIX}"
        if candidate.is_file():
            return candidate
    raise TemplateError(f"task template {name_or_path!r} not found in the tasks/ folder of the template dirs")


def build_summary_prompt(
    text: str, max_chars: int, template: str = "summarize", *, language_hint: str | None = None
) -> str:
    """The prompt that asks the model to summarize one chunk of dropped conversation in at most max_chars.

    The summarize template is a plain Jinja file rendered with `text`, `max_chars` (and `language_hint`);
    its output goes to the instruct model as is.
    """
    path = _find_task_template(template)
    where = str(path)
    compiled = compile_template(_read(path), where, path.stem)
    variables = {"text": text, "max_chars": max_chars, "language_hint": language_hint or ""}
    rendered = call_template(compiled, where, "the summary prompt", lambda: compiled.render(**variables))
    return _string_result(rendered, where, "the summary prompt")
