"""The implement-it checks (check_<name> in convlab.lessons.lesson02-05, on the machinery of
convlab.lessons.implement): each passes its worked solution, fails a stub with "not written yet",
quotes an exception, and fails typical wrong implementations, each with a hint that names its
mistake; nearly-right versions (wrong only with stride > 1, only with padding, only with several
channels...) fail at the first case that shows it. Every call prints exactly one line and never
raises.

The wrong implementations below are written as a learner would (loops), independently of the
deliberate mistakes the checks compute with convlab's layers."""
import re

import numpy as np
import pytest

from convlab.lessons import implement as im
from convlab.lessons import solutions as so
from convlab.lessons.lesson02 import check_conv2d_naive
from convlab.lessons.lesson03 import check_max_pool_naive
from convlab.lessons.lesson04 import check_col2im, check_im2col
from convlab.lessons.lesson05 import check_conv_backward, check_max_pool_backward
from check_line import run




def fails_with(check, fn, capsys, *phrases, case=None):
    ok, line = run(check, fn, capsys)
    assert not ok, line
    for p in phrases:
        assert p.lower() in line.lower(), f"{p!r} not in {line!r}"
    if case is not None:
        assert f"Case {case} of " in line, line
    return line


def pad0(x, p, value=0.0):
    return np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=value)


CHECKS = {name: globals()["check_" + name] for name in im.NAMES}


# ------------------------------------------------------------------- every check alike --

@pytest.mark.parametrize("name", im.NAMES)
def test_solution_passes(name, capsys):
    ok, line = run(CHECKS[name], getattr(so, name), capsys)
    assert ok and "cases" in line


@pytest.mark.parametrize("name", im.NAMES)
def test_stub_reads_not_written_yet(name, capsys):
    ns = {}
    exec(im.STUBS[name], {"np": np}, ns)           # the stub cell a notebook shows
    line = fails_with(CHECKS[name], ns[name], capsys, "not written yet")
    assert "Traceback" not in line


@pytest.mark.parametrize("name", im.NAMES)
def test_stub_docstring_names_every_shape(name):
    doc = im.STUBS[name]
    assert doc.startswith(f"def {name}(") and doc.rstrip().endswith("raise NotImplementedError")
    for sym in ("N", "C", "H", "W"):
        assert re.search(rf"\b{sym}\b", doc), sym
    assert "Returns" in doc


@pytest.mark.parametrize("name", im.NAMES)
def test_exception_is_quoted_with_its_line(name, capsys):
    def broken(*args, **kwargs):
        values = [1, 2, 3]
        return values[7]                            # IndexError in the learner's code
    line = fails_with(CHECKS[name], broken, capsys, "IndexError", "list index out of range",
                      "of broken", "values[7]", case=1)
    assert "Traceback" not in line


@pytest.mark.parametrize("name", im.NAMES)
def test_not_a_function(name, capsys):
    fails_with(CHECKS[name], np.zeros(3), capsys, "pass your function itself")


@pytest.mark.parametrize("name", im.NAMES)
def test_wrong_signature_is_quoted(name, capsys):
    def no_keywords(a, b, c, d=None):
        return None
    fails_with(CHECKS[name], no_keywords, capsys, "TypeError", "stride")


@pytest.mark.parametrize("name", im.NAMES)
@pytest.mark.parametrize("returned, phrase", [
    (None, "returned None"), ("text", "not a NumPy array"), ([1.0, 2.0], "returned a list")])
def test_non_array_returns(name, returned, phrase, capsys):
    if name == "conv_backward":
        phrase = "as a tuple (dx, dW, db)" if returned is not None and not isinstance(returned, list) \
            else "tuple (dx, dW, db)"
    fails_with(CHECKS[name], lambda *a, **k: returned, capsys, phrase)


@pytest.mark.parametrize("name", [n for n in im.NAMES if n != "conv_backward"])
def test_integer_dtype(name, capsys):
    sol = getattr(so, name)
    fails_with(CHECKS[name], lambda *a, **k: np.round(sol(*a, **k)).astype(int), capsys,
               "dtype int64", "fraction")


@pytest.mark.parametrize("name", [n for n in im.NAMES if n != "conv_backward"])
def test_float32(name, capsys):
    sol = getattr(so, name)
    fails_with(CHECKS[name], lambda *a, **k: sol(*a, **k).astype(np.float32), capsys,
               "dtype float32", "float64")


@pytest.mark.parametrize("name", [n for n in im.NAMES if n != "conv_backward"])
def test_nan(name, capsys):
    sol = getattr(so, name)

    def with_nan(*a, **k):
        out = sol(*a, **k)
        out.flat[-1] = np.nan                       # one cell left unfilled
        return out
    fails_with(CHECKS[name], with_nan, capsys, "holds nan", "unfilled", case=1)


@pytest.mark.parametrize("name", im.NAMES)
def test_modifying_the_input(name, capsys):
    sol = getattr(so, name)

    def modifies(*a, **k):
        out = sol(*a, **k)
        a[0][...] = 0                               # e.g. x[...] = ... on the learner's input
        return out
    first = {"col2im": "col"}.get(name, "x")
    fails_with(CHECKS[name], modifies, capsys, f"changed its input {first} in place", case=1)


