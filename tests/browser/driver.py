"""A generic driver for convlab explorers in JupyterLab (Playwright, sync API).

It knows nothing about any lesson, only the explorer contract of ``convlab/lessons/ui.py``:

- an explorer is an element with the class ``convlab-explorer`` (an ipywidgets VBox) whose first
  child holds its controls: ``.widget-slider`` (IntSlider, FloatSlider, FloatLogSlider),
  ``.widget-toggle-buttons`` (ToggleButtons) and ``.widget-checkbox`` (Checkbox);
- a live explorer shows ``view(**values)`` in the Output widget ``.convlab-view`` (text and one
  PNG, replaced together in one assignment) and redraws it whenever a control changes;
- a button explorer has the HTML line ``.convlab-pending``, which says at once what the button
  will do with the current values, a ``.widget-button``, and the Output widget ``.convlab-result``
  that shows the action's result.

``drive_notebook`` opens a notebook, runs all its cells, then for every explorer moves every
control to its maximum and its minimum (sliders: End and Home on the focused handle; toggle
buttons: a click on each option; checkboxes: a click), puts it back to where it was (sliders: the
first value typed into the readout), and after each move waits for the explorer to show the
change: the view for a live explorer, the pending line for a button explorer. Then it presses
every button and waits for the result. It reports, and never hides: a move that changed nothing,
a live view whose new text came without its picture, a traceback shown anywhere, a button with no
finished result, a control it does not know how to drive, and a control outside any explorer
(which the browser test would otherwise never move).

Why no retry: the old lesson code printed and showed figures from widget callbacks, and with
ipykernel 7 part of that output was sometimes dropped (new text, no figure), so the old test moved
a slider away and back once when that happened. ``ui.explorer`` replaces the whole output in one
assignment, so a move either shows its complete new state or nothing at all; either way it is a
real failure to report, not a glitch to retry. (Seen here: no move of lessons 00-08 failed in
five full runs, about 600 moves; the two runs with the missing-picture check found no half redraw.)
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

RUN_ALL_TIMEOUT = 300   # seconds for Run All of one lesson (lessons 06-08 load MNIST, train)
SETTLE_S = 0.5          # seconds to wait after Run All finished before the last look for errors
REACT_TIMEOUT = 60      # seconds for an explorer to show a control's change (2 busy cores)
ACTION_TIMEOUT = 180    # seconds for a button's action (may train a tiny net)
SETTLE = 0.2            # seconds the explorer must stay unchanged (kernel idle) to count as drawn
POLL = 0.05

# -- what the page shows (one JavaScript call per look, so polling stays cheap) ----------------

# Every interactive element inside notebook outputs; a widget that has one of these is a control.
_INTERACTIVE = "input, select, textarea, button, .noUi-handle, [contenteditable='true']"
_KNOWN = {"widget-slider": "slider", "widget-toggle-buttons": "toggle buttons",
          "widget-checkbox": "checkbox"}

_JS_HELPERS = r"""
const hash = (s) => {  // FNV-1a of an image's src: compare pictures without shipping them
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 0x01000193) >>> 0; }
  return s.length + ":" + h.toString(16);
};
const area = (box, sel) => {
  const el = box.querySelector(sel);
  if (!el) return null;
  return {text: el.innerText.trim(),
          imgs: Array.from(el.querySelectorAll("img")).map(i => hash(i.getAttribute("src") || ""))};
};
const idle = () => Array.from(document.querySelectorAll(".jp-StatusBar-TextItem"))
  .some(e => e.textContent.includes("| Idle"));  // the kernel, as the status bar shows it
const tracebacks = (root) => Array.from(root.querySelectorAll(
    '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"],' +
    '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"]'))
  .filter(e => e.getAttribute("data-mime-type").endsWith("error") || e.innerText.includes("Traceback"))
  .map(e => e.innerText.trim())
  .concat(Array.from(root.querySelectorAll(".jp-OutputArea-output"))
    .filter(e => e.innerText.includes("Error displaying widget")).map(e => e.innerText.trim()));
