"""A user's template that raises or never ends gives a clear TemplateError naming the file; nothing hangs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tui.template_sandbox import RENDER_TIME_LIMIT_S
from tui.templates import TemplateError, TemplateReloader, load_template

HEAD = "{%- set stop = [] -%}\n"
REST = (
    "{%- macro message(role, content) -%}{{ content }}{%- endmacro -%}\n"
    "{%- macro footer() -%}{%- endmacro -%}\n"
)


def write(path: Path, header_body: str) -> Path:
    path.write_text(
        HEAD + "{%- macro header() -%}" + header_body + "{%- endmacro -%}\n" + REST, encoding="utf-8"
    )
    return path


def test_template_that_raises(tmp_path: Path) -> None:
    path = write(tmp_path / "raises.j2", "{{ 1 // 0 }}")
    with pytest.raises(TemplateError) as info:
        load_template(str(path)).header()
    assert str(info.value).startswith(f"{path}:2:")
    assert "ZeroDivisionError" in str(info.value)


def test_template_that_loops_for_ever_is_stopped(tmp_path: Path) -> None:
    path = write(
        tmp_path / "loop.j2",
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    )
    started = time.monotonic()
    with pytest.raises(TemplateError, match="longer than 2 s"):
        load_template(str(path)).header()
    assert time.monotonic() - started < RENDER_TIME_LIMIT_S + 3


def test_reloader_keeps_the_last_good_template_when_the_new_one_loops(tmp_path: Path) -> None:
    path = write(tmp_path / "t.j2", "HEAD")
    reloader = TemplateReloader(str(path))
    assert reloader.current().header() == "HEAD"
    time.sleep(0.01)
    write(path, "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}")
    assert reloader.current().header() == "HEAD"
    assert reloader.error is not None and "longer than" in reloader.error