@pytest.mark.parametrize("name", im.NAMES)
def test_case_reproduces_the_check(name):
    args, kwargs = im.case(name, 3)
    got = getattr(so, name)(*args, **kwargs)
    assert got is not None
    assert set(kwargs) == {"stride", "pad"}


def test_cases_cover_what_the_issue_asks():
    for name in im.NAMES:
        cases = im._CASES[name]()
        feats = set().union(*(c.features for c in cases))
        assert {"a non-square input", "several channels", "several images", "padding",
                "stride > 1", "overlapping windows"} <= feats, name
        assert cases[0].geo["S"] in (1, 2) and cases[0].geo["P"] == 0 and cases[0].geo["N"] == 1
        assert len(cases) >= 30
    assert "tied maxima" in set().union(*(c.features for c in im._CASES["max_pool_backward"]()))
    assert "several filters" in set().union(*(c.features for c in im._CASES["conv2d_naive"]()))


def test_case_features_name_overlap_on_either_axis():
    g = dict(N=1, C=1, H=6, W=6, FH=3, FW=2, S=2, P=0)
    assert "overlapping windows" in im._features(g)                      # rows overlap, columns not
    assert "overlapping windows" in im._features(dict(g, FH=2, FW=3))
    assert "overlapping windows" not in im._features(dict(g, FH=2, FW=2))


def test_cases_are_reproducible():
    a, b = im.case("conv2d_naive", 20), im.case("conv2d_naive", 20)
    assert all(np.array_equal(u, v) for u, v in zip(a[0], b[0]))


# ------------------------------------------------------------------ lesson 2: conv2d_naive --

