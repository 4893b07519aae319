"""The explorer driver (driver.py) on its fixture notebook, tests/browser/fixtures/explorers.ipynb.

Explorers 0 (live: int, float and log sliders, toggle buttons, two checkboxes, one of which changes
only the picture and one only the text) and 1 (a button that "trains" for 2 s) are correct and must
pass. The rest is broken on purpose, and each defect must be reported: explorer 2 shows its text
without a picture at one `size` and its `seed` slider changes nothing; explorer 3's pending line ignores `seed` and its action raises; explorer 4's view
raises at the slider's maximum; a bare slider sits outside any explorer. And a notebook whose
Run All raises (fixtures/run_all_raises.ipynb) fails at once, with the error's text.
"""
from __future__ import annotations

import time

import pytest

from . import driver
from .conftest import FIXTURES_DIR, REPORT, new_page

pytestmark = pytest.mark.browser

NAME = f"{FIXTURES_DIR}/explorers.ipynb"
BROKEN_TIMEOUT = 6  # s; the fixture's views are instant, so "nothing changed" needs no long wait


@pytest.fixture(scope="module")
def fixture_run(browser, lab):
    page = new_page(browser)
    try:
        t0 = time.monotonic()
        driver.open_and_run_all(page, lab.notebook_url(NAME), NAME)
        run_all_s = time.monotonic() - t0
        good = driver.drive_explorers(page, NAME, only={0, 1})
        broken = driver.drive_explorers(page, NAME, react_timeout=BROKEN_TIMEOUT,
                                        action_timeout=30, only={2, 3, 4})
    finally:
        page.context.close()
        lab.shutdown_kernels()
    both = driver.NotebookRun(NAME, good.explorers + broken.explorers, broken.problems, run_all_s,
                              good.drive_s + broken.drive_s)
    REPORT.append(both)
    return good, broken


def _problems(run, index):
    (explorer,) = [e for e in run.explorers if e.index == index]
    return explorer.problems


def test_every_kind_of_control_is_found(fixture_run):
    good, _ = fixture_run
    assert [e.controls for e in good.explorers] == [
        [("slider", "n"), ("slider", "scale"), ("slider", "lr"), ("toggle buttons", "mode"),
         ("checkbox", "red"), ("checkbox", "verbose")],
        [("slider", "lr"), ("slider", "epochs")]]
    assert [e.buttons for e in good.explorers] == [[], ["Train"]]


def test_correct_explorers_pass(fixture_run):
    good, _ = fixture_run
    assert [p for e in good.explorers for p in e.problems] == []
    # n 2 -> 5 -> 0 -> 2, scale and lr likewise, mode -> avg -> sum -> max, red on/off,
    # verbose on/off; then lr and epochs in explorer 1 (3 moves each) and the button.
    assert [e.moves for e in good.explorers] == [3 + 3 + 3 + 3 + 2 + 2, 3 + 3 + 1]


def test_a_lost_picture_and_a_control_that_changes_nothing_are_reported(fixture_run):
    _, broken = fixture_run
    problems = _problems(broken, 2)
    assert len(problems) == 2, problems
    assert problems[0].startswith("size to its max (2 -> 4): the new text came without a picture")
    assert problems[1].startswith("seed to its max (0 -> 3): nothing changed"), problems


def test_a_pending_line_that_ignores_a_control_and_a_failing_action_are_reported(fixture_run):
    _, broken = fixture_run
    problems = _problems(broken, 3)
    assert [p.split(":")[0] for p in problems] == ["seed to its max (0 -> 3)", "button 'Train'"]
    assert "nothing changed" in problems[0]
    assert "RuntimeError: this action is broken on purpose" in problems[1]


def test_a_traceback_in_a_view_is_reported(fixture_run):
    _, broken = fixture_run
    problems = _problems(broken, 4)
    assert len(problems) == 1, problems
    assert problems[0].startswith("k to its max (1 -> 3): traceback in the explorer"), problems
    assert "ValueError: k = 3 is broken on purpose" in problems[0]


def test_a_control_outside_any_explorer_and_a_leftover_traceback_are_reported(fixture_run):
    good, broken = fixture_run
    outside, leftover = broken.problems
    assert good.problems == [outside]
    assert outside.startswith("a control outside any explorer") and "loose" in outside
    assert leftover.startswith("traceback in the notebook after driving")
    assert "this action is broken on purpose" in leftover


def test_an_error_during_run_all_is_reported(page, lab):
    name = f"{FIXTURES_DIR}/run_all_raises.ipynb"
    with pytest.raises(AssertionError, match="RuntimeError: this cell is broken on purpose"):
        driver.open_and_run_all(page, lab.notebook_url(name), name)
