"""ipywidgets explorers for the lessons. Each function names the lesson that uses it.

Every explorer is a thin shell around a plain function (the "view") that takes the slider values
and returns text and a figure; the lessons call those views directly too, so nbval compares real
output, and no slider value can raise a traceback.
"""
from __future__ import annotations

import ipywidgets as widgets
import numpy as np

# ---- lessons 0-2 ----
import matplotlib.pyplot as plt  # noqa: E402

from . import plots as _plots  # noqa: E402
from .arith import conv_output_size as _conv_out, uncovered as _uncovered  # noqa: E402
from .layers import Convolution as _Convolution, softmax as _softmax  # noqa: E402

def _live_output(view, controls):
    """An Output widget showing ``view(**values, show=False)`` (its printed text, then its figure)
    for the current values of ``controls`` (name -> widget), redrawn whenever one changes.

    Like ``interactive_output``, but the text and the PNG are set in one assignment to
    ``out.outputs``: nothing depends on routing kernel messages into the widget, and a half
    redraw (new text, old figure) is never shown. Used by the explorers of lessons 0-2.
    """
    import base64
    import contextlib
    import io

    out = widgets.Output()

    def update(_=None):
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            fig = view(**{k: w.value for k, w in controls.items()}, show=False)
        outputs = [{"output_type": "stream", "name": "stdout", "text": buf.getvalue()}]
        if fig is not None:
            png = io.BytesIO()
            fig.savefig(png, format="png", dpi=72, bbox_inches="tight")
            plt.close(fig)
            outputs.append({"output_type": "display_data", "metadata": {},
                            "data": {"image/png": base64.b64encode(png.getvalue()).decode("ascii"),
                                     "text/plain": "<figure>"}})
        out.outputs = tuple(outputs)

    for w in controls.values():
        w.observe(update, "value")
    update()
    return out


#: The book's single-channel example (figure 7-3): a 4x4 input and a 3x3 filter.
BOOK_INPUT = np.array([[1, 2, 3, 0],
                       [0, 1, 2, 3],
                       [3, 0, 1, 2],
                       [2, 3, 0, 1]], dtype=float)
BOOK_FILTER = np.array([[2, 0, 1],
                        [0, 1, 2],
                        [1, 0, 2]], dtype=float)


def _n(k, word):
    """'1 row', '2 rows'."""
    return f"{k} {word}" if k == 1 else f"{k} {word}s"


def demo_view(size=3, show=True):
    """The tiny demo slider of notebooks/00_start_here.ipynb: print a fact and draw a size x size grid."""
    print(f"A {size} x {size} grid has {size * size} cells; the last one is number {size * size - 1}.")
    fig = _plots.draw_demo_grid(size)
    if not show:
        return fig
    plt.show()


def demo_explorer():
    """One IntSlider driving ``demo_view``. Taught in notebooks/00_start_here.ipynb."""
    size = widgets.IntSlider(value=3, min=1, max=8, description="size")
    return widgets.VBox([size, _live_output(demo_view, {"size": size})])


def _axis_report(axis, size, kernel, pad, stride, dilation):
    """Facts about one axis ('height'/'width') for ``output_size_report``; never raises."""
    sym = {"height": ("H", "FH", "OH", "row", "bottom"), "width": ("W", "FW", "OW", "column", "right")}[axis]
    s_in, s_k, s_out, unit, edge = sym
    padded = size + 2 * pad
    extent = dilation * (kernel - 1) + 1
    fact = {"padded": padded, "extent": extent, "fits": extent <= padded, "out": None,
            "uncovered": 0, "lost_input": 0, "skipped": 0, "lines": []}
    if not fact["fits"]:
        ext = f" (extent {extent} with dilation {dilation})" if dilation > 1 else ""
        fact["lines"].append(f"The filter is {kernel} {unit}s {'tall' if axis == 'height' else 'wide'}{ext}, "
                             f"but the padded input is only {size} + 2*{pad} = {padded}: "
                             f"no window fits, so there is no output. Use a smaller filter"
                             f"{', more padding or less dilation' if dilation > 1 else ' or more padding'}.")
        return fact
    out = _conv_out(size, kernel, stride, pad, dilation)
    num = padded - extent
    if dilation == 1:
        formula = (f"{s_out} = ({s_in} + 2P - {s_k})/S + 1 = ({size} + 2*{pad} - {kernel})/{stride} + 1")
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
    cov = _plots.coverage_1d(size, kernel, stride, pad, dilation)
    is_input = np.zeros(padded, dtype=bool)
    is_input[pad:pad + size] = True
    u = _uncovered(size, kernel, stride, pad, dilation)  # trailing rows the floor drops
    fact["uncovered"] = u
    tail_input = int(is_input[padded - u:].sum()) if u else 0
    gaps = (cov == 0)
    gaps[padded - u:] = False
    fact["skipped"] = int(gaps.sum())
    gap_input = int((gaps & is_input).sum())
    fact["lost_input"] = tail_input + gap_input
    if u:
        if tail_input == 0:
            what = ("it is padding" if u == 1 else "they are all padding") + ", so no input value is lost"
        elif u == 1:
            what = f"it is an input {unit}, so its values never reach the output"
        else:
            what = (f"{_n(tail_input, 'input ' + unit)} among them, whose values never reach "
                    f"the output")
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


