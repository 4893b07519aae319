"""Output-size arithmetic for convolution and pooling.

Taught in ``notebooks/01_output_size.ipynb``.

The convention is the one PyTorch, TensorFlow ('VALID' after explicit padding) and the book use::

    OH = floor((H + 2*P - D*(FH - 1) - 1) / S) + 1

With dilation D = 1 this is the book's ``OH = (H + 2P - FH) / S + 1``, rounded down. When the
division is not exact, the last ``(H + 2P - FH) % S`` rows of the padded input are never covered
by any window; ``uncovered()`` reports how many, and ``strict=True`` refuses such a configuration.
"""
from __future__ import annotations

import numbers

__all__ = ["conv_output_size", "conv_output_size_2d", "uncovered", "pair", "check_int"]


def check_int(name: str, value, minimum: int) -> int:
    """Return ``value`` as an int, or raise a ValueError naming ``name``, its value and the bound."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r} "
                         f"({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def pair(name: str, value, minimum: int) -> tuple[int, int]:
    """Accept an int (same for both axes) or a pair ``(h, w)``; validate each with ``check_int``."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair (h, w), got {value!r}")
        return (check_int(f"{name}[0]", value[0], minimum), check_int(f"{name}[1]", value[1], minimum))
    v = check_int(name, value, minimum)
    return (v, v)


def _span(size: int, kernel: int, pad: int, dilation: int, names=("size", "kernel")) -> tuple[int, int]:
    """(padded size, effective kernel extent) after validating that the window fits."""
    padded = size + 2 * pad
    extent = dilation * (kernel - 1) + 1
    if extent > padded:
        what = f"{names[1]} {kernel}" + (f" (extent {extent} with dilation {dilation})" if dilation > 1 else "")
        raise ValueError(f"{what} is larger than the padded input: {names[0]} {size} + 2*pad {pad} = "
                         f"{padded}; expected {names[1]} <= {padded}")
    return padded, extent


def conv_output_size(size, kernel, stride=1, pad=0, dilation=1, strict=False) -> int:
    """Output length along one axis: ``floor((size + 2*pad - dilation*(kernel-1) - 1)/stride) + 1``.

    ``strict=True`` raises ValueError when the windows leave rows/columns of the padded input
    uncovered (the division is not exact) and says how many.

    >>> conv_output_size(4, 3, stride=1, pad=1)
    4
    >>> conv_output_size(7, 3, stride=2)
    3
    """
    size = check_int("size", size, 1)
    kernel = check_int("kernel", kernel, 1)
    stride = check_int("stride", stride, 1)
    pad = check_int("pad", pad, 0)
    dilation = check_int("dilation", dilation, 1)
    padded, extent = _span(size, kernel, pad, dilation)
    out = (padded - extent) // stride + 1
    if strict:
        left = (padded - extent) % stride
        if left:
            raise ValueError(
                f"stride {stride} does not fit: (size {size} + 2*pad {pad} - extent {extent}) = "
                f"{padded - extent} is not a multiple of stride {stride}; the last {left} "
                f"row(s)/column(s) of the padded input are not covered by any window")
    return out


def uncovered(size, kernel, stride=1, pad=0, dilation=1) -> int:
    """How many trailing rows (or columns) of the padded input no window touches (0 if none)."""
    conv_output_size(size, kernel, stride, pad, dilation)  # validates
    extent = dilation * (kernel - 1) + 1
    return (size + 2 * pad - extent) % stride


def conv_output_size_2d(input_hw, kernel, stride=1, pad=0, dilation=1, strict=False) -> tuple[int, int]:
    """(OH, OW) for an input (H, W). kernel, stride, pad and dilation are ints or (h, w) pairs.

    >>> conv_output_size_2d((28, 31), 5, stride=3, pad=2)
    (10, 11)
    """
    if not isinstance(input_hw, (tuple, list)) or len(input_hw) != 2:
        raise ValueError(f"input_hw must be a pair (H, W), got {input_hw!r}")
    kh, kw = pair("kernel", kernel, 1)
    sh, sw = pair("stride", stride, 1)
    ph, pw = pair("pad", pad, 0)
    dh, dw = pair("dilation", dilation, 1)
    return (conv_output_size(input_hw[0], kh, sh, ph, dh, strict),
            conv_output_size(input_hw[1], kw, sw, pw, dw, strict))