def conv_loop(x, W, b, stride=1, pad=0, *, bias=True, flip=False, step=None, channel_assign=False,
              bias_per_channel=False, one_side_pad=False, ceil=False, no_pad=False,
              first_channel_weights=False, dtype=None):
    """A learner's loop convolution with one switchable mistake."""
    N, C, H, Wd = x.shape
    FN, _, FH, FW = W.shape
    p = 0 if no_pad else pad
    if ceil:
        OH, OW = -(-(H + 2 * p - FH) // stride) + 1, -(-(Wd + 2 * p - FW) // stride) + 1
    else:
        OH, OW = (H + 2 * p - FH) // stride + 1, (Wd + 2 * p - FW) // stride + 1
    if one_side_pad:
        xp = np.pad(x, ((0, 0), (0, 0), (0, 2 * p), (0, 2 * p)))
    else:
        xp = pad0(x, p)
    if ceil:                                        # room for the extra windows
        xp = np.pad(xp, ((0, 0), (0, 0), (0, FH + stride), (0, FW + stride)))
    K = W[:, :, ::-1, ::-1] if flip else W
    out = np.zeros((N, FN, OH, OW), dtype=dtype or x.dtype)
    s = stride if step is None else step
    for n in range(N):
        for f in range(FN):
            for oy in range(OH):
                for ox in range(OW):
                    y, xx = oy * s, ox * s
                    if channel_assign or bias_per_channel:
                        for c in range(C):
                            v = np.sum(xp[n, c, y:y + FH, xx:xx + FW] * K[f, c])
                            if channel_assign:
                                out[n, f, oy, ox] = v + b[f]
                            else:
                                out[n, f, oy, ox] += v + b[f]
                        continue
                    Kf = np.broadcast_to(K[f, :1], K[f].shape) if first_channel_weights else K[f]
                    out[n, f, oy, ox] = np.sum(xp[n, :, y:y + FH, xx:xx + FW] * Kf) + (b[f] if bias else 0)
    return out


def conv_out_per_channel(x, W, b, stride=1, pad=0):
    N, C, H, Wd = x.shape
    FN, _, FH, FW = W.shape
    OH, OW = (H + 2 * pad - FH) // stride + 1, (Wd + 2 * pad - FW) // stride + 1
    out = np.zeros((N, C, OH, OW))                 # C where FN belongs
    for n in range(N):
        for f in range(FN):
            out[n, f] = conv_loop(x[n:n + 1], W[f:f + 1], b[f:f + 1], stride, pad)[0, 0]
    return out


@pytest.mark.parametrize("kw, phrases, case", [
    ({}, (), None),                                                     # the harness itself
    ({"bias": False}, ("bias forgotten",), 1),
    ({"flip": True}, ("kernel flipped", "cross-correlation"), 1),
    ({"channel_assign": True}, ("only the last channel",), 4),
    ({"bias_per_channel": True}, ("bias added once per channel",), 4),
    ({"step": 1}, ("stride ignored inside the loop",), 7),               # nearly right: stride
    ({"one_side_pad": True}, ("padding on one side only",), 6),          # nearly right: padding
    ({"no_pad": True}, ("padding ignored in the output size", "expected out of shape"), 6),
    ({"ceil": True}, ("round down",), None),
    ({"first_channel_weights": True}, ("differs from convlab's at index", "several channels"), 4),
    ({"dtype": np.float32}, ("dtype float32",), 1),
])
def test_conv2d_mistakes(kw, phrases, case, capsys):
    fn = lambda x, W, b, stride=1, pad=0: conv_loop(x, W, b, stride, pad, **kw)  # noqa: E731
    if not kw:
        assert run(check_conv2d_naive, fn, capsys)[0]
        return
    fails_with(check_conv2d_naive, fn, capsys, *phrases, case=case)


def test_conv2d_output_per_channel_is_an_exception_quoted(capsys):
    # out made (N, C, OH, OW): with FN = 3 > C = 1 the learner's own line raises
    fails_with(check_conv2d_naive, conv_out_per_channel, capsys, "IndexError",
               "out[n, f] = ", "the first with several filters", case=3)


def test_conv2d_wrong_first_axis_shape(capsys):
    fn = lambda x, W, b, stride=1, pad=0: so.conv2d_naive(x, W, b, stride, pad)[0]  # noqa: E731
    fails_with(check_conv2d_naive, fn, capsys, "4-D", "expected out of shape (N, FN, OH, OW)", case=1)


def test_conv2d_returns_channels_instead_of_filters(capsys):
    def fn(x, W, b, stride=1, pad=0):
        out = so.conv2d_naive(x, W, b, stride, pad)
        return np.repeat(out[:, :1], x.shape[1], axis=1)                # (N, C, OH, OW)
    fails_with(check_conv2d_naive, fn, capsys, "one channel per filter", "not C")


# ------------------------------------------------------------------ lesson 3: max_pool_naive --

def pool_loop(x, ph, pw, stride=1, pad=0, *, pad_value=-np.inf, reduce=np.max, step=None,
              stride_is_window=False, no_pad=False, across_channels=False, swap=False):
    N, C, H, W = x.shape
    if swap:
        ph, pw = pw, ph
    s = (ph if stride_is_window else stride)
    p = 0 if no_pad else pad
    OH, OW = (H + 2 * p - ph) // s + 1, (W + 2 * p - pw) // s + 1
    xp = pad0(x, p, pad_value)
    out = np.zeros((N, C, OH, OW))
    st = s if step is None else step
    for n in range(N):
        for c in range(C):
            for oy in range(OH):
                for ox in range(OW):
                    y, xx = oy * st, ox * st
                    if across_channels:
                        out[n, c, oy, ox] = reduce(xp[n, :, y:y + ph, xx:xx + pw])
                    else:
                        out[n, c, oy, ox] = reduce(xp[n, c, y:y + ph, xx:xx + pw])
    return out


@pytest.mark.parametrize("kw, phrases, case", [
    ({}, (), None),
    ({"pad_value": 0.0}, ("padded with 0 instead of -inf",), 6),        # nearly right: padding
    ({"reduce": np.mean}, ("mean of each window",), 1),
    ({"step": 1}, ("stride ignored inside the loop",), 1),
    ({"stride_is_window": True}, ("stride taken equal to the window", "expected out of shape"), 2),
    ({"no_pad": True}, ("padding ignored in the output size",), 6),
    ({"across_channels": True}, ("across channels",), 4),               # nearly right: C > 1
    ({"swap": True}, ("window height and width swapped",), 3),
])
def test_max_pool_mistakes(kw, phrases, case, capsys):
    fn = lambda x, ph, pw, stride=1, pad=0: pool_loop(x, ph, pw, stride, pad, **kw)  # noqa: E731
    if not kw:
        assert run(check_max_pool_naive, fn, capsys)[0]
        return
    fails_with(check_max_pool_naive, fn, capsys, *phrases, case=case)


def test_max_pool_pads_with_minus_inf_in_its_docstring():
    assert "-inf" in im.STUBS["max_pool_naive"] and "-inf" in check_max_pool_naive.__doc__


# ---------------------------------------------------------------------- lesson 4: im2col --

def im2col_loop(x, fh, fw, stride=1, pad=0, *, order="n oy ox c i j", step=None, one_side_pad=False,
                transpose=False, six_d=False):
    """A learner's im2col by loops; ``order`` is the axis order of the 6-D array it reshapes."""
    N, C, H, W = x.shape
    OH, OW = (H + 2 * pad - fh) // stride + 1, (W + 2 * pad - fw) // stride + 1
    xp = np.pad(x, ((0, 0), (0, 0), (0, 2 * pad), (0, 2 * pad))) if one_side_pad else pad0(x, pad)
    a = np.zeros((N, OH, OW, C, fh, fw))
    s = stride if step is None else step
    for n in range(N):
        for oy in range(OH):
            for ox in range(OW):
                a[n, oy, ox] = xp[n, :, oy * s:oy * s + fh, ox * s:ox * s + fw]
    if six_d:
        return a
    src = "n oy ox c i j".split()
    a = a.transpose([src.index(k) for k in order.split()])
    col = a.reshape(N * OH * OW, -1)
    return col.T.copy() if transpose else col


def im2col_no_transpose(x, fh, fw, stride=1, pad=0):
    """The book's im2col with the final transpose forgotten."""
    N, C, H, W = x.shape
    OH, OW = (H + 2 * pad - fh) // stride + 1, (W + 2 * pad - fw) // stride + 1
    xp = pad0(x, pad)
    col = np.zeros((N, C, fh, fw, OH, OW))
    for i in range(fh):
        for j in range(fw):
            col[:, :, i, j] = xp[:, :, i:i + stride * OH:stride, j:j + stride * OW:stride]
    return col.reshape(N * OH * OW, -1)


@pytest.mark.parametrize("kw, phrases, case", [
    ({}, (), None),
    ({"transpose": True}, ("transposed", "one ROW per output position"), 1),
    ({"order": "n oy ox i j c"}, ("columns in (FH, FW, C) order",), 3),   # nearly right: C > 1
    ({"order": "n oy ox c j i"}, ("flattened column by column",), 1),
    ({"order": "n ox oy c i j"}, ("rows in the wrong order", "ox runs fastest"), 1),
    ({"order": "oy ox n c i j"}, ("rows in the wrong order", "images first"), 4),
    ({"step": 1}, ("stride ignored",), 6),                                # nearly right: stride
    ({"one_side_pad": True}, ("padding on one side only",), 5),           # nearly right: padding
    ({"six_d": True}, ("still 6-D",), 1),
])
def test_im2col_mistakes(kw, phrases, case, capsys):
    fn = lambda x, fh, fw, stride=1, pad=0: im2col_loop(x, fh, fw, stride, pad, **kw)  # noqa: E731
    if not kw:
        assert run(check_im2col, fn, capsys)[0]
        return
    fails_with(check_im2col, fn, capsys, *phrases, case=case)


def test_im2col_reshape_without_transpose(capsys):
    fails_with(check_im2col, im2col_no_transpose, capsys, "reshaped without moving the axes", case=1)


def test_im2col_padding_ignored(capsys):
    def no_pad(x, fh, fw, stride=1, pad=0):
        return so.im2col(x, fh, fw, stride, 0)
    fails_with(check_im2col, no_pad, capsys, "padding ignored in the output size",
               "expected col of shape (N*OH*OW, C*FH*FW) = (25, 9), got (9, 9)", case=5)


# ---------------------------------------------------------------------- lesson 4: col2im --

def col2im_loop(col, shape, fh, fw, stride=1, pad=0, *, assign=False, crop="pad", step=None,
                average=False, cols="c i j"):
    """A learner's col2im, window by window."""
    N, C, H, W = shape
    OH, OW = (H + 2 * pad - fh) // stride + 1, (W + 2 * pad - fw) // stride + 1
    sizes = {"c": C, "i": fh, "j": fw}
    a = col.reshape([N, OH, OW] + [sizes[k] for k in cols.split()])
    a = a.transpose([0, 1, 2] + [3 + cols.split().index(k) for k in "c i j".split()])
    img = np.zeros((N, C, H + 2 * pad, W + 2 * pad))
    count = np.zeros_like(img)
    s = stride if step is None else step
    for n in range(N):
        for oy in range(OH):
            for ox in range(OW):
                sl = (n, slice(None), slice(oy * s, oy * s + fh), slice(ox * s, ox * s + fw))
                if assign:
                    img[sl] = a[n, oy, ox]
                else:
                    img[sl] += a[n, oy, ox]
                count[sl] += 1
    if average:
        img = img / np.maximum(count, 1)
    if crop == "none":
        return img
    if crop == "start":
        return img[:, :, :H, :W]
    return img[:, :, pad:pad + H, pad:pad + W]


def col2im_book_assign(col, shape, fh, fw, stride=1, pad=0):
    """The book's vectorised col2im with = instead of +=."""
    N, C, H, W = shape
    OH, OW = (H + 2 * pad - fh) // stride + 1, (W + 2 * pad - fw) // stride + 1
    c = col.reshape(N, OH, OW, C, fh, fw).transpose(0, 3, 4, 5, 1, 2)
    img = np.zeros((N, C, H + 2 * pad + stride - 1, W + 2 * pad + stride - 1))
    for y in range(fh):
        for x in range(fw):
            img[:, :, y:y + stride * OH:stride, x:x + stride * OW:stride] = c[:, :, y, x, :, :]
    return img[:, :, pad:H + pad, pad:W + pad]


@pytest.mark.parametrize("kw, phrases, case", [
    ({}, (), None),
    ({"assign": True}, ("assigned instead of summed", "+="), 1),
    ({"average": True}, ("averaged", "not its inverse"), 1),
    ({"crop": "none"}, ("padding is still there", "expected img of shape (N, C, H, W)"), 5),
    ({"crop": "start"}, ("cut off at the wrong place",), 5),
    ({"step": 1}, ("stride ignored",), 6),
    ({"cols": "i j c"}, ("(FH, FW, C) order",), 3),
    ({"cols": "c j i"}, ("column by column",), 1),
])
def test_col2im_mistakes(kw, phrases, case, capsys):
    fn = lambda col, shape, fh, fw, stride=1, pad=0: col2im_loop(col, shape, fh, fw, stride, pad, **kw)  # noqa: E731
    if not kw:
        assert run(check_col2im, fn, capsys)[0]
        return
    fails_with(check_col2im, fn, capsys, *phrases, case=case)


def test_col2im_book_with_assignment(capsys):
    fails_with(check_col2im, col2im_book_assign, capsys, "assigned instead of summed", case=1)


def test_col2im_overwriting_is_wrong_only_where_windows_overlap():
    rng = np.random.default_rng(0)
    col = rng.standard_normal((4, 4))                      # 2x2 filter, stride 2: no overlap
    np.testing.assert_allclose(im.col2im_overwriting(col, (1, 1, 4, 4), 2, 2, 2, 0),
                               so.col2im(col, (1, 1, 4, 4), 2, 2, 2, 0))
    col = rng.standard_normal((9, 4))                      # stride 1: overlaps
    assert not np.allclose(im.col2im_overwriting(col, (1, 1, 4, 4), 2, 2, 1, 0),
                           so.col2im(col, (1, 1, 4, 4), 2, 2, 1, 0))


# --------------------------------------------------------------- lesson 5: conv_backward --

def conv_backward_loop(x, W, b, dout, stride=1, pad=0, *, dx_assign=False, dW_per_image=False,
                       dW_mean=False, db_first_image=False, db_axis0=False, db_mean=False,
                       dx_flip=False, dx_uncropped=False, dx_step=None, order="dx dW db", db_zero=False):
    N, C, H, Wd = x.shape
    FN, _, FH, FW = W.shape
    OH, OW = dout.shape[2:]
    xp = pad0(x, pad)
    dxp = np.zeros_like(xp)
    dW = np.zeros_like(W)
    K = W[:, :, ::-1, ::-1] if dx_flip else W
    s = stride if dx_step is None else dx_step
    for n in range(N):
        if dW_per_image:
            dW = np.zeros_like(W)                  # reset for every image: only the last counts
        for f in range(FN):
            for oy in range(OH):
                for ox in range(OW):
                    y, xx = oy * stride, ox * stride
                    g = dout[n, f, oy, ox]
                    dW[f] += g * xp[n, :, y:y + FH, xx:xx + FW]
                    ys, xs = oy * s, ox * s
                    if dx_assign:
                        dxp[n, :, ys:ys + FH, xs:xs + FW] = g * K[f]
                    else:
                        dxp[n, :, ys:ys + FH, xs:xs + FW] += g * K[f]
    if dW_mean:
        dW = dW / N
    db = dout.sum(axis=(0, 2, 3))
    if db_first_image:
        db = dout[0].sum(axis=(1, 2))
    if db_axis0:
        db = dout.sum(axis=0)
    if db_mean:
        db = dout.mean(axis=(0, 2, 3))
    if db_zero:
        db = np.zeros_like(b)
    dx = dxp if dx_uncropped else dxp[:, :, pad:pad + H, pad:pad + Wd]
    got = {"dx": dx, "dW": dW, "db": db}
    return tuple(got[k] for k in order.split())


@pytest.mark.parametrize("kw, phrases, case", [
    ({}, (), None),
    ({"dx_assign": True}, ("dx: overlapping windows assigned instead of summed", "dW and db are right"), 1),
    ({"dW_per_image": True}, ("dW: only the last image counts", "dx and db are right"), 5),   # nearly right: N > 1
    ({"dW_mean": True}, ("dW: divided by N",), 5),
    ({"db_first_image": True}, ("db: only the first image counts", "dx and dW are right"), 5),
    ({"db_axis0": True}, ("db not summed over N, OH and OW", "expected db of shape (FN,)"), 1),
    ({"db_mean": True}, ("db: averaged",), 1),
    ({"db_zero": True}, ("db is all zeros",), 1),
    ({"dx_flip": True}, ("dx: kernel flipped",), 1),
    ({"dx_uncropped": True}, ("dx: the padding is still there",), 6),              # nearly right: padding
    ({"dx_step": 1}, ("dx: stride ignored",), 7),                                   # nearly right: stride
    ({"order": "dW dx db"}, ("return (dx, dW, db) in this order", "(dW, dx, db)"), 1),
])
def test_conv_backward_mistakes(kw, phrases, case, capsys):
    fn = lambda x, W, b, dout, stride=1, pad=0: conv_backward_loop(x, W, b, dout, stride, pad, **kw)  # noqa: E731
    if not kw:
        assert run(check_conv_backward, fn, capsys)[0]
        return
    fails_with(check_conv_backward, fn, capsys, *phrases, case=case)


def test_conv_backward_returns_only_dx(capsys):
    fn = lambda x, W, b, dout, stride=1, pad=0: so.conv_backward(x, W, b, dout, stride, pad)[0]  # noqa: E731
    fails_with(check_conv_backward, fn, capsys, "as a tuple (dx, dW, db)", "ndarray")


def test_conv_backward_gradient_left_none(capsys):
    def fn(x, W, b, dout, stride=1, pad=0):
        dx, dW, db = so.conv_backward(x, W, b, dout, stride, pad)
        return dx, None, db
    fails_with(check_conv_backward, fn, capsys, "dW is None", case=1)
    fails_with(check_conv_backward, lambda *a, **k: (None, None, None), capsys,
               "dx, dW and db are None")


def test_conv_backward_dW_in_column_form(capsys):
    def fn(x, W, b, dout, stride=1, pad=0):
        dx, dW, db = so.conv_backward(x, W, b, dout, stride, pad)
        return dx, dW.reshape(W.shape[0], -1), db
    fails_with(check_conv_backward, fn, capsys, "dW still in column form", "dx and db are right")


def test_conv_backward_float32_dW(capsys):
    def fn(x, W, b, dout, stride=1, pad=0):
        dx, dW, db = so.conv_backward(x, W, b, dout, stride, pad)
        return dx, dW.astype(np.float32), db
    fails_with(check_conv_backward, fn, capsys, "dW has dtype float32")


# ----------------------------------------------------------- lesson 5: max_pool_backward --

def pool_backward_loop(x, dout, ph, pw, stride=1, pad=0, *, to_all=False, spread=False, assign=False,
                       ties="first", pad_value=-np.inf, ones=False, step=None, crop="pad",
                       shape_of_dout=False):
    N, C, H, W = x.shape
    OH, OW = dout.shape[2:]
    xp = pad0(x, pad, pad_value)
    dxp = np.zeros_like(xp)
    s = stride if step is None else step
    for n in range(N):
        for c in range(C):
            for oy in range(OH):
                for ox in range(OW):
                    y, xx = oy * s, ox * s
                    win = xp[n, c, y:y + ph, xx:xx + pw]
                    g = 1.0 if ones else dout[n, c, oy, ox]
                    if to_all:
                        dxp[n, c, y:y + ph, xx:xx + pw] += g
                        continue
                    if spread:
                        dxp[n, c, y:y + ph, xx:xx + pw] += g / (ph * pw)
                        continue
                    if ties == "all":
                        dxp[n, c, y:y + ph, xx:xx + pw] += g * (win == win.max())
                        continue
                    flat = win.ravel()
                    k = int(np.argmax(flat)) if ties == "first" else len(flat) - 1 - int(np.argmax(flat[::-1]))
                    i, j = divmod(k, pw)
                    if assign:
                        dxp[n, c, y + i, xx + j] = g
                    else:
                        dxp[n, c, y + i, xx + j] += g
    if shape_of_dout:
        return dout * 0 + 1.0
    if crop == "none":
        return dxp
    if crop == "start":
        return dxp[:, :, :H, :W]
    return dxp[:, :, pad:pad + H, pad:pad + W]


@pytest.mark.parametrize("kw, phrases, case", [
    ({}, (), None),
    ({"to_all": True}, ("gradient sent to every cell of the window",), 1),
    ({"spread": True}, ("spread evenly", "average pooling"), 1),
    ({"assign": True}, ("assigned instead of summed",), 2),             # nearly right: overlaps
    ({"ties": "all"}, ("every tied maximum", "FIRST maximum"), 8),       # nearly right: ties
    ({"ties": "last"}, ("LAST maximum",), 8),
    ({"pad_value": 0.0}, ("padded with 0 instead of -inf",), 6),        # nearly right: padding
    ({"ones": True}, ("receives 1 instead of dout",), 1),
    ({"step": 1}, ("stride ignored",), 1),
    ({"crop": "none"}, ("padding is still there",), 6),
    ({"crop": "start"}, ("cut off at the wrong place",), 6),
    ({"shape_of_dout": True}, ("x's shape, not dout's",), 1),
])
def test_max_pool_backward_mistakes(kw, phrases, case, capsys):
    fn = lambda x, dout, ph, pw, stride=1, pad=0: pool_backward_loop(x, dout, ph, pw, stride, pad, **kw)  # noqa: E731
    if not kw:
        assert run(check_max_pool_backward, fn, capsys)[0]
        return
    fails_with(check_max_pool_backward, fn, capsys, *phrases, case=case)


def test_max_pool_backward_whole_window_assignment(capsys):
    def fn(x, dout, ph, pw, stride=1, pad=0):
        N, C, H, W = x.shape
        OH, OW = dout.shape[2:]
        xp = pad0(x, pad, -np.inf)
        dxp = np.zeros_like(xp)
        for n in range(N):
            for c in range(C):
                for oy in range(OH):
                    for ox in range(OW):
                        y, xx = oy * stride, ox * stride
                        win = xp[n, c, y:y + ph, xx:xx + pw]
                        mask = np.zeros(win.shape)
                        mask.flat[np.argmax(win)] = 1
                        dxp[n, c, y:y + ph, xx:xx + pw] = mask * dout[n, c, oy, ox]   # = wipes
        return dxp[:, :, pad:pad + H, pad:pad + W]
    fails_with(check_max_pool_backward, fn, capsys, "assigned instead of summed", case=2)


# ------------------------------------------------------------------------- solutions --

def test_show_prints_the_source(capsys):
    for name in so.NAMES:
        so.show(name)
        out = capsys.readouterr().out
        assert out.startswith(f"def {name}(") and "return" in out
    with pytest.raises(ValueError, match="name must be one of"):
        so.show("conv3d")


def test_solutions_and_exercises_share_names():
    assert so.NAMES == im.NAMES


def test_convlab_exercises_gathers_the_six_checks_and_every_solution_passes(capsys):
    """The issue's import path: convlab.exercises.check_<name> for each implement-it exercise."""
    import convlab.exercises as exercises
    from convlab.lessons import solutions
    layer_checks = ["check_convolution_layer", "check_pooling_layer"]      # lesson 10's classes
    assert sorted(exercises.__all__) == sorted([f"check_{n}" for n in solutions.NAMES] + layer_checks)
    for name in solutions.NAMES:
        assert getattr(exercises, f"check_{name}")(getattr(solutions, name)) is True
    assert capsys.readouterr().out.count("PASS") == len(solutions.NAMES)


# ------------------------------------------------- the learner's code cannot escape a check --

def _alarm_free():
    import signal
    return signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0) if hasattr(signal, "setitimer") else True


