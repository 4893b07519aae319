"""Every explorer of every lesson, driven in a real browser (JupyterLab + headless Chromium).

For each notebook ``NN_*.ipynb`` of the served folder: open it in Lab, clear its outputs, Run All
Cells, wait for every cell and an idle kernel, and fail on any traceback or error output. Then, with
no per-lesson code, driver.py finds every ``.convlab-explorer`` box (the one explorer mechanism of
``convlab/lessons/ui.py``), moves each control to its maximum and its minimum and back, presses
every button, and fails if a move changes nothing (the live view's text and picture for a live
explorer, the pending line for a button explorer), if a button shows no finished result, if a
control sits outside any explorer, or if a traceback appears anywhere. Controls are driven as a
learner would: End/Home on a slider's focused handle, a click on each toggle button and checkbox.

One JupyterLab server for the session, one page (and one kernel) per lesson, nothing in parallel.
The time per lesson is printed at the end of the session (conftest.pytest_terminal_summary).

Which lessons: ``notebooks/`` of this repository, or the folder in ``$CONVLAB_BROWSER_NOTEBOOKS``.
To try another worktree's lessons with that worktree's package, point both at it (kernels
inherit the environment, and PYTHONPATH comes before the installed convlab):

    PYTHONPATH=/work/wt/l02 CONVLAB_BROWSER_NOTEBOOKS=/work/wt/l02/notebooks \\
    CONVLAB_MNIST_DIR=/work/shared/data/mnist .venv/bin/python -m pytest -p no:cacheprovider \\
        tests/browser -k 01_output_size

Lessons 06-08 need MNIST (CONVLAB_MNIST_DIR). A lesson whose data is not on disk (its metadata
``"convlab": {"needs": [...]}``, as ``scripts/notebook_needs.py`` reads it) is skipped, or fails
under CONVLAB_REQUIRE_MNIST=1, as in ``make test-notebooks``.

No lesson has an exception table: a control whose change cannot be seen in some state is a defect
of the lesson, to fix there (e.g. say so in the view's text).
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from . import driver
from .conftest import REPORT, notebooks_source, skip_or_fail

pytestmark = pytest.mark.browser

LESSONS = sorted(p.name for p in notebooks_source().glob("[0-9][0-9]_*.ipynb"))


def missing_data(name: str) -> str | None:
    """Why lesson ``name`` cannot run here for lack of data, or None. Asks the lessons' own tree's
    scripts/notebook_needs.py, in a subprocess with this environment, so that it sees the convlab
    the kernels will import (PYTHONPATH); a tree without that script needs nothing."""
    script = notebooks_source().parent / "scripts" / "notebook_needs.py"
    if not script.is_file():
        return None
    path = notebooks_source() / name
    done = subprocess.run([sys.executable, str(script), str(path)], capture_output=True,
                          text=True, timeout=120)
    if str(path) in done.stdout.split("\n"):
        return None
    return done.stderr.strip() or f"{script} exited with status {done.returncode}"


@pytest.mark.parametrize("name", LESSONS or ["(no lessons)"])
def test_every_explorer_reacts_to_every_control(page, lab, name):
    if not LESSONS:
        skip_or_fail(f"no NN_*.ipynb lessons in {notebooks_source()}")
    why = missing_data(name)
    if why:
        if os.environ.get("CONVLAB_REQUIRE_MNIST") == "1":
            pytest.fail(why, pytrace=False)
        pytest.skip(why)
    run = driver.drive_notebook(page, lab.notebook_url(name), name)
    REPORT.append(run)
    problems = run.all_problems()
    assert not problems, (f"{name}: {len(problems)} problem(s) with its explorers:\n\n"
                          + "\n\n".join(problems))