def output_size_report(H, W, FH, FW, padding=0, stride=1, dilation=1):
    """Everything the output-size explorer says, as a dict: ``fits``, ``OH``, ``OW`` (None when the
    filter does not fit), ``uncovered_rows``/``uncovered_cols`` (as ``convlab.arith.uncovered``),
    ``lost_rows``/``lost_cols`` (input rows/columns no window uses) and ``text``. Never raises for
    integer settings at or above their minimum.

    Taught in notebooks/01_output_size.ipynb.
    """
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
    if fits and not (h["uncovered"] or w["uncovered"] or h["skipped"] or w["skipped"]):
        lines.append("Every row and column of the padded input is used by at least one window.")
    return {"fits": fits, "OH": h["out"] if fits else None, "OW": w["out"] if fits else None,
            "uncovered_rows": h["uncovered"], "uncovered_cols": w["uncovered"],
            "lost_rows": h["lost_input"], "lost_cols": w["lost_input"], "text": "\n".join(lines)}


def output_size_view(H=4, W=4, FH=3, FW=3, padding=1, stride=1, dilation=1, show=True):
    """Print the output size with the formula filled in and what is left uncovered, then draw the
    padded input, the windows and the output grid. ``show=False`` returns the figure instead.

    Taught in notebooks/01_output_size.ipynb (the explorer's view).
    """
    print(output_size_report(H, W, FH, FW, padding, stride, dilation)["text"])
    fig = _plots.draw_output_size(H, W, FH, FW, padding, stride, dilation)
    if not show:
        return fig
    plt.show()


def output_size_explorer(H=4, W=4, FH=3, FW=3, padding=1, stride=1, dilation=1):
    """Sliders H, W, FH, FW, padding, stride, dilation over ``output_size_view``.

    Taught in notebooks/01_output_size.ipynb.
    """
    s = {"H": widgets.IntSlider(value=H, min=1, max=12, description="H"),
         "W": widgets.IntSlider(value=W, min=1, max=12, description="W"),
         "FH": widgets.IntSlider(value=FH, min=1, max=7, description="FH"),
         "FW": widgets.IntSlider(value=FW, min=1, max=7, description="FW"),
         "padding": widgets.IntSlider(value=padding, min=0, max=4, description="padding"),
         "stride": widgets.IntSlider(value=stride, min=1, max=5, description="stride"),
         "dilation": widgets.IntSlider(value=dilation, min=1, max=3, description="dilation")}
    out = _live_output(output_size_view, s)
    rows = widgets.HBox([widgets.VBox([s["H"], s["W"], s["FH"], s["FW"]]),
                         widgets.VBox([s["padding"], s["stride"], s["dilation"]])])
    return widgets.VBox([rows, out])


#: Slider ranges of the lesson-1 explorer (tests sweep them all).
OUTPUT_SIZE_RANGES = {"H": (1, 12), "W": (1, 12), "FH": (1, 7), "FW": (1, 7), "padding": (0, 4),
                      "stride": (1, 5), "dilation": (1, 3)}


def conventions_table(H, FH, padding=0, stride=1):
    """Compare output-size conventions for one axis (no dilation) as printable text: ours/PyTorch
    (floor), the book (int() of a float), d2l (total padding p = 2P), CS231n (assert exact), and
    TensorFlow's 'VALID' and 'SAME' (which choose their own padding). Taught in notebooks/01_output_size.ipynb.
    """
    num = H + 2 * padding - FH
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


def conv_step_report(padding=0, stride=1, step=1, bias=0.0, x=None, w=None):
    """Run ``convlab.layers.Convolution`` on the book's 4x4 input and 3x3 filter (or ``x``, ``w``)
    and describe window number ``step`` (1-based, row by row; clamped to the valid range): a dict
    with ``OH``, ``OW``, ``out`` (OH, OW), ``step``, ``products`` (FH, FW), ``value`` and ``text``.
    Taught in notebooks/02_convolution.ipynb.
    """
    x = BOOK_INPUT if x is None else np.asarray(x, dtype=float)
    w = BOOK_FILTER if w is None else np.asarray(w, dtype=float)
    H, W = x.shape
    FH, FW = w.shape
    lines = []
    if FH > H + 2 * padding or FW > W + 2 * padding:
        text = (f"Output size: none -- the {FH} x {FW} filter does not fit in the padded "
                f"{H + 2 * padding} x {W + 2 * padding} input")
        return {"OH": None, "OW": None, "out": None, "step": None, "products": None, "value": None,
                "text": text}
    layer = _Convolution(w[None, None], np.array([bias], dtype=float), stride=stride, pad=padding)
    out = layer.forward(x[None, None])[0, 0]                          # (OH, OW)
    OH, OW = out.shape
    lines.append(f"Output size: OH = {OH}, OW = {OW}")
    n_steps = OH * OW
    clamped = min(max(int(step), 1), n_steps)
    if clamped != step:
        lines.append(f"(step {step} is outside 1..{n_steps}; showing step {clamped})")
    i, j = divmod(clamped - 1, OW)
    r0, c0 = i * stride, j * stride
    xp = np.pad(x, padding)                                            # (H+2P, W+2P)
    patch = xp[r0:r0 + FH, c0:c0 + FW]                                 # (FH, FW)
    prod = patch * w                                                   # (FH, FW)
    terms = " + ".join(f"{a:g}*{b:g}" for a, b in zip(patch.ravel(), w.ravel()))
    lines.append(f"Step {clamped} of {n_steps}: output ({i}, {j}) <- window at rows {r0}-{r0 + FH - 1}, "
                 f"columns {c0}-{c0 + FW - 1} of the padded input")
    total = prod.sum()
    lines.append(f"  {terms} = {total:g}" + (f"; + bias {bias:g} = {total + bias:g}" if bias else ""))
    lines.append(f"  Convolution layer's output at ({i}, {j}): {out[i, j]:g}")
    ur = _uncovered(H, FH, stride, padding)
    uc = _uncovered(W, FW, stride, padding)
    if ur or uc:
        lines.append(f"  Note: the last {_n(ur, 'row')} and {_n(uc, 'column')} of the padded input "
                     f"are never covered (stride {stride} does not fit exactly).")
    return {"OH": OH, "OW": OW, "out": out, "step": clamped, "products": prod,
            "value": float(out[i, j]), "text": "\n".join(lines)}


