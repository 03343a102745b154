"""Running a user's Jinja2 template safely: the sandbox, a time limit, and errors that name file and line."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any

from tui.errors import UserError


class TemplateError(UserError):
    """A template that does not load or render; the message names the file and line."""


def sandbox_environment() -> Any:
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    # No autoescape: prompts are plain text, and escaping would change what the model sees.
    env = ImmutableSandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
    )

    def raise_exception(message: str) -> None:
        raise TemplateError(f"the template refused the conversation: {message}")

    env.globals["raise_exception"] = raise_exception
    return env


def compile_template(source: str, where: str, name: str) -> Any:
    from jinja2 import TemplateSyntaxError

    env = sandbox_environment()
    try:
        code = env.compile(source, name=name, filename=where)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"{where}:{exc.lineno}: {exc.message}") from None
    return env.template_class.from_code(env, code, env.make_globals(None), None)


def error_line(template: Any, where: str, tb: TracebackType | None) -> int | None:
    """The template line of the innermost frame that ran template code (Jinja maps compiled lines back)."""
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == where:
            line = template.get_corresponding_lineno(tb.tb_lineno)
        tb = tb.tb_next
    return line


RENDER_TIME_LIMIT_S = 2.0
"""A template piece that renders longer than this is stopped: a user's template may loop without end."""


class _Deadline:
    """Raises TemplateError inside template code that runs past its time limit.

    A sandboxed template can still loop for ever (nested loops over `range`); Jinja has no step limit, so a
    line tracer on the template's own frames (and only those) checks the clock every few hundred lines.
    """

    def __init__(self, where: str, limit_s: float) -> None:
        self.where = where
        self.deadline = time.monotonic() + limit_s
        self.steps = 0

    def __call__(self, frame: FrameType, event: str, arg: object) -> Any:
        if event == "call":
            return self._line if frame.f_code.co_filename == self.where else None
        return None

    def _line(self, frame: FrameType, event: str, arg: object) -> Any:
        self.steps += 1
        if self.steps % 256 == 0 and time.monotonic() > self.deadline:
            raise TemplateError(
                f"rendering took longer than {RENDER_TIME_LIMIT_S:g} s (a loop that never ends?)"
            )
        return self._line


def call_template(template: Any, where: str, what: str, fn: Callable[[], Any]) -> Any:
    """Run template code; any failure becomes a TemplateError naming file, line and the part being rendered."""
    from jinja2 import TemplateError as JinjaError

    previous = sys.gettrace()
    sys.settrace(_Deadline(where, RENDER_TIME_LIMIT_S))
    try:
        return fn()
    except TemplateError as exc:
        line = error_line(template, where, exc.__traceback__)
        raise TemplateError(f"{where}:{line or '?'}: {exc}") from None
    except RecursionError:
        raise TemplateError(f"{where}: in {what}: the template recurses without end") from None
    except (JinjaError, TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
        line = error_line(template, where, exc.__traceback__)
        raise TemplateError(f"{where}:{line or '?'}: in {what}: {exc}") from None
    except Exception as exc:
        # Whatever else a user's template raises (ZeroDivisionError, OverflowError...) is its error too.
        line = error_line(template, where, exc.__traceback__)
        raise TemplateError(f"{where}:{line or '?'}: in {what}: {type(exc).__name__}: {exc}") from None
    finally:
        sys.settrace(previous)