def exits_builtin(*a, **k):
    exit()                                          # Python's own exit(): closes stdin, SystemExit


def raises_system_exit(*a, **k):
    raise SystemExit(0)


def calls_sys_exit(*a, **k):
    import sys
    sys.exit("done")


@pytest.mark.parametrize("name", im.NAMES)
@pytest.mark.parametrize("fn, said", [(exits_builtin, "SystemExit(None)"),
                                      (raises_system_exit, "SystemExit(0)"),
                                      (calls_sys_exit, "SystemExit('done')")])
def test_exit_is_a_fail_not_the_end(name, fn, said, capsys):
    import builtins
    before = builtins.exit
    line = fails_with(CHECKS[name], fn, capsys, "tried to end the program", said, "`return`",
                      f"of {fn.__name__}", case=1)
    assert "Traceback" not in line
    assert builtins.exit is before                  # put back after the check


def test_ipython_exit_in_the_notebook_namespace_is_caught(capsys):
    """In a notebook, ``exit`` is IPython's, which does not raise but shuts the kernel down a
    moment later: while the check runs, the learner's ``exit`` raises SystemExit instead."""
    asked = []

    class ExitAutocall:                             # what IPython puts into the user namespace
        def __call__(self):
            asked.append(True)
    ns = {"exit": ExitAutocall(), "quit": ExitAutocall()}
    exec("def conv2d_naive(x, W, b, stride=1, pad=0):\n    exit()\n", ns)
    before = ns["exit"]
    fails_with(check_conv2d_naive, ns["conv2d_naive"], capsys, "tried to end the program", case=1)
    assert asked == [] and ns["exit"] is before