def conv_step_view(padding=0, stride=1, step=1, bias=0.0, show=True):
    """Print step ``step`` of the convolution of the book's example (products and sum), then draw
    it. ``show=False`` returns the figure. Taught in notebooks/02_convolution.ipynb."""
    rep = conv_step_report(padding, stride, step, bias)
    print(rep["text"])
    fig = _plots.draw_conv_step(BOOK_INPUT, BOOK_FILTER, rep["out"], padding, stride,
                                rep["step"] - 1, bias)
    if not show:
        return fig
    plt.show()


#: Slider ranges of the lesson-2 step explorer (tests sweep them all).
CONV_STEP_RANGES = {"padding": (0, 2), "stride": (1, 3), "bias": (0, 3)}


def conv_step_explorer(padding=0, stride=1, step=1, bias=0):
    """Sliders padding, stride, step and bias over ``conv_step_view``; the step slider's maximum
    follows OH*OW. Taught in notebooks/02_convolution.ipynb."""
    pad_s = widgets.IntSlider(value=padding, min=0, max=2, description="padding")
    stride_s = widgets.IntSlider(value=stride, min=1, max=3, description="stride")
    step_s = widgets.IntSlider(value=step, min=1, max=16, description="step")
    bias_s = widgets.IntSlider(value=bias, min=0, max=3, description="bias")

    (H, W), (FH, FW) = BOOK_INPUT.shape, BOOK_FILTER.shape

    def fit_step(_=None):
        n = (_conv_out(H, FH, stride_s.value, pad_s.value) *
             _conv_out(W, FW, stride_s.value, pad_s.value))                # OH * OW
        step_s.max = n  # the view clamps too, so an in-between value cannot break it
        step_s.value = min(step_s.value, n)
    fit_step()
    pad_s.observe(fit_step, "value")
    stride_s.observe(fit_step, "value")
    out = _live_output(conv_step_view, {"padding": pad_s, "stride": stride_s,
                                                      "step": step_s, "bias": bias_s})
    return widgets.VBox([widgets.HBox([widgets.VBox([pad_s, stride_s]), widgets.VBox([step_s, bias_s])]), out])


def conv_shapes_view(N=1, C=3, H=7, W=7, FN=2, FH=3, FW=3, padding=0, stride=1, show=True):
    """Run a Convolution on zeros of shape (N, C, H, W) with FN filters (C, FH, FW), print every
    shape, and draw the blocks. ``show=False`` returns the figure (None if nothing fits).
    Taught in notebooks/02_convolution.ipynb."""
    if FH > H + 2 * padding or FW > W + 2 * padding:
        print(f"Output size: none -- the {FH} x {FW} filter does not fit in the padded "
              f"{H + 2 * padding} x {W + 2 * padding} input")
        return None
    layer = _Convolution(np.zeros((FN, C, FH, FW)), np.zeros(FN), stride=stride, pad=padding)
    y = layer.forward(np.zeros((N, C, H, W)))
    print(f"Output size: OH = {y.shape[2]}, OW = {y.shape[3]}")
    print(f"input x: (N, C, H, W) = {(N, C, H, W)}")
    print(f"filters W: (FN, C, FH, FW) = {layer.W.shape}; bias b: (FN,) = {layer.b.shape}")
    print(f"output: (N, FN, OH, OW) = {y.shape}")
    print(f"parameters: FN*C*FH*FW weights + FN biases = {layer.W.size} + {layer.b.size} = {layer.W.size + layer.b.size}")
    fig = _plots.draw_conv_blocks(C, H, W, FN, FH, FW, padding, stride, N)
    if not show:
        return fig
    plt.show()


def conv_shapes_explorer():
    """Sliders N, C, FN, FH(=FW), padding, stride over ``conv_shapes_view`` (H = W = 7).
    Taught in notebooks/02_convolution.ipynb."""
    s = {"N": widgets.IntSlider(value=1, min=1, max=4, description="N"),
         "C": widgets.IntSlider(value=3, min=1, max=4, description="C"),
         "FN": widgets.IntSlider(value=2, min=1, max=6, description="FN"),
         "F": widgets.IntSlider(value=3, min=1, max=7, description="FH = FW"),
         "padding": widgets.IntSlider(value=0, min=0, max=3, description="padding"),
         "stride": widgets.IntSlider(value=1, min=1, max=3, description="stride")}

    def view(N, C, FN, F, padding, stride, show=True):
        return conv_shapes_view(N, C, 7, 7, FN, F, F, padding, stride, show=show)
    out = _live_output(view, s)
    return widgets.VBox([widgets.HBox([widgets.VBox([s["N"], s["C"], s["FN"]]),
                                       widgets.VBox([s["F"], s["padding"], s["stride"]])]), out])


# ---- lessons 3-5 ----
# Views print text and show a figure (show=False returns both); explorers wrap them in sliders. Pooling in
# notebooks/03_pooling.ipynb, im2col in 04_im2col.ipynb, gradient checks in 05_forward_backward.ipynb.

POOLING_INPUT = np.random.default_rng(3).integers(0, 10, (6, 6)).astype(float)   # (H, W)
SHIFT_INPUT = np.random.default_rng(0).integers(0, 100, (12, 12)).astype(float)   # (H, W)


def _finish_view(text, fig, show):
    """``show=True``: print the text and show the figure (returns None); ``show=False``: return
    (text, figure) untouched, for tests and for callers that place the figure themselves."""
    if not show:
        return text, fig
    print(text)
    if fig is not None:
        plt.show()


