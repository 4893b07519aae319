"""Lesson 1 (notebooks/01_output_size.ipynb): output-size arithmetic, seen as windows on a grid.

    output_size_report(H, W, FH, FW, padding, stride, dilation) -> dict: sizes, uncovered rows, text
    output_size_view(...)     -> View: that text, the padded input with its windows, the output grid
    output_size_explorer()    sliders H, W, FH, FW, padding, stride, dilation over output_size_view
    windows_view(...)         -> View: the picture alone (lesson 2 reuses it)
    draw_output_size(...)     -> Figure: the picture both views show
    conventions_table(H, FH, padding, stride) -> str: our formula next to the book's, d2l's, ...
    OUTPUT_SIZE_RANGES        the explorer's slider ranges
    OUTPUT_SIZE_TASKS, check_output_sizes, check_same_padding, UNUSED_TASK, check_uncovered_rows:
                              the exercises
    reveal_skipped_rows(guess) predict, then check: rows a stride larger than the filter skips

Every size comes from ``convlab.arith`` and every count from ``convlab.analysis``; whether a
filter fits is decided from the numbers (its extent against the padded size), never from an
error message.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import PatchCollection
from matplotlib.colors import to_rgb
from matplotlib.patches import Rectangle

from ..analysis import coverage_1d, coverage_map
from ..arith import conv_output_size, conv_output_size_2d, uncovered
from . import draw, ui
from .check import answer_check, as_number, as_shape, compare_guess, report

__all__ = ["OUTPUT_SIZE_RANGES", "output_size_report", "output_size_view", "output_size_explorer",
           "windows_view", "draw_output_size", "conventions_table", "OUTPUT_SIZE_TASKS",
           "check_output_sizes", "check_same_padding", "UNUSED_TASK", "check_uncovered_rows",
           "reveal_skipped_rows"]

#: Slider ranges of the explorer (the tests sweep them all).
OUTPUT_SIZE_RANGES = {"H": (1, 12), "W": (1, 12), "FH": (1, 7), "FW": (1, 7), "padding": (0, 4),
                      "stride": (1, 5), "dilation": (1, 3)}


def _extent(kernel: int, dilation: int) -> int:
    """How many cells a filter of ``kernel`` taps spans along one axis: D*(F - 1) + 1."""
    return dilation * (kernel - 1) + 1


def _fits(size: int, kernel: int, pad: int, dilation: int = 1) -> bool:
    """Whether at least one window fits along one axis: the extent is at most H + 2P."""
    return _extent(kernel, dilation) <= size + 2 * pad


def _n(k: int, word: str) -> str:
    """'1 row', '2 rows'."""
    return f"{k} {word}" if k == 1 else f"{k} {word}s"


def _axis_report(axis, size, kernel, pad, stride, dilation):
    """Facts about one axis ('height' or 'width') for ``output_size_report``; never raises."""
    s_in, s_k, s_out, unit, edge = {"height": ("H", "FH", "OH", "row", "bottom"),
                                    "width": ("W", "FW", "OW", "column", "right")}[axis]
    padded, extent = size + 2 * pad, _extent(kernel, dilation)
    fact = {"fits": _fits(size, kernel, pad, dilation), "out": None, "uncovered": 0,
            "lost_input": 0, "skipped": 0, "lines": []}
    if not fact["fits"]:
        ext = f" (extent {extent} with dilation {dilation})" if dilation > 1 else ""
        fact["lines"].append(f"The filter is {kernel} {unit}s {'tall' if axis == 'height' else 'wide'}{ext}, "
                             f"but the padded input is only {size} + 2*{pad} = {padded}: "
                             f"no window fits, so there is no output. Use a smaller filter"
                             f"{', more padding or less dilation' if dilation > 1 else ' or more padding'}.")
        return fact
    out = conv_output_size(size, kernel, stride, pad, dilation)
    num = padded - extent
    if dilation == 1:
        formula = f"{s_out} = ({s_in} + 2P - {s_k})/S + 1 = ({size} + 2*{pad} - {kernel})/{stride} + 1"
    else:
        formula = (f"{s_out} = ({s_in} + 2P - D*({s_k}-1) - 1)/S + 1 = "
                   f"({size} + 2*{pad} - {dilation}*({kernel}-1) - 1)/{stride} + 1")
    if num % stride == 0:
        formula += f" = {num}/{stride} + 1 = {out}"
    else:
        formula += (f" = floor({num}/{stride}) + 1 = {num // stride} + 1 = {out}"
                    f"   ({num}/{stride} is not whole: rounded down)")
    fact["out"] = out
    fact["lines"].append(formula)
    cov = coverage_1d(size, kernel, stride, pad, dilation)              # (H+2P,) windows per row
    is_input = np.zeros(padded, dtype=bool)
    is_input[pad:pad + size] = True
    u = uncovered(size, kernel, stride, pad, dilation)                   # trailing rows the floor drops
    fact["uncovered"] = u
    tail_input = int(is_input[padded - u:].sum()) if u else 0
    gaps = cov == 0
    gaps[padded - u:] = False                                            # rows skipped between windows
    fact["skipped"] = int(gaps.sum())
    gap_input = int((gaps & is_input).sum())
    fact["lost_input"] = tail_input + gap_input
    if u:
        if tail_input == 0:
            what = ("it is padding" if u == 1 else "they are all padding") + ", so no input value is lost"
        elif u == 1:
            what = f"it is an input {unit}, so its values never reach the output"
        else:
            what = f"{_n(tail_input, 'input ' + unit)} among them, whose values never reach the output"
        verb = "is" if u == 1 else "are"
        fact["lines"].append(f"{_n(u, unit)} at the {edge} of the padded input {verb} never covered "
                             f"(the floor drops {'it' if u == 1 else 'them'}): {what}.")
    if fact["skipped"]:
        why = []
        if stride > extent:
            why.append(f"stride {stride} is larger than the filter extent {extent}, so windows "
                       f"jump over {unit}s")
        if dilation > 1:
            why.append(f"dilation {dilation} leaves gaps between the filter's taps")
        fact["lines"].append(f"{_n(fact['skipped'], unit)} in between {'is' if fact['skipped'] == 1 else 'are'}"
                             f" used by no window ({'; '.join(why)}); {gap_input} of them "
                             f"{'is' if gap_input == 1 else 'are'} input.")
    return fact


def output_size_report(H, W, FH, FW, padding=0, stride=1, dilation=1) -> dict:
    """Everything the explorer says, as a dict: ``fits``, ``OH``, ``OW`` (None when the filter does
    not fit), ``uncovered_rows``/``uncovered_cols`` (as ``convlab.arith.uncovered``),
    ``lost_rows``/``lost_cols`` (input rows/columns no window uses) and ``text``. Never raises
    for integer settings at or above their minimum."""
    h = _axis_report("height", H, FH, padding, stride, dilation)
    w = _axis_report("width", W, FW, padding, stride, dilation)
    fits = h["fits"] and w["fits"]
    if fits:
        head = f"Output size: OH = {h['out']}, OW = {w['out']}"
    else:
        head = "Output size: none -- the filter does not fit in the padded input"
    lines = [head]
    for fact, axis in ((h, "Height"), (w, "Width")):
        if fits or not fact["fits"]:
            lines += fact["lines"]
        else:
            lines.append(f"({axis} alone would be fine: {fact['lines'][0]})")
    if not (h["fits"] or w["fits"]):          # no formula above shows the stride: say it
        lines.append(f"(Stride {stride} plays no part until the filter fits.)")
    if fits and not (h["uncovered"] or w["uncovered"] or h["skipped"] or w["skipped"]):
        lines.append("Every row and column of the padded input is used by at least one window.")
    return {"fits": fits, "OH": h["out"] if fits else None, "OW": w["out"] if fits else None,
            "uncovered_rows": h["uncovered"], "uncovered_cols": w["uncovered"],
            "lost_rows": h["lost_input"], "lost_cols": w["lost_input"], "text": "\n".join(lines)}


def draw_output_size(H, W, FH, FW, pad=0, stride=1, dilation=1):
    """The padded input with a coverage count per cell, the first (blue) and last (orange)
    window, cells no window touches hatched red, and the OH x OW output grid. Never raises for
    integer settings at or above their minimum; a filter that does not fit is drawn sticking out.
    Returns the figure."""
    PH, PW = H + 2 * pad, W + 2 * pad
    EH, EW = _extent(FH, dilation), _extent(FW, dilation)
    fits_h, fits_w = _fits(H, FH, pad, dilation), _fits(W, FW, pad, dilation)
    fits = fits_h and fits_w
    count = coverage_map(H, W, FH, FW, pad, stride, dilation)            # (H+2P, W+2P)
    OH = conv_output_size(H, FH, stride, pad, dilation) if fits_h else 0
    OW = conv_output_size(W, FW, stride, pad, dilation) if fits_w else 0
    is_pad = np.ones((PH, PW), dtype=bool)
    is_pad[pad:pad + H, pad:pad + W] = False

    scale = 0.32
    left_w, left_h = max(PW, EW), max(PH, EH)
    right_w = max(OW, 3)
    fig, (ax_in, ax_out) = plt.subplots(
        1, 2, figsize=(min(13, 1.5 + scale * (left_w + right_w) + 1.5), min(8, 1.6 + scale * max(left_h, OH, 3))),
        gridspec_kw={"width_ratios": [left_w + 0.6, right_w + 0.6]})

    # colour: white -> blue with the count, padding greyer, unused cells pink (hatched below)
    share = count / max(count.max(), 1)
    rgb = 1.0 - 0.55 * share[..., None] * (1.0 - np.array(to_rgb("#4292c6")))
    rgb = np.where(is_pad[..., None], rgb * 0.85, rgb)
    if fits:
        rgb = np.where((count == 0)[..., None], np.array(to_rgb("#f4cccc")), rgb)
    show_numbers = fits and max(PH, PW) <= 16
    draw.cells(ax_in, PH, PW, face=rgb, values=count if show_numbers else None,
               fontsize=8 if max(PH, PW) <= 12 else 6)
    if fits:
        if (count == 0).any():
            ax_in.add_collection(PatchCollection(
                [Rectangle((c, r), 1, 1) for r, c in zip(*np.nonzero(count == 0))],
                facecolor="none", edgecolor=draw.NOW, hatch="///", lw=0, zorder=2))
        if pad:
            ax_in.add_patch(Rectangle((pad, pad), W, H, fill=False, edgecolor="black", lw=1.6))
        last_r, last_c = (OH - 1) * stride, (OW - 1) * stride
        draw.outline(ax_in, last_r, last_c, EH, EW, draw.LAST)
        draw.outline(ax_in, 0, 0, EH, EW, draw.FIRST)
        if dilation > 1:  # mark the taps of the first window
            for i in range(FH):
                for j in range(FW):
                    ax_in.plot(j * dilation + 0.2, i * dilation + 0.2, "s", color=draw.FIRST, ms=3)
        title = (f"padded input {PH} x {PW} (grey = padding)\n"
                 "blue/number: windows per cell; red: unused")
    else:
        draw.outline(ax_in, 0, 0, EH, EW, draw.NOW, ls="--")
        title = f"padded input {PH} x {PW}: the {EH} x {EW} filter (red) does not fit"
    draw.finish(ax_in, left_w, left_h, title)

    if fits:
        def out_face(r, c):
            if (r, c) == (0, 0):
                return "#c6dbef"
            return "#fdd0a2" if (r, c) == (OH - 1, OW - 1) else "white"
        draw.cells(ax_out, OH, OW, face=out_face)
        draw.finish(ax_out, right_w, max(OH, 3), f"output OH x OW = {OH} x {OW}")
    else:
        ax_out.text(0.5, 0.5, "no output:\nthe filter\ndoes not fit", ha="center", va="center",
                    transform=ax_out.transAxes, color=draw.NOW)
        draw.finish(ax_out, right_w, 3, "output")
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=0.86, wspace=0.08)
    return fig


def output_size_view(H=4, W=4, FH=3, FW=3, padding=1, stride=1, dilation=1) -> ui.View:
    """The output size with the formula filled in and what is left uncovered (the report's text),
    and the picture: the padded input, its windows and the output grid."""
    return ui.View(output_size_report(H, W, FH, FW, padding, stride, dilation)["text"],
                   draw_output_size(H, W, FH, FW, padding, stride, dilation))


def windows_view(H, W, FH, FW, padding=0, stride=1, dilation=1) -> ui.View:
    """The picture of ``output_size_view`` without its text."""
    return ui.View("", draw_output_size(H, W, FH, FW, padding, stride, dilation))


def output_size_explorer(H=4, W=4, FH=3, FW=3, padding=1, stride=1, dilation=1):
    """Sliders H, W, FH, FW, padding, stride and dilation (ranges ``OUTPUT_SIZE_RANGES``) over
    ``output_size_view``. Every setting in range is valid: one whose filter does not fit is
    drawn and explained."""
    start = {"H": H, "W": W, "FH": FH, "FW": FW, "padding": padding, "stride": stride,
             "dilation": dilation}
    controls = {name: ui.slider(name, start[name], lo, hi)
                for name, (lo, hi) in OUTPUT_SIZE_RANGES.items()}
    return ui.explorer(output_size_view, controls)


def conventions_table(H, FH, padding=0, stride=1) -> str:
    """Output-size conventions for one axis (no dilation), as text: ours/PyTorch (floor), the book
    (int() of a float), d2l (total padding p = 2P), CS231n (assert exact), and TensorFlow's
    'VALID' and 'SAME' (which choose their own padding)."""
    num = H + 2 * padding - FH                  # >= 0 exactly when the filter fits
    rows = [("ours / PyTorch: floor((H+2P-FH)/S) + 1",
             str(num // stride + 1) if num >= 0 else "error (filter too big)"),
            ("book: int((H+2P-FH)/S) + 1",
             str(int(num / stride) + 1) + (" (int() truncates toward 0: wrong)" if num < 0 else "")),
            ("d2l: floor((H-FH+p+S)/S), p = 2P total",
             str((H - FH + 2 * padding + stride) // stride) if num >= 0 else "error (filter too big)"),
            ("CS231n: assert (H+2P-FH) % S == 0",
             str(num // stride + 1) if num >= 0 and num % stride == 0 else "AssertionError"),
            ("TensorFlow 'VALID' (P ignored): ceil((H-FH+1)/S)",
             str(-(-(H - FH + 1) // stride)) if H >= FH else "error (filter too big)"),
            ("TensorFlow 'SAME' (P ignored): ceil(H/S)", str(-(-H // stride)))]
    width = max(len(r[0]) for r in rows)
    head = f"H = {H}, FH = {FH}, P = {padding}, S = {stride}"
    return "\n".join([head] + [f"  {name:<{width}}  {val}" for name, val in rows])


# -- exercises ---------------------------------------------------------------------------------

#: Exercise 1: three layers whose output sizes the learner computes by hand.
OUTPUT_SIZE_TASKS = [
    {"H": 32, "W": 32, "FH": 5, "FW": 5, "pad": 2, "stride": 1},
    {"H": 28, "W": 28, "FH": 3, "FW": 3, "pad": 0, "stride": 2},
    {"H": 10, "W": 15, "FH": 3, "FW": 4, "pad": 1, "stride": 3},
]


@answer_check
def check_output_sizes(answer) -> bool:
    """Exercise 1: ``answer`` holds three (OH, OW) pairs, one per task of ``OUTPUT_SIZE_TASKS``
    (a list of tuples, a list of lists or a (3, 2) NumPy array). Sizes must be exact."""
    usage = "give a list of three (OH, OW) pairs, e.g. [(1, 1), (2, 2), (3, 3)]."
    if isinstance(answer, (str, bytes, dict)):
        return report(False, "", usage)
    try:
        pairs = list(answer)
    except TypeError:
        return report(False, "", usage)
    if len(pairs) != len(OUTPUT_SIZE_TASKS):
        return report(False, "", f"give exactly {len(OUTPUT_SIZE_TASKS)} (OH, OW) pairs, got {len(pairs)}.")
    wrong = {}                                                          # hint -> task numbers
    for k, (task, pair) in enumerate(zip(OUTPUT_SIZE_TASKS, pairs), start=1):
        right = conv_output_size_2d((task["H"], task["W"]), (task["FH"], task["FW"]),
                                    task["stride"], task["pad"])
        got = as_shape(pair)
        if got == right:
            continue
        S = task["stride"]
        nums = (task["H"] + 2 * task["pad"] - task["FH"], task["W"] + 2 * task["pad"] - task["FW"])
        rounded_up = (got is not None and len(got) == 2 and
                      any(n % S != 0 and g == -(-n // S) + 1 for n, g in zip(nums, got)))
        hint = ("round DOWN when the division is not whole" if rounded_up
                else "compute (H + 2P - FH)/S + 1 and (W + 2P - FW)/S + 1")
        wrong.setdefault(hint, []).append(str(k))
    if not wrong:
        return report(True, "all three output sizes are right.")
    parts = [f"task{'s' if len(ks) > 1 else ''} {', '.join(ks)}: {hint}" for hint, ks in wrong.items()]
    return report(False, "", "; ".join(parts) + ".")


@answer_check
def check_same_padding(answer) -> bool:
    """Exercise 2: the padding that keeps a 28 x 28 input 28 x 28 under a 5 x 5 filter with
    stride 1 ('same' padding, P = (FH - 1)/2). A whole number, exact."""
    got = as_number(answer)
    if got == 2:
        return report(True, "P = 2 = (5 - 1)/2 keeps 28 x 28: (28 + 4 - 5)/1 + 1 = 28.")
    if got is not None and got == int(got) and got >= 0:
        P = int(got)
        oh = conv_output_size(28, 5, 1, P) if _fits(28, 5, P) else None
        return report(False, "", f"with P = {P} the output is {oh} x {oh}; solve "
                                 "(28 + 2P - 5)/1 + 1 = 28 for P.")
    return report(False, "", "give one whole number P >= 0; solve (28 + 2P - 5)/1 + 1 = 28.")


#: Exercise 3: a 10-row input, a 3-row filter, stride 4, no padding.
UNUSED_TASK = {"H": 10, "FH": 3, "stride": 4}


def _unused_counts(H, FH, stride) -> tuple[int, int]:
    """(rows after the last window, rows jumped over between windows) for one axis, no padding
    and no dilation: the floor drops ``uncovered`` rows at the end, and each of the OH - 1 gaps
    between windows jumps over stride - FH rows when the stride is larger than the filter."""
    between = (conv_output_size(H, FH, stride) - 1) * max(0, stride - FH)
    return uncovered(H, FH, stride), between


@answer_check
def check_uncovered_rows(answer) -> bool:
    """Exercise 3: how many rows of a 10-row input a 3-row filter with stride 4 and no padding
    never uses: those the floor drops after the last window AND those jumped over between
    windows (the stride is larger than the filter). A whole number, exact."""
    H, FH, S = UNUSED_TASK["H"], UNUSED_TASK["FH"], UNUSED_TASK["stride"]
    after, between = _unused_counts(H, FH, S)
    got = as_number(answer)
    if got == after + between:
        return report(True, f"{after + between} rows: the windows cover rows 0-{FH - 1} and {S}-{S + FH - 1}; "
                            f"row {FH} is jumped over (stride {S} > filter {FH}) and rows "
                            f"{H - after}-{H - 1} come after the last window.")
    if got == after:
        hint = (f"{after} counts only the rows after the last window (what uncovered() gives); "
                f"stride {S} is larger than the filter {FH}, so look between the windows too.")
    elif got == between:
        hint = "that counts the rows between the windows; the rows after the last window count too."
    else:
        hint = ("list the rows where windows start (0, 4, ...) while the window still fits, mark "
                "the rows each window uses, and count the rows no window uses.")
    return report(False, "", hint)


def reveal_skipped_rows(guess, H=7, FH=1, stride=3) -> None:
    """Predict, then check: how many of ``H`` input rows a ``FH``-row filter with ``stride`` (no
    padding) never uses, compared with the learner's ``guess`` (None: no guess yet)."""
    cov = coverage_1d(H, FH, stride)                                   # (H,) windows per row
    used = [int(r) for r in np.flatnonzero(cov)]
    unused = int((cov == 0).sum())
    after, _ = _unused_counts(H, FH, stride)
    exact = "is exact" if after == 0 else "is not exact"
    compare_guess(guess, unused,
                  f"Windows use rows {', '.join(map(str, used))} only: stride {stride} is larger "
                  f"than the filter height {FH}, so the windows jump over the rows between them, "
                  f"although ({H} - {FH})/{stride} {exact}.")