@pytest.mark.parametrize("name", im.NAMES)
def test_ctrl_c_stops_the_check_with_one_line(name, capsys):
    def interrupted(*a, **k):
        raise KeyboardInterrupt                     # what Ctrl-C or the stop button raises
    fails_with(CHECKS[name], interrupted, capsys, "interrupted (Ctrl-C", case=1)


def forever(*a, **k):
    while True:
        pass


def swallows_once(*a, **k):
    try:
        while True:
            pass
    except BaseException:                           # the learner's catch-all: a second loop
        pass
    while True:
        pass


@pytest.mark.parametrize("way", ["alarm", "trace"])
@pytest.mark.parametrize("name", ["conv2d_naive", "max_pool_backward"])
def test_a_loop_that_never_ends_is_stopped(name, way, monkeypatch, capsys):
    """SIGALRM where there is one (a Unix main thread), else a trace hook (Windows, Pyodide):
    both stop the loop and say where it was; neither leaves anything behind."""
    import signal
    import sys
    if way == "alarm" and not (hasattr(signal, "setitimer") and _alarm_free()):
        pytest.skip("no free SIGALRM timer here")
    if way == "trace":
        if sys.gettrace() is not None:
            pytest.skip("a debugger or coverage tool traces this run")
        monkeypatch.setattr(im, "_alarm_usable", lambda: False)
    handler = signal.getsignal(signal.SIGALRM) if hasattr(signal, "SIGALRM") else None
    monkeypatch.setattr(im, "TIME_LIMIT", 0.3)
    fails_with(CHECKS[name], forever, capsys, "still running after 0.3 s", "line", "of forever",
               "loop that never ends", case=1)
    assert sys.gettrace() is None
    if handler is not None:
        assert signal.getsignal(signal.SIGALRM) is handler and _alarm_free()