def _explorer(view, controls):
    """Sliders above the live output of ``view(**slider values)``."""
    out = widgets.interactive_output(view, controls)
    return widgets.VBox([widgets.HBox(list(controls.values())), out])


def _slider(description, value, lo, hi):
    return widgets.IntSlider(value=value, min=lo, max=hi, description=description, continuous_update=False)


def pooling_view(pool=2, stride=2, pad=0, mode="max", x=None, show=True):
    """Pool ``x`` (default: the lesson's 6x6 map) with a pool x pool window; text and drawing.

    Never raises for pool >= 1, stride >= 1, pad >= 0: a pad the layer refuses is drawn and
    explained. Taught in notebooks/03_pooling.ipynb.
    """
    from .layers import Pooling
    x = POOLING_INPUT if x is None else np.asarray(x, dtype=float)
    H, W = x.shape
    lines = [f"{mode} pooling, window {pool}x{pool}, stride {stride}, pad {pad}, input {H}x{W}"]
    if pool > H + 2 * pad or pool > W + 2 * pad:
        lines.append(f"The {pool}x{pool} window does not fit into the padded {H + 2 * pad}x{W + 2 * pad} "
                     f"input: no output. Choose a smaller window or more padding.")
        return _finish_view("\n".join(lines), _plots.plot_pooling(x, pool, stride, pad, mode), show)
    if pad > pool // 2:
        lines.append(f"pad {pad} is more than half the window ({pool} // 2 = {pool // 2}): a corner window "
                     f"would hold almost only padding. Pooling refuses this with a ValueError "
                     f"(PyTorch does the same). Choose pad <= {pool // 2}.")
        return _finish_view("\n".join(lines), _plots.plot_pooling(x, pool, stride, pad, mode), show)
    OH, OW = _conv_out(H, pool, stride, pad), _conv_out(W, pool, stride, pad)
    lines.append(f"Output size: OH = ({H} + 2*{pad} - {pool}) // {stride} + 1 = {OH}, OW = {OW}")
    layer = Pooling(pool, pool, stride, pad, mode)
    y = layer.forward(x[None, None])[0, 0]                               # (OH, OW)
    left = _uncovered(H, pool, stride, pad)
    if left:
        lines.append(f"The last {left} row(s) and column(s) of the padded input are in no window: "
                     f"pooling ignores them.")
    if pad and mode == "max":
        lines.append("Padding holds -inf, so it can never be a window's maximum.")
    elif pad:
        lines.append("Padding holds 0 and counts in the mean (as in PyTorch's default).")
    arg = layer.arg_max[0, 0] if mode == "max" else None
    return _finish_view("\n".join(lines), _plots.plot_pooling(x, pool, stride, pad, mode, y, arg), show)


def shifted_right(x, shift):
    """``x`` moved ``shift`` pixels to the right; the columns that come in are 0.
    Taught in notebooks/03_pooling.ipynb."""
    x = np.asarray(x)
    out = np.zeros_like(x)
    out[:, shift:] = x[:, :x.shape[1] - shift]
    return out


def shift_view(shift=1, pool=3, mode="max", x=None, show=True):
    """How many values change when the input moves ``shift`` pixels right: before and after
    pool x pool pooling (stride = pool). Taught in notebooks/03_pooling.ipynb."""
    from .layers import Pooling
    x = SHIFT_INPUT if x is None else np.asarray(x, dtype=float)
    xs = shifted_right(x, shift)
    y = Pooling(pool, pool, mode=mode).forward(x[None, None])[0, 0]      # (OH, OW)
    ys = Pooling(pool, pool, mode=mode).forward(xs[None, None])[0, 0]
    n_in, n_out = int(np.sum(~np.isclose(x, xs))), int(np.sum(~np.isclose(y, ys)))
    text = (f"shift {shift} pixel(s) right:\n"
            f"  input (unpooled): {n_in} of {x.size} values change ({100 * n_in / x.size:.0f}%)\n"
            f"  after {pool}x{pool} {mode} pooling: {n_out} of {y.size} outputs change "
            f"({100 * n_out / y.size:.0f}%)")
    return _finish_view(text, _plots.plot_shift(x, xs, y, ys, mode, pool), show)


def im2col_view(channels=1, filter_size=2, stride=1, pad=0, row=0, show=True):
    """im2col of a tiny (1, channels, 4, 4) input numbered 1, 2, 3, ...; ``row`` picks the window
    drawn bold (clamped to the rows that exist). Taught in notebooks/04_im2col.ipynb."""
    from .im2col import im2col
    H = 4
    x = np.arange(1, channels * H * H + 1, dtype=float).reshape(1, channels, H, H)  # (N, C, H, W)
    if filter_size > H + 2 * pad:
        return _finish_view(f"filter {filter_size} does not fit into the padded input {H} + 2*{pad}: "
                            f"no windows.", None, show)
    OH = _conv_out(H, filter_size, stride, pad)
    OW = _conv_out(x.shape[3], filter_size, stride, pad)                # = OH: the input is square
    col = im2col(x, filter_size, filter_size, stride, pad)              # (OH*OW, C*FH*FW)
    n = col.shape[0]
    r = min(max(row, 0), n - 1)
    oy, ox = divmod(r, OW)                                              # rows run (oh, ow), ow fastest
    text = (f"x: {x.shape} = (N, C, H, W), filter {filter_size}x{filter_size}, stride {stride}, pad {pad}\n"
            f"OH = OW = ({H} + 2*{pad} - {filter_size}) // {stride} + 1 = {OH}\n"
            f"col: {col.shape} = (N*OH*OW, C*FH*FW) = (1*{OH}*{OH}, {channels}*{filter_size}*{filter_size})\n"
            f"row {r} is the window of output ({oy}, {ox}): {_cell_list(col[r])}")
    if r != row:
        text += f"\n(row {row} does not exist: there are only {n} rows; showing row {r})"
    return _finish_view(text, _plots.plot_im2col(x, filter_size, stride, pad, r, col=col), show)


