"""The one way a lesson builds an interactive explorer (every lesson uses it).

A lesson *view* is a plain function ``view(**settings) -> View``: it never prints, never shows,
never raises for a setting its controls allow, and returns the text and the figure to show
together. The notebook calls views directly (so strict nbval compares real output) and wraps them
in an ``explorer``, whose controls come from the factories below (one ``continuous_update``
policy: redraw when a control is released, never while it is dragged).

Why one assignment: with ipykernel 7 a widget callback runs on another thread, and output that
matplotlib or ``print`` sends from there can be dropped or half-shown (new text, old picture).
``explorer`` renders the text and the PNG first, then replaces the Output widget's ``outputs``
in ONE assignment, so a learner always sees a text and a picture that belong together.
"""
from __future__ import annotations

import base64
import io
import traceback
from dataclasses import dataclass
from typing import Any, Callable

import ipywidgets as widgets
import matplotlib.pyplot as plt

__all__ = ["View", "explorer", "slider", "float_slider", "log_slider", "choice", "toggle"]

_STYLE = {"description_width": "initial"}


@dataclass
class View:
    """What a view returns: ``text`` (printed above) and ``fig`` (a matplotlib Figure or None).

    The figure is closed as soon as the View is made (so the notebook's inline backend does not
    show it a second time); it can still be drawn and inspected. In a notebook, a View as the
    last expression of a cell shows its text and its picture.
    """
    text: str = ""
    fig: Any = None

    def __post_init__(self):
        if self.fig is not None:
            plt.close(self.fig)

    def png(self, dpi: int = 72) -> bytes | None:
        """The figure as PNG bytes (None without a figure)."""
        if self.fig is None:
            return None
        buf = io.BytesIO()
        self.fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
        return buf.getvalue()

    def outputs(self) -> tuple[dict, ...]:
        """The text and the PNG as notebook outputs (what an explorer shows)."""
        out = [_stream(self.text)] if self.text else []
        png = self.png()
        if png is not None:
            out.append({"output_type": "display_data", "metadata": {},
                        "data": {"image/png": base64.b64encode(png).decode("ascii"),
                                 "text/plain": "<figure>"}})
        return tuple(out)

    def _ipython_display_(self):
        from IPython.display import Image, display
        if self.text:
            print(self.text)
        png = self.png()
        if png is not None:
            display(Image(png))


def _stream(text: str, name: str = "stdout") -> dict:
    return {"output_type": "stream", "name": name, "text": text if text.endswith("\n") else text + "\n"}


def _render(fn: Callable[..., View], values: dict) -> tuple[dict, ...]:
    """``fn(**values).outputs()``; an exception is shown as its traceback (so a broken view is
    seen, and the browser test, which fails on any traceback, catches it)."""
    try:
        result = fn(**values)
        if not isinstance(result, View):
            raise TypeError(f"a view must return a View, {getattr(fn, '__name__', fn)} returned "
                            f"{type(result).__name__}")
        return result.outputs()
    except Exception:  # noqa: BLE001 - shown to the learner, never swallowed
        return (_stream(traceback.format_exc(), "stderr"),)


def explorer(view: Callable[..., View], controls: dict, action: Callable[..., View] | None = None,
             label: str = "Run", describe: Callable[..., str] | None = None) -> widgets.VBox:
    """Controls above the live output of ``view(**values)``, redrawn whenever a control changes.

    ``controls``: {keyword: widget}, the widgets made by the factories below.
    ``action``: optional slow work (``action(**values) -> View``, e.g. training) that runs only
    when the button ``label`` is pressed; its result shows below the button. Whenever a control
    changes, the line above the button says at once what the button will do with the new values
    ("Will train with lr 0.002 ..."), so a learner sees the change was taken. ``describe(**values)``
    words the settings (default "a = 1, b = 2"). ``view`` may be None when only the button acts.
    """
    values = lambda: {k: w.value for k, w in controls.items()}  # noqa: E731
    children = [widgets.HBox(list(controls.values()), layout=widgets.Layout(flex_flow="row wrap"))]
    out = None
    if view is not None:
        out = widgets.Output()
        out.add_class("convlab-view")
        children.append(out)

    def redraw(_=None):
        out.outputs = _render(view, values())

    if action is not None:
        describe = describe or (lambda **v: ", ".join(f"{k} = {_fmt(x)}" for k, x in v.items()))
        verb = label[0].lower() + label[1:]
        note = widgets.HTML()
        note.add_class("convlab-pending")
        button = widgets.Button(description=label, button_style="primary")
        result = widgets.Output()
        result.add_class("convlab-result")

        def announce(_=None):
            note.value = f"Will {verb} with {describe(**values())} when you press '{label}'."

        def run(_):
            button.disabled = True
            settings = describe(**values())
            note.value = f"Running: {verb} with {settings} ..."
            result.outputs = (_stream(f"running: {verb} with {settings} ..."),)
            try:
                result.outputs = _render(action, values())
            finally:
                button.disabled = False
                note.value = f"Shown below: {verb} with {settings}. Change a control to try another."

        button.on_click(run)
        for w in controls.values():
            w.observe(announce, "value")
        announce()
        children += [note, button, result]
    if out is not None:
        for w in controls.values():
            w.observe(redraw, "value")
        redraw()
    box = widgets.VBox(children)
    box.add_class("convlab-explorer")
    return box


def _fmt(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


# -- control factories: one look and one update policy for every lesson -----------------------

def slider(description: str, value: int, lo: int, hi: int, step: int = 1) -> widgets.IntSlider:
    """An integer slider; redraws when released (``continuous_update=False``)."""
    return widgets.IntSlider(value=value, min=lo, max=hi, step=step, description=description,
                             continuous_update=False, style=_STYLE)


def float_slider(description: str, value: float, lo: float, hi: float, step: float,
                 fmt: str = ".2f") -> widgets.FloatSlider:
    """A float slider; redraws when released."""
    return widgets.FloatSlider(value=value, min=lo, max=hi, step=step, description=description,
                               readout_format=fmt, continuous_update=False, style=_STYLE)


def log_slider(description: str, value: float, lo_exp: float, hi_exp: float, step: float = 0.25,
               fmt: str = ".0e") -> widgets.FloatLogSlider:
    """A slider over 10**lo_exp .. 10**hi_exp (learning rates, regularisation strengths)."""
    return widgets.FloatLogSlider(value=value, base=10, min=lo_exp, max=hi_exp, step=step,
                                  description=description, readout_format=fmt,
                                  continuous_update=False, style=_STYLE)


def choice(description: str, options, value=None) -> widgets.ToggleButtons:
    """One of a few named options (e.g. 'max' / 'avg'), as toggle buttons."""
    options = list(options)
    return widgets.ToggleButtons(options=options, value=options[0] if value is None else value,
                                 description=description, style=_STYLE)


def toggle(description: str, value: bool = False) -> widgets.Checkbox:
    """An on/off switch."""
    return widgets.Checkbox(value=value, description=description, indent=False)