def test_the_alarm_comes_again_if_the_learner_catches_it(monkeypatch, capsys):
    import signal
    if not (hasattr(signal, "setitimer") and im._alarm_usable()):
        pytest.skip("no SIGALRM here")
    monkeypatch.setattr(im, "TIME_LIMIT", 0.2)
    fails_with(check_conv2d_naive, swallows_once, capsys, "still running", case=1)


def test_no_time_limit_under_a_debugger_and_its_hook_is_kept(monkeypatch, capsys):
    """Where neither way is possible (no signals, and a debugger already tracing) the check runs
    without a limit rather than break the debugger."""
    import sys
    monkeypatch.setattr(im, "_alarm_usable", lambda: False)
    calls = []

    def debugger(frame, event, arg):
        calls.append(event)
        return None                                 # no line events: cheap
    previous = sys.gettrace()
    sys.settrace(debugger)
    try:
        ok, _ = run(check_im2col, so.im2col, capsys)
        assert sys.gettrace() is debugger
    finally:
        sys.settrace(previous)
    assert ok and calls


def test_call_returns_the_result_or_why():
    assert im.call(lambda a, b=1: a + b, 2, b=3) == (5, None)
    got, why = im.call(raises_system_exit)
    assert got is None and "SystemExit(0)" in why


