"""Real-browser test of the lessons' explorers: JupyterLab + headless Chromium (see conftest.py).

For each lesson: open it in Lab, Run All Cells, wait until every code cell has run, find the first
explorer (an output holding IntSliders described "stride" and "padding" and a line starting
"Output size:"), then move the stride slider and the padding slider in turn, as a learner would
with the keyboard, and check that both the printed output size and the drawing change.
"""
from __future__ import annotations

import re
import time
import warnings

import pytest

from .conftest import skip_or_fail

pytestmark = pytest.mark.browser

LESSONS = ["01_output_size.ipynb", "02_convolution.ipynb"]
RUN_ALL_TIMEOUT = 240  # seconds; each lesson must run in under 60 s on 2 cores
REACT_TIMEOUT = 30     # seconds for the kernel to redraw after a slider moves

OUTPUT_SIZE = re.compile(r"^Output size:.*$", re.MULTILINE)


def _slider(area, description: str):
    """The ipywidgets slider in `area` whose description label is exactly `description`."""
    label = area.page.locator(".widget-label").filter(
        has_text=re.compile(rf"^\s*{description}\s*$", re.IGNORECASE))
    return area.locator(".widget-slider").filter(has=label).first


def _explorer(page):
    """The first cell output that holds a stride slider, a padding slider and "Output size:"."""
    outputs = page.locator(".jp-Notebook .jp-Cell-outputArea > .jp-OutputArea-child")
    area = outputs.filter(has=page.locator(".widget-slider"))
    for description in ("stride", "padding"):
        label = page.locator(".widget-label").filter(
            has_text=re.compile(rf"^\s*{description}\s*$", re.IGNORECASE))
        area = area.filter(has=page.locator(".widget-slider").filter(has=label))
    return area.filter(has_text="Output size:").first


def _state(area):
    """(the "Output size:" line, the src of every image) currently shown in the explorer."""
    text = area.inner_text()
    match = OUTPUT_SIZE.search(text)
    srcs = tuple(img.get_attribute("src") or "" for img in area.locator("img").all())
    return (match.group(0).strip() if match else None), srcs


def _readout(slider) -> str:
    return slider.locator(".widget-readout").inner_text().strip()


def _wait_until(condition, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def _errors(page) -> list[str]:
    return [e.inner_text() for e in
            page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
                         ':has-text("Traceback"), '
                         '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"]'
                         ).all()]


def _kernel_idle(page) -> bool:
    return page.locator(".jp-StatusBar-TextItem", has_text="| Idle").count() > 0


def _open_and_run_all(page, lab, name: str) -> None:
    page.goto(lab.notebook_url(name))
    tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current", has_text=name)
    tab.wait_for(timeout=60_000)
    page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
    _wait_until(lambda: _kernel_idle(page), 60, "the kernel to start (status bar '| Idle')")
    # Menu commands act on the active notebook: make sure it is this one.
    page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell .jp-InputPrompt").first.click()

    # Clear the stored outputs first, so everything checked below comes from this run.
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Edit$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Clear Outputs of All Cells$")).click()
    prompts = page.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt")
    _wait_until(lambda: all(p.strip() in ("[ ]:", "") for p in prompts.all_inner_texts()), 10,
                "outputs and execution counts to clear")

    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()

    def finished():
        errors = _errors(page)
        if errors:
            raise AssertionError(f"{name} raised an error while running in Lab:\n{errors[0]}")
        texts = [p.strip() for p in prompts.all_inner_texts()]
        done = all(re.fullmatch(r"\[\d+\]:", t) for t in texts)
        return done and _kernel_idle(page)

    _wait_until(finished, RUN_ALL_TIMEOUT, f"every code cell of {name} to run")


def _move(page, area, description: str) -> None:
    """Move one slider a step with the keyboard; check the output size and drawing change."""
    slider = _slider(area, description)
    before_value = _readout(slider)
    before_text, before_imgs = _state(area)
    assert before_text, f"no 'Output size:' line in the explorer before moving {description}"
    assert before_imgs, f"no drawing (img) in the explorer before moving {description}"

    handle = slider.locator(".noUi-handle")
    handle.focus()
    forward, back = "ArrowRight", "ArrowLeft"
    page.keyboard.press(forward)
    try:
        _wait_until(lambda: _readout(slider) != before_value, 3, f"{description} to change")
    except AssertionError:  # already at its maximum: go the other way
        forward, back = back, forward
        page.keyboard.press(forward)
    after_value = _wait_until(lambda: _readout(slider) != before_value and _readout(slider), 5,
                              f"the {description} slider to move from {before_value}")

    # Wait for the new text, then for a complete new drawing (an intermediate redraw can show
    # the text before the image), and for the kernel to be idle again.
    def redrawn():
        text, imgs = _state(area)
        return (text is not None and text != before_text and imgs and imgs != before_imgs
                and _kernel_idle(page) and (text, imgs))

    try:
        after_text, after_imgs = _wait_until(redrawn, REACT_TIMEOUT, "the explorer to redraw")
    except AssertionError:
        text, imgs = _state(area)
        if text is not None and text != before_text and not imgs and _kernel_idle(page):
            # Seen intermittently (about 1 run in 5 here), on the first slider move after Run All:
            # the new text arrives but the figure never does (ipykernel 7 / ipywidgets Output).
            # Say so in the log, move the slider away and back once, and demand a full redraw.
            warnings.warn(f"{description}: the new text arrived without its drawing; "
                          f"moving the slider away and back once", stacklevel=1)
            handle.focus()
            page.keyboard.press(back)
            _wait_until(lambda: _readout(slider) == before_value, 5, "the slider to move back")
            page.keyboard.press(forward)
            _wait_until(lambda: _readout(slider) == after_value, 5, "the slider to move again")
            try:
                after_text, after_imgs = _wait_until(redrawn, REACT_TIMEOUT,
                                                     "the explorer to redraw")
            except AssertionError:
                text, imgs = _state(area)
            else:
                text = None
        if text is not None:
            raise AssertionError(
                f"after moving {description} {before_value} -> {after_value}: "
                f"output line {before_text!r} -> {text!r}; drawing "
                f"{'changed' if imgs != before_imgs else 'unchanged'} ({len(imgs)} img)") from None
    # Settled: the same state a moment later (no half-finished redraw was caught).
    time.sleep(0.5)
    assert _state(area) == (after_text, after_imgs), f"explorer still redrawing after {description}"


@pytest.mark.parametrize("name", LESSONS)
def test_explorer_reacts_to_stride_and_padding(page, lab, name):
    if not (lab.root / name).is_file():
        skip_or_fail(f"{name} is not in {lab.root.name}/ yet")
    _open_and_run_all(page, lab, name)

    area = _explorer(page)
    area.wait_for(timeout=30_000)
    area.scroll_into_view_if_needed()
    _move(page, area, "stride")
    _move(page, area, "padding")
    assert not _errors(page), _errors(page)[0]
