"""The progress line and the comparison's columns fit an 80-column terminal."""

from __future__ import annotations

from tui.compare.report import cells, wrap
from tui.train.progress import Finished, StepDone, describe, duration


def test_the_step_line_shows_loss_speed_and_time_left_in_80_columns() -> None:
    line = describe(StepDone(1234, 10000, 2.34567, 1234.5, 5025.0, 2.5))
    assert line == ("step 1234/10000 ▕█···········▏ loss 2.346 held 2.500 1,234 tok/s 1:23:45 left")
    assert cells(line) <= 80


def test_durations_read_as_clock_times() -> None:
    assert [duration(s) for s in (0, 59.6, 61, 3600)] == ["0:00", "1:00", "1:01", "1:00:00"]


def test_the_final_line_names_the_folder_and_both_losses() -> None:
    text = describe(Finished("/tmp/a", 30, 8.5, 8.25, 47.0))
    assert (
        text == "adapter written to /tmp/a after 30 steps in 0:47 (train loss 8.5000, held-out loss 8.2500)"
    )


def test_wrapping_counts_wide_characters_as_two_cells() -> None:
    lines = wrap("吾輩は猫であるabc\n名前", 8)
    assert lines == ["吾輩は猫", "であるab", "c", "名前"]
    assert all(cells(line) <= 8 for line in lines)
    assert wrap("a\x1b[31mb", 20) == ["a␛[31mb"]