def test_answer_check_turns_exit_and_ctrl_c_into_one_line(capsys):
    from convlab.lessons.check import answer_check

    @answer_check
    def check_thing(answer):
        return answer()                             # e.g. a check that reads a learner's object
    for fn, phrase in [(raises_system_exit, "tried to end the program"),
                       (lambda: (_ for _ in ()).throw(KeyboardInterrupt), "interrupted")]:
        assert check_thing(fn) is False
        out = capsys.readouterr().out
        assert out.count("\n") == 1 and out.startswith("FAIL: ") and phrase in out, out


# ------------------------------------------------------------ a near miss is refused --

def _nudged(name, how, part=0):
    """The worked solution with its result (or, for conv_backward, result ``part``) off by a
    little: scaled by 1 + 1e-6 or 1 + 1e-8, or its last element nudged by 1e-6."""
    sol = getattr(so, name)

    def nudge(a):
        a = a.copy()
        if how == "scaled 1e-6":
            return a * (1 + 1e-6)
        if how == "scaled 1e-8":
            return a * (1 + 1e-8)
        a.flat[-1] += 1e-6 * max(1.0, abs(a.flat[-1]))
        return a

    def fn(*a, **k):
        out = sol(*a, **k)
        if name == "conv_backward":
            return tuple(nudge(o) if i == part else o for i, o in enumerate(out))
        return nudge(out)
    return fn