def _cell_list(v):
    return "[" + ", ".join(str(int(a)) if float(a).is_integer() else f"{a:.2f}" for a in v) + "]"


def im2col_ratio(H, filter_size, stride=1, pad=0):
    """col size / input size for an (N, C, H, H) input and FH = FW = filter_size.
    N and C cancel: the ratio is OH*OW*FH*FW / (H*W). Taught in notebooks/04_im2col.ipynb."""
    OH = _conv_out(H, filter_size, stride, pad)
    return OH * OH * filter_size * filter_size / (H * H)


def memory_view(H=28, filter_size=5, stride=1, pad=0, show=True):
    """The memory cost of im2col as col size / input size, and the coverage count map.
    Taught in notebooks/04_im2col.ipynb."""
    from .im2col import col2im, im2col
    N, C = 1, 3
    if filter_size > H + 2 * pad:
        return _finish_view(f"filter {filter_size} does not fit into the padded input {H} + 2*{pad} = "
                            f"{H + 2 * pad}: no windows, nothing to copy. Make the filter smaller or the "
                            f"input larger.", None, show)
    x = np.ones((N, C, H, H))
    col = im2col(x, filter_size, filter_size, stride, pad)              # (N*OH*OW, C*FH*FW)
    count = col2im(col, x.shape, filter_size, filter_size, stride, pad)[0, 0]   # (H, W)
    ratio = col.size / x.size
    fs = [f for f in range(1, 12) if f <= H + 2 * pad]
    curve = (fs, [im2col_ratio(H, f, stride, pad) for f in fs])
    text = (f"input (N, C, H, W) = {x.shape}: {x.size:,} numbers\n"
            f"col (N*OH*OW, C*FH*FW) = {col.shape}: {col.size:,} numbers\n"
            f"memory ratio col / input = {ratio:.2f}  (roughly FH*FW / stride^2 = "
            f"{filter_size * filter_size / stride ** 2:.2f})\n"
            f"mean windows per pixel (count map) = {count.mean():.2f}")
    if col.size > count.sum() * C:
        text += (f"; the other {ratio - count.mean():.2f} numbers per input pixel are copies of "
                 f"padding zeros")
    setting = f"\n(H = W = {H}, stride {stride}, pad {pad})"
    return _finish_view(text, _plots.plot_coverage(count, curve, (filter_size, ratio), setting), show)


def gradcheck_rows(filter_size=3, stride=1, pad=0, seed=0):
    """Relative errors of backward against central differences, float64: a list of
    (layer, gradient name, shape, error) for Convolution, Pooling (max, avg), Affine, Relu and a
    small SimpleConvNet built with the given filter_size/stride/pad.
    Taught in notebooks/05_forward_backward.ipynb."""
    from .gradcheck import layer_gradcheck, rel_error
    from .layers import Affine, Convolution, Pooling, Relu
    from .nets import SimpleConvNet
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 2, 5, 5))                               # (N, C, H, W)
    rows = []
    conv = Convolution(rng.standard_normal((3, 2, filter_size, filter_size)), rng.standard_normal(3),
                       stride, pad)
    for k, e in layer_gradcheck(conv, x).items():
        rows.append(("Convolution", k, getattr(conv, k).shape if k != "x" else x.shape, e))
    pool_pad = min(pad, 1)
    for mode in ("max", "avg"):
        errs = layer_gradcheck(Pooling(2, 2, stride, pool_pad, mode), x, params=())
        rows.append((f"Pooling {mode}", "x", x.shape, errs["x"]))
    aff = Affine(rng.standard_normal((6, 4)), rng.standard_normal(4))
    xa = rng.standard_normal((2, 6))                                    # (N, D)
    for k, e in layer_gradcheck(aff, xa).items():
        rows.append(("Affine", k, getattr(aff, k).shape if k != "x" else xa.shape, e))
    rows.append(("Relu", "x", x.shape, layer_gradcheck(Relu(), x, params=())["x"]))
    net = SimpleConvNet(input_dim=(1, 8, 8), conv_param={"filter_num": 2, "filter_size": filter_size,
                                                         "pad": pad, "stride": stride},
                        hidden_size=4, output_size=3, weight_init_std="he", seed=seed, dtype=np.float64)
    for k, p in net.params.items():     # non-zero biases: with b = 0 a padded border sits exactly
        if k.startswith("b"):            # on ReLU's kink, where no derivative exists
            p[...] = 0.1 * rng.standard_normal(p.shape)
    xn, tn = rng.standard_normal((2, 1, 8, 8)), np.array([0, 2])
    grad, num = net.gradient(xn, tn), net.numerical_gradient(xn, tn)
    for k in net.params:
        rows.append(("SimpleConvNet", k, net.params[k].shape, rel_error(grad[k], num[k])))
    return rows


def _sci(v):
    """1e-07 -> '1e-7' (short, and the same on every platform)."""
    mant, exp = f"{v:.0e}".split("e")
    return f"{mant}e{int(exp)}"


def gradcheck_view(filter_size=3, stride=1, pad=0, exact=True, threshold=1e-7, show=True):
    """The gradient-check table (and a bar chart). ``exact=False`` leaves out the error values
    (whose last digits depend on the CPU) and keeps the pass/fail column.
    Taught in notebooks/05_forward_backward.ipynb."""
    rows = gradcheck_rows(filter_size, stride, pad)
    head = f"{'layer':<14s} {'grad':<5s} {'shape':<14s}" + (f" {'rel. error':>10s}" if exact else "") + \
        f"  < {_sci(threshold)}"
    lines = [f"Convolution filter {filter_size}x{filter_size}, stride {stride}, pad {pad}; "
             f"Pooling 2x2, stride {stride}, pad {min(pad, 1)}", head]
    for layer, k, shape, e in rows:
        lines.append(f"{layer:<14s} {k:<5s} {str(shape):<14s}" + (f" {e:10.1e}" if exact else "") +
                     f"  {e < threshold}")
    ok = all(e < threshold for *_, e in rows)
    lines.append(f"all {len(rows)} gradients agree: {ok}")
    fig = _plots.plot_gradcheck([(f"{layer} {k}", e) for layer, k, _, e in rows], threshold)
    return _finish_view("\n".join(lines), fig, show)