"""

_JS_STATE = "(box) => {" + _JS_HELPERS + r"""
  const button = box.querySelector(":scope > .widget-button");
  const pending = box.querySelector(".convlab-pending");
  return {view: area(box, ".convlab-view"), result: area(box, ".convlab-result"),
          pending: pending ? pending.innerText.trim() : null,
          button_busy: button ? button.disabled : false,
          tracebacks: tracebacks(box), idle: idle()};
}"""

_JS_PAGE_TRACEBACKS = "() => {" + _JS_HELPERS + "return tracebacks(document); }"
_JS_IDLE = "() => {" + _JS_HELPERS + "return idle(); }"

# Number the explorers and their controls (data attributes, so Playwright can find them again)
# and list what each one holds.
_JS_SURVEY = r"""(interactive) => {
  const known = %s;
  const boxes = Array.from(document.querySelectorAll(".jp-Notebook .convlab-explorer"));
  const explorers = boxes.map((box, i) => {
    box.setAttribute("data-convlab-explorer", i);
    const cell = box.closest(".jp-Cell");
    const prompt = cell ? cell.querySelector(".jp-InputPrompt") : null;
    const row = box.firstElementChild;
    const controls = [], driven = [];
    Array.from(row ? row.children : []).forEach((el, j) => {
      const kind = Object.keys(known).find(c => el.classList.contains(c));
      // The description: a slider's label, or a checkbox's (indent=False) text beside its box.
      const label = [".widget-label", ".widget-label-basic"].map(s => el.querySelector(s))
        .map(l => l ? l.innerText.replace(/\u200b/g, "").trim() : "").find(t => t) || "";
      el.setAttribute("data-convlab-control", j);
      controls.push({index: j, kind: kind ? known[kind] : null, label,
                     classes: el.className});
      if (kind) driven.push(el);
    });
    const buttons = Array.from(box.querySelectorAll(":scope > .widget-button"));
    buttons.forEach((b, j) => b.setAttribute("data-convlab-button", j));
    // Interactive elements the driver would not touch: neither in a known control nor a button.
    const stray = Array.from(box.querySelectorAll(interactive))
      .filter(e => !driven.some(c => c.contains(e)) && !buttons.includes(e))
      .map(e => e.outerHTML.slice(0, 120));
    return {index: i, prompt: prompt ? prompt.innerText.trim() : "",
            has_pending: !!box.querySelector(".convlab-pending"),
            controls, buttons: buttons.map(b => b.innerText.trim()), stray};
  });
  const outside = Array.from(document.querySelectorAll(
      ".jp-Notebook .jp-OutputArea-output " + interactive.split(", ").join(", .jp-Notebook .jp-OutputArea-output ")))
    .filter(e => !e.closest(".convlab-explorer"))
    .map(e => e.closest(".widget-inline-hbox, .widget-inline-vbox, .widget-button") || e);
  const described = Array.from(new Set(outside)).map(w => {  // one line per widget
    const label = w.querySelector(".widget-label");
    const cell = w.closest(".jp-Cell");
    const prompt = cell ? cell.querySelector(".jp-InputPrompt").innerText.trim() : "?";
    return `cell ${prompt} ` + (label ? label.innerText.trim() + ": " : "") + w.className;
  });
  return {explorers, outside: described};
}""" % ("{" + ", ".join(f'"{k}": "{v}"' for k, v in _KNOWN.items()) + "}")


def kernel_idle(page) -> bool:
    return page.evaluate(_JS_IDLE)


def page_tracebacks(page) -> list[str]:
    """The text of every traceback or error output shown anywhere in the notebook."""
    return page.evaluate(_JS_PAGE_TRACEBACKS)


def wait_until(condition, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


# -- opening a notebook and running it --------------------------------------------------------

def open_and_run_all(page, url: str, name: str, timeout: float = RUN_ALL_TIMEOUT) -> None:
    """Open ``url`` in Lab, clear all outputs, Run All Cells and wait until every code cell has run
    and the kernel is idle. Fails at once (with the text) if a traceback or error output appears."""
    page.goto(url)
    tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current",
                       has_text=name.rsplit("/", 1)[-1])
    tab.wait_for(timeout=60_000)
    page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
    wait_until(lambda: kernel_idle(page), 60, "the kernel to start (status bar '| Idle')")
    run_all_cells(page, name, timeout)


def run_all_cells(page, name: str, timeout: float = RUN_ALL_TIMEOUT, where: str = "Lab") -> None:
    """In the open notebook: clear every output, Run All Cells, and wait until every code cell has
    run and the kernel is idle. Fails at once (with the text) if a traceback or error output
    appears. Shared by Lab (open_and_run_all) and the static site (test_site.py)."""
    # Menu commands act on the active notebook: make sure it is this one.
    page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell .jp-InputPrompt").first.click()

    # Clear the stored outputs first, so everything checked below comes from this run.
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Edit$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Clear Outputs of All Cells$")).click()
    prompts = page.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt")
    wait_until(lambda: all(p.strip() in ("[ ]:", "") for p in prompts.all_inner_texts()), 10,
               "outputs and execution counts to clear")

    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()

    def raise_if_error():
        errors = page_tracebacks(page)
        if errors:
            raise AssertionError(f"{name} showed an error while running in {where}:\n{errors[0]}")

    def finished():
        # Done is read *before* the error check: an error output can be drawn a moment after
        # its cell's prompt, and checking in the other order once let a failing Run All pass.
        texts = [p.strip() for p in prompts.all_inner_texts()]
        done = all(re.fullmatch(r"\[\d+\]:", t) for t in texts) and kernel_idle(page)
        raise_if_error()
        return done

    wait_until(finished, timeout, f"every code cell of {name} to run")
    time.sleep(SETTLE_S)  # and once more after the last output has had time to be drawn
    raise_if_error()


# -- driving one explorer ---------------------------------------------------------------------

@dataclass
class ExplorerRun:
    """What the driver found in one explorer and what went wrong there."""
    index: int
    prompt: str                      # the cell's input prompt, e.g. "[7]:"
    controls: list[tuple[str, str]]  # (kind, label) of each control, in order
    buttons: list[str]
    moves: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        names = ", ".join(label or kind for kind, label in self.controls) or "no controls"
        return f"explorer {self.index} (cell {self.prompt} {names})"


@dataclass
class NotebookRun:
    name: str
    explorers: list[ExplorerRun] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # not tied to one explorer
    run_all_s: float = 0.0
    drive_s: float = 0.0

    def all_problems(self) -> list[str]:
        return self.problems + [f"{e.title}: {p}" for e in self.explorers for p in e.problems]

    def counts(self) -> dict[str, int]:
        kinds = [k for e in self.explorers for k, _ in e.controls]
        return {"explorers": len(self.explorers), "sliders": kinds.count("slider"),
                "toggle buttons": kinds.count("toggle buttons"),
                "checkboxes": kinds.count("checkbox"),
                "buttons": sum(len(e.buttons) for e in self.explorers),
                "moves": sum(e.moves for e in self.explorers)}


class _Explorer:
    def __init__(self, page, info: dict, react_timeout: float, action_timeout: float):
        self.page = page
        self.info = info
        self.box = page.locator(f'[data-convlab-explorer="{info["index"]}"]')
        # Which part must change when a control moves: the pending line of a button explorer
        # (its view, if any, may well not depend on every setting), else the live view.
        self.target = "pending" if info["has_pending"] else "view"
        self.react_timeout, self.action_timeout = react_timeout, action_timeout
        self.run = ExplorerRun(info["index"], info["prompt"],
                               [(c["kind"] or "unknown", c["label"]) for c in info["controls"]],
                               info["buttons"])

    def state(self) -> dict:
        return self.box.evaluate(_JS_STATE)

    def _settled(self, done, timeout: float) -> dict | None:
        """Poll until ``done(state)`` holds, the kernel is idle, and the state has stayed the same
        for SETTLE seconds (so a redraw still on its way is not mistaken for the final picture).
        Returns that state, or None on timeout."""
        deadline = time.monotonic() + timeout
        last, since = None, time.monotonic()
        while time.monotonic() < deadline:
            now = self.state()
            if now != last:
                last, since = now, time.monotonic()
            elif done(now) and now["idle"] and time.monotonic() - since >= SETTLE:
                return now
            time.sleep(POLL)
        return None

    def _key(self, state: dict):
        part = state[self.target]
        return part if self.target == "pending" else (part["text"], tuple(part["imgs"]))

    def _describe(self, state: dict) -> str:
        if self.target == "pending":
            return f"pending line {state['pending']!r}"
        view = state["view"]
        return f"view text {view['text'][:160]!r} with {len(view['imgs'])} picture(s)"

    def checked_move(self, control: str, move: str, act) -> bool:
        """Record the state, ``act()``, and wait for the change (see ``wait_change``)."""
        before = self.state()
        act()
        return self.wait_change(before, f"{control} {move}")

    def wait_change(self, before: dict, move: str) -> bool:
        """Wait for the target part to differ from ``before`` and settle; a traceback shown in the
        explorer afterwards is a problem too. Returns whether the change was seen."""
        self.run.moves += 1
        after = self._settled(lambda s: self._key(s) != self._key(before), self.react_timeout)
        changed = after is not None
        if not changed:
            after = self.state()
            self.run.problems.append(f"{move}: nothing changed within {self.react_timeout:g} s "
                                     f"(still the {self._describe(after)})")
        for tb in after["tracebacks"]:
            self.run.problems.append(f"{move}: traceback in the explorer:\n{tb}")
        if (changed and self.target == "view" and before["view"]["imgs"]
                and not after["view"]["imgs"] and not after["tracebacks"]):
            self.run.problems.append(f"{move}: the new text came without a picture (a half "
                                     f"redraw?): {self._describe(after)}")
        return changed

    # -- the three kinds of control ----------------------------------------------------------

    def slider(self, el, label: str) -> None:
        handle, readout = el.locator(".noUi-handle"), el.locator(".widget-readout")
        value = lambda: readout.inner_text().strip()  # noqa: E731
        start, ok = value(), True
        for key, where in (("End", "max"), ("Home", "min")):
            old, before = value(), self.state()
            handle.focus()
            self.page.keyboard.press(key)
            # The readout follows the handle at once; an unchanged readout means the slider
            # already sits at that end (nothing for the kernel to do).
            if value() == old:
                continue
            ok = self.wait_change(before, f"{label} to its {where} ({old} -> {value()})")
            if not ok:  # reported once; no point in more moves of this control
                break
        if value() != start:  # back to where it was, so other controls are tried from there
            def type_start():
                readout.fill(start)
                readout.press("Enter")
            self.back(ok, label, f"back to {start} (typed into the readout)", type_start)
            if value() != start:
                self.run.problems.append(f"{label}: typing {start!r} into the readout left "
                                         f"{value()!r}")

    def toggle_buttons(self, el, label: str) -> None:
        options = el.locator(".widget-toggle-button")
        names = [n.strip() for n in options.all_inner_texts()]
        active = [i for i in range(options.count())
                  if "mod-active" in (options.nth(i).get_attribute("class") or "")]
        start = active[0] if active else None
        ok, moved = True, False
        for i, name in enumerate(names):
            if i == start or options.nth(i).is_disabled():
                continue
            moved = True
            ok = self.checked_move(label, f"-> {name!r}", options.nth(i).click)
            if not ok:
                break
        if start is not None and moved:
            self.back(ok, label, f"back to {names[start]!r}", options.nth(start).click)

    def checkbox(self, el, label: str) -> None:
        box = el.locator("input[type=checkbox]")
        first, then = ("off", "on") if box.is_checked() else ("on", "off")
        ok = self.checked_move(label, f"-> {first}", box.click)
        self.back(ok, label, f"back to {then}", box.click)

    def back(self, ok: bool, label: str, move: str, act) -> None:
        """Put a control back to its first value: a checked move, unless the control has already
        failed (then only wait for the kernel, so one defect is reported once)."""
        if ok:
            self.checked_move(label, move, act)
        else:
            act()
            self._settled(lambda s: True, self.react_timeout)

    def button(self, index: int, name: str) -> None:
        """Press it and wait (up to ACTION_TIMEOUT) for a new, finished result: the button enabled
        again, no "running:" line, the kernel idle; the result must not show a traceback."""
        button = self.box.locator(f'[data-convlab-button="{index}"]')
        before = self.state()
        button.click()
        self.run.moves += 1

        def finished(s):
            result = s["result"]
            return (not s["button_busy"] and result is not None and result != before["result"]
                    and not result["text"].startswith("running:"))

        after = self._settled(finished, self.action_timeout)
        if after is None:
            now = self.state()
            self.run.problems.append(
                f"button {name!r}: no finished result within {self.action_timeout:g} s "
                f"(result {now['result']!r}, button {'disabled' if now['button_busy'] else 'enabled'})")
            after = now
        elif not (after["result"]["text"] or after["result"]["imgs"]):
            self.run.problems.append(f"button {name!r}: the result area stayed empty")
        for tb in after["tracebacks"]:
            self.run.problems.append(f"button {name!r}: traceback in the explorer:\n{tb}")

    def drive(self) -> ExplorerRun:
        t0 = time.monotonic()
        try:
            self._drive()
        finally:
            self.run.seconds = time.monotonic() - t0
        return self.run

    def _drive(self) -> None:
        self.box.scroll_into_view_if_needed()
        initial = self.state()
        for tb in initial["tracebacks"]:
            self.run.problems.append(f"traceback before any move:\n{tb}")
        if initial[self.target] is None:
            self.run.problems.append(f"no .convlab-{self.target} to watch")
            return
        if not self.info["controls"] and not self.info["buttons"]:
            self.run.problems.append("an explorer without controls or buttons")
        for stray in self.info["stray"]:
            self.run.problems.append(f"an input the driver does not know how to move: {stray}")
        for c in self.info["controls"]:
            el = self.box.locator(f'[data-convlab-control="{c["index"]}"]')
            label = c["label"] or f"control {c['index']}"
            if c["kind"] is None:
                self.run.problems.append(f"{label}: a widget the driver cannot move "
                                         f"(classes {c['classes']!r})")
            elif el.locator("input:disabled, .noUi-target[disabled]").count():
                self.run.problems.append(f"{label}: disabled after Run All")
            else:
                getattr(self, c["kind"].replace(" ", "_"))(el, label)
        for i, name in enumerate(self.info["buttons"]):
            self.button(i, name)


def survey(page) -> dict:
    """Number the explorers on the page; list their controls and any control outside them."""
    return page.evaluate(_JS_SURVEY, _INTERACTIVE)


def drive_explorers(page, name: str, react_timeout: float = REACT_TIMEOUT,
                    action_timeout: float = ACTION_TIMEOUT, only=None) -> NotebookRun:
    """Drive every explorer (or those whose index is in ``only``) of the open, fully run notebook."""
    run = NotebookRun(name)
    found = survey(page)
    for text in found["outside"]:
        run.problems.append(f"a control outside any explorer (never moved by this test): {text}")
    t0 = time.monotonic()
    for info in found["explorers"]:
        if only is None or info["index"] in only:
            run.explorers.append(_Explorer(page, info, react_timeout, action_timeout).drive())
    run.drive_s = time.monotonic() - t0
    for tb in page_tracebacks(page):
        run.problems.append(f"traceback in the notebook after driving every explorer:\n{tb}")
    return run


def drive_notebook(page, url: str, name: str, **kwargs) -> NotebookRun:
    """Open, Run All, then drive every explorer (see the module docstring)."""
    t0 = time.monotonic()
    open_and_run_all(page, url, name)
    run_all_s = time.monotonic() - t0
    run = drive_explorers(page, name, **kwargs)
    run.run_all_s = run_all_s
    return run