NEAR_MISSES = [(name, how, part) for name in im.NAMES
               for how in ("scaled 1e-6", "scaled 1e-8", "last element + 1e-6")
               for part in (range(3) if name == "conv_backward" else [0])]


@pytest.mark.parametrize("name, how, part", NEAR_MISSES)
def test_a_near_miss_is_refused(name, how, part, capsys):
    """The issue's planted bug: a check accepted results off by 1e-4. Every check now refuses a
    result off by 1e-6 (or 1e-8) and says it is nearly right."""
    line = fails_with(CHECKS[name], _nudged(name, how, part), capsys, "nearly right")
    if name == "conv_backward":
        assert ("dx", "dW", "db")[part] + " is nearly right" in line, line


def conv_reversed(x, W, b, stride=1, pad=0):
    """Right, summing one product at a time in reverse order: another float64 rounding."""
    N, C, H, Wd = x.shape
    FN, _, FH, FW = W.shape
    OH, OW = (H + 2 * pad - FH) // stride + 1, (Wd + 2 * pad - FW) // stride + 1
    xp = pad0(x, pad)
    out = np.zeros((N, FN, OH, OW))
    for n in range(N):
        for f in range(FN):
            for oy in range(OH):
                for ox in range(OW):
                    s = b[f]
                    for c in reversed(range(C)):
                        for i in reversed(range(FH)):
                            for j in reversed(range(FW)):
                                s += xp[n, c, oy * stride + i, ox * stride + j] * W[f, c, i, j]
                    out[n, f, oy, ox] = s
    return out


def conv_backward_reversed(x, W, b, dout, stride=1, pad=0):
    """Right, accumulating the output cells in reverse order."""
    N, C, H, Wd = x.shape
    FN, _, FH, FW = W.shape
    OH, OW = dout.shape[2:]
    xp = pad0(x, pad)
    dxp, dW, db = np.zeros_like(xp), np.zeros_like(W), np.zeros_like(b)
    for n in reversed(range(N)):
        for f in reversed(range(FN)):
            for oy in reversed(range(OH)):
                for ox in reversed(range(OW)):
                    d, y, xx = dout[n, f, oy, ox], oy * stride, ox * stride
                    db[f] += d
                    dW[f] += d * xp[n, :, y:y + FH, xx:xx + FW]
                    dxp[n, :, y:y + FH, xx:xx + FW] += d * W[f]
    return dxp[:, :, pad:pad + H, pad:pad + Wd], dW, db


@pytest.mark.parametrize("check, fn", [(check_conv2d_naive, conv_reversed),
                                       (check_conv_backward, conv_backward_reversed)])
def test_the_tolerance_leaves_room_for_float64_rounding(check, fn, capsys):
    """Tight, not too tight: sums in another order (different rounding) still pass."""
    assert run(check, fn, capsys)[0]