def pooling_explorer():
    """Window, stride, pad and mode sliders over the 6x6 map. Taught in notebooks/03_pooling.ipynb."""
    return _explorer(pooling_view, {"pool": _slider("window", 2, 1, 4), "stride": _slider("stride", 2, 1, 4),
                                    "pad": _slider("padding", 0, 0, 2),
                                    "mode": widgets.ToggleButtons(options=["max", "avg"], description="mode")})


def shift_explorer():
    """Shift (0-2 pixels), window and mode. Taught in notebooks/03_pooling.ipynb."""
    return _explorer(shift_view, {"shift": _slider("shift", 1, 0, 2), "pool": _slider("window", 3, 2, 3),
                                  "mode": widgets.ToggleButtons(options=["max", "avg"], description="mode")})


def im2col_explorer():
    """Channels, filter size, stride, pad and the highlighted row of the column matrix; the row
    slider's maximum follows the number of rows. Taught in notebooks/04_im2col.ipynb."""
    controls = {"channels": _slider("channels", 1, 1, 2), "filter_size": _slider("filter", 2, 2, 3),
                "stride": _slider("stride", 1, 1, 2), "pad": _slider("padding", 0, 0, 1),
                "row": _slider("row", 0, 0, 8)}

    def update_rows(change=None):
        OH = _conv_out(4, controls["filter_size"].value, controls["stride"].value, controls["pad"].value)
        controls["row"].max = OH * OH - 1
    for name in ("filter_size", "stride", "pad"):
        controls[name].observe(update_rows, names="value")
    update_rows()
    return _explorer(im2col_view, controls)


def memory_explorer():
    """H, filter size, stride and pad sliders for the memory ratio and the count map; the filter
    slider's maximum follows H + 2*pad. Taught in notebooks/04_im2col.ipynb."""
    controls = {"H": _slider("H", 28, 4, 32), "filter_size": _slider("filter", 5, 1, 11),
                "stride": _slider("stride", 1, 1, 4), "pad": _slider("padding", 0, 0, 3)}

    def update_filter(change=None):
        controls["filter_size"].max = min(11, controls["H"].value + 2 * controls["pad"].value)
    for name in ("H", "pad"):
        controls[name].observe(update_filter, names="value")
    update_filter()
    return _explorer(memory_view, controls)


def gradcheck_explorer():
    """Filter size, stride and pad for the live gradient-check table.
    Taught in notebooks/05_forward_backward.ipynb."""
    return _explorer(gradcheck_view, {"filter_size": _slider("filter", 3, 1, 4),
                                      "stride": _slider("stride", 1, 1, 3), "pad": _slider("padding", 0, 0, 2)})


# ---- lessons 6-8 ----

# -- lesson 6: live curves and the hyperparameter explorer (notebooks/06_training.ipynb) --

def draw_live_curves(history, epochs=None):
    """Accuracy per epoch (train 'o', test 's') and loss per step of a (running) history; the
    figure the live callback redraws. Taught in notebooks/06_training.ipynb."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.2))
    ep = np.arange(1, len(history["test_acc"]) + 1)
    ax1.plot(ep, history["train_acc"], marker="o", label="train")
    ax1.plot(ep, history["test_acc"], marker="s", label="test")
    ax1.set_xlim(0.5, (epochs or max(len(ep), 1)) + 0.5)
    ax1.set_xticks(np.arange(1, (epochs or max(len(ep), 1)) + 1))
    ax1.set_ylim(0, 1)
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("accuracy")
    ax1.legend(loc="lower right")
    ax2.plot(np.arange(1, len(history["loss"]) + 1), history["loss"], lw=0.8)
    ax2.set_xlabel("step (mini-batch)")
    ax2.set_ylabel("loss")
    fig.tight_layout()
    return fig


class LiveCurves:
    """A Trainer callback that redraws the curves in place after every epoch.

    ``cb = LiveCurves(epochs)`` then ``Trainer(..., callback=cb)``. The figure lives in one
    display slot (IPython ``display_id``), so the notebook keeps the final picture.
    Taught in notebooks/06_training.ipynb.
    """

    def __init__(self, epochs=None):
        self.epochs, self.handle = epochs, None

    def __call__(self, history):
        from IPython.display import display
        fig = draw_live_curves(history, self.epochs)
        if self.handle is None:
            self.handle = display(fig, display_id=True)
        else:
            self.handle.update(fig)
        plt.close(fig)


SIMPLE_SLIDERS = {"filter_num": (1, 64, 1, 30), "filter_size": (1, 12, 1, 5),
                  "stride": (1, 4, 1, 1), "hidden_size": (10, 300, 10, 100)}
"""Slider ranges (min, max, step, default) of the SimpleConvNet explorer. Every combination
in range builds a valid net (the smallest conv output is (28 - 12) // 4 + 1 = 5 >= the 2x2 pool)."""


def simple_convnet_view(filter_num=30, filter_size=5, stride=1, hidden_size=100, pad=0, input_size=28,
                        seed=0):
    """Describe the SimpleConvNet these hyperparameters build: every layer's output size worked
    out with the formula, rows the stride leaves uncovered, and the parameter count. Returns
    (text, net or None); an invalid combination returns a message saying why, never raises.

    Taught in notebooks/06_training.ipynb.
    """
    from .nets import SimpleConvNet
    try:
        net = SimpleConvNet(input_dim=(1, input_size, input_size),
                            conv_param={"filter_num": filter_num, "filter_size": filter_size,
                                        "pad": pad, "stride": stride},
                            hidden_size=hidden_size, seed=seed)
    except (ValueError, TypeError) as e:
        why = str(e)
        if "kernel" in why and "padded input" in why and isinstance(filter_size, int) \
                and isinstance(stride, int) and filter_size <= input_size + 2 * pad and stride >= 1:
            OH = _conv_out(input_size, filter_size, stride, pad)
            why = (f"the conv output is {OH} x {OH}, too small for the 2 x 2 pooling window "
                   f"(needs at least 2 x 2); use a smaller filter or stride")
        return f"Invalid combination: {why}", None
    shapes = dict(net.shapes)
    _, OH, OW = shapes["Conv1"]
    _, PH, PW = shapes["Pool1"]
    lines = [f"Conv1:   OH = ({input_size} + 2*{pad} - {filter_size}) // {stride} + 1 = {OH}  "
             f"-> {filter_num} x {OH} x {OW}"]
    left = _uncovered(input_size, filter_size, stride, pad)
    if left:
        lines.append(f"         note: stride {stride} leaves the last {left} row(s) and column(s) "
                     f"of the input unseen")
    lines.append(f"Pool1:   {OH} // 2 = {PH}  -> {filter_num} x {PH} x {PW}"
                 + ("   (odd size: the last row/column is dropped)" if OH % 2 else ""))
    D = filter_num * PH * PW
    lines.append(f"Affine1: {filter_num}*{PH}*{PW} = {D} inputs -> {hidden_size} hidden units")
    lines.append(f"Affine2: {hidden_size} -> 10 class scores")
    n = sum(p.size for p in net.params.values())
    lines.append(f"Parameters: {n:,}")
    return "\n".join(lines), net


def train_briefly(filter_num, filter_size, stride, hidden_size, lr, data, epochs=1,
                  mini_batch_size=100, seed=0):
    """Build a SimpleConvNet with these hyperparameters, train it on ``data`` = (x_train,
    t_train, x_test, t_test) (a small subset) and return (text report, history or None).
    Seeded: the same arguments give the same numbers. Taught in notebooks/06_training.ipynb."""
    from .train import Trainer
    text, net = simple_convnet_view(filter_num, filter_size, stride, hidden_size, seed=seed)
    if net is None:
        return text, None
    if isinstance(lr, bool) or not isinstance(lr, (int, float, np.floating)) or not 0 < lr < np.inf:
        return f"Invalid learning rate {lr!r}: expected a positive number", None
    x_train, t_train, x_test, t_test = data
    h = Trainer(net, x_train, t_train, x_test, t_test, epochs=epochs, mini_batch_size=mini_batch_size,
                optimizer="adam", optimizer_param={"lr": float(lr)}, train_eval_size=len(x_train),
                seed=seed, verbose=False).train()
    report = (f"filters {filter_num}, size {filter_size}, stride {stride}, hidden {hidden_size}, "
              f"lr {lr:.0e}: after {epochs} epoch(s) on {len(x_train)} images, "
              f"train acc {h['train_acc'][-1]:.2f}, test acc {h['test_acc'][-1]:.2f} "
              f"({len(x_test)} test images)")
    return report, h


def hyperparameter_explorer(data, epochs=1):
    """Sliders for SimpleConvNet's filters, filter size, stride, hidden size and learning rate;
    the layer sizes update as you drag, and a button trains the net briefly on ``data`` (a small
    subset, see ``train_briefly``) and reports its accuracy. Taught in notebooks/06_training.ipynb."""
    from IPython.display import display
    sl = {k: widgets.IntSlider(value=d, min=lo, max=hi, step=st, description=k.replace("_", " "),
                               continuous_update=False)
          for k, (lo, hi, st, d) in SIMPLE_SLIDERS.items()}
    lr = widgets.FloatLogSlider(value=1e-3, base=10, min=-4, max=-1, step=0.25,
                                description="learning rate", readout_format=".0e",
                                continuous_update=False)
    style = {"description_width": "initial"}
    for w in list(sl.values()) + [lr]:
        w.style = style
    summary = widgets.Output()
    result = widgets.Output()
    button = widgets.Button(description="Train briefly", button_style="primary")

    def show_summary(_=None):
        text, _net = simple_convnet_view(**{k: w.value for k, w in sl.items()})
        summary.clear_output(wait=True)
        with summary:
            print(text)

    def on_click(_):
        result.clear_output(wait=True)
        with result:
            print("training ...")
        button.disabled = True
        try:
            text, _h = train_briefly(lr=lr.value, data=data, epochs=epochs,
                                     **{k: w.value for k, w in sl.items()})
        finally:
            button.disabled = False
        result.clear_output(wait=True)
        with result:
            print(text)

    for w in sl.values():
        w.observe(show_summary, names="value")
    button.on_click(on_click)
    show_summary()
    box = widgets.VBox([widgets.HBox([widgets.VBox(list(sl.values()) + [lr]), summary]),
                        button, result])
    display(box)
    return box


# -- lesson 7: feature maps of a chosen test digit (notebooks/07_what_the_network_sees.ipynb) --

def feature_map_view(net, x, t, index, layers=None, max_maps=8):
    """Text (label, prediction, each shown layer's shape) and the feature-map figure for test image
    ``index`` of ``x`` (labels ``t``). An index out of range is clipped into range and said so.
    Taught in notebooks/07_what_the_network_sees.ipynb."""
    n = len(x)
    note = ""
    if not 0 <= index < n:
        note = f" (index {index} is outside 0..{n - 1}; showing {min(max(index, 0), n - 1)})"
        index = min(max(index, 0), n - 1)
    maps = _plots.feature_maps(net, x[index])       # one forward pass: [(layer name, output), ...]
    scores = maps[-1][1]                             # the last layer's output: the class scores
    p = _softmax(scores)
    pred = int(p.argmax())
    text = (f"Test image #{index}{note}: label {int(t[index])}, predicted {pred} "
            f"(softmax {p[pred]:.2f})")
    fig = _plots.plot_feature_maps(net, x[index], layers=layers, max_maps=max_maps, maps=maps)
    return text, fig


def feature_map_explorer(net, x, t, layers=None, max_maps=8):
    """A slider over the test images; shows each image's feature maps layer by layer.
    Taught in notebooks/07_what_the_network_sees.ipynb."""

    def show(index):
        text, fig = feature_map_view(net, x, t, index, layers, max_maps)
        print(text)
        plt.show()

    return widgets.interact(show, index=widgets.IntSlider(0, 0, len(x) - 1, description="test image",
                                                          continuous_update=False))


def filter_response_explorer(W, b, x, filters=(0, 1, 2, 3, 4, 5)):
    """A slider over images: the chosen first-layer filters applied to each.
    Taught in notebooks/07_what_the_network_sees.ipynb."""

    def show(index):
        _plots.plot_filter_responses(W, b, x[index], filters)
        plt.show()

    return widgets.interact(show, index=widgets.IntSlider(0, 0, len(x) - 1, description="test image",
                                                          continuous_update=False))


# -- lesson 8: AlexNet's ingredients (notebooks/08_classic_cnns.ipynb) --

def dropout_view(ratio=0.5, seed=0, size=(6, 10)):
    """What Dropout does to a block of ones in training and at test time: (text, figure).
    Our Dropout is 'inverted': survivors are scaled by 1/(1 - ratio) so the mean stays 1 and the
    test pass is the identity. Taught in notebooks/08_classic_cnns.ipynb."""
    from .layers import Dropout
    if not (isinstance(ratio, (int, float)) and 0 <= ratio < 1):
        return f"Invalid ratio {ratio!r}: expected 0 <= ratio < 1", None
    d = Dropout(ratio, rng=seed)
    x = np.ones((1, 1) + tuple(size))                                        # (1, 1, H, W)
    y_train, y_test = d.forward(x, train_flg=True), d.forward(x, train_flg=False)
    kept = int(np.count_nonzero(y_train))
    text = (f"ratio {ratio:.2f}: training keeps {kept} of {x.size} units, each scaled to "
            f"{1 / (1 - ratio):.2f}; mean {y_train.mean():.2f}. Test: all {x.size} kept, mean "
            f"{y_test.mean():.2f}")
    fig, axes = plt.subplots(1, 2, figsize=(7, 2.2))
    vmax = 1 / (1 - ratio)
    for ax, y, name in ((axes[0], y_train, f"training: {kept} kept (x{1 / (1 - ratio):.2f}), "
                                           f"{x.size - kept} zeroed"),
                        (axes[1], y_test, "test: all kept, unscaled")):
        ax.imshow(y[0, 0], cmap="Greens", vmin=0, vmax=vmax)
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return text, fig


def dropout_explorer():
    """A ratio slider (and a seed slider) for ``dropout_view``. Taught in
    notebooks/08_classic_cnns.ipynb."""

    def show(ratio, seed):
        text, _fig = dropout_view(ratio, seed)
        print(text)
        plt.show()

    return widgets.interact(show, ratio=widgets.FloatSlider(0.5, min=0.0, max=0.9, step=0.1,
                                                            description="ratio",
                                                            continuous_update=False),
                            seed=widgets.IntSlider(0, 0, 9, description="seed",
                                                   continuous_update=False))


def lrn_view(alpha=1e-4, beta=0.75, k=2.0, n=5, values=(1.0, 2.0, 8.0, 2.0, 1.0, 0.5)):
    """Local response normalisation of one pixel across channels: (text table, scale factors).
    A channel whose neighbours are strong is damped more. Taught in notebooks/08_classic_cnns.ipynb."""
    from .layers import LRN
    try:
        layer = LRN(n=n, k=k, alpha=alpha, beta=beta)
    except ValueError as e:
        return f"Invalid LRN setting: {e}", None
    x = np.asarray(values, dtype=float).reshape(1, -1, 1, 1)                 # (1, C, 1, 1)
    y = layer.forward(x)
    ratio = (y / x)[0, :, 0, 0]
    rows = [f"LRN(n={n}, k={k:g}, alpha={alpha:g}, beta={beta:g})",
            "channel   input   output   output/input"]
    for c, (a, b, r) in enumerate(zip(x[0, :, 0, 0], y[0, :, 0, 0], ratio)):
        rows.append(f"{c:7d} {a:7.2f} {b:8.4f} {r:10.4f}")
    return "\n".join(rows), ratio


def lrn_explorer(values=(1.0, 2.0, 8.0, 2.0, 1.0, 0.5)):
    """Sliders for LRN's alpha (log scale) and beta on a fixed one-pixel example.
    Taught in notebooks/08_classic_cnns.ipynb."""

    def show(alpha, beta):
        print(lrn_view(alpha=alpha, beta=beta, values=values)[0])

    return widgets.interact(show, alpha=widgets.FloatLogSlider(1e-4, base=10, min=-5, max=1, step=0.5,
                                                               description="alpha",
                                                               continuous_update=False),
                            beta=widgets.FloatSlider(0.75, min=0.0, max=2.0, step=0.25,
                                                     description="beta", continuous_update=False))
