"""Output-size arithmetic: the book's examples, floor semantics, strict mode, and bad arguments."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from convlab.arith import conv_output_size, conv_output_size_2d, uncovered


@pytest.mark.parametrize("hw, pad, stride, kernel, expected", [
    ((4, 4), 1, 1, 3, (4, 4)),
    ((7, 7), 0, 2, 3, (3, 3)),
    ((28, 31), 2, 3, 5, (10, 11)),
])
def test_book_examples(hw, pad, stride, kernel, expected):
    assert conv_output_size_2d(hw, kernel, stride=stride, pad=pad) == expected
    assert (conv_output_size(hw[0], kernel, stride, pad), conv_output_size(hw[1], kernel, stride, pad)) == expected


@given(size=st.integers(1, 60), kernel=st.integers(1, 9), stride=st.integers(1, 5),
       pad=st.integers(0, 4), dilation=st.integers(1, 3))
def test_floor_semantics_match_window_count(size, kernel, stride, pad, dilation):
    """The output size is the number of window starts that fit, counted one by one."""
    extent = dilation * (kernel - 1) + 1
    padded = size + 2 * pad
    if extent > padded:
        with pytest.raises(ValueError, match="kernel"):
            conv_output_size(size, kernel, stride, pad, dilation)
        return
    starts = [s for s in range(0, padded, stride) if s + extent <= padded]
    assert conv_output_size(size, kernel, stride, pad, dilation) == len(starts)
    # rows after the last window's end are the uncovered ones
    assert uncovered(size, kernel, stride, pad, dilation) == padded - (starts[-1] + extent)


def test_floor_not_round():
    # (7 + 0 - 4) / 2 + 1 = 2.5 -> 2 (floor), not 3 (round) and not a float
    out = conv_output_size(7, 4, stride=2)
    assert out == 2 and isinstance(out, int)
    assert conv_output_size_2d((7, 8), (4, 4), stride=2) == (2, 3)


def test_uncovered_and_strict():
    assert uncovered(7, 3, stride=2) == 0
    assert uncovered(8, 3, stride=2) == 1          # (8 - 3) % 2
    assert uncovered(28, 5, stride=4) == 3         # (28 - 5) % 4
    assert conv_output_size(7, 3, stride=2, strict=True) == 3
    with pytest.raises(ValueError, match=r"last 3 row"):
        conv_output_size(28, 5, stride=4, strict=True)
    with pytest.raises(ValueError, match=r"last 1 row"):
        conv_output_size_2d((7, 8), 3, stride=2, strict=True)
    assert conv_output_size_2d((7, 8), 3, stride=2) == (3, 3)   # not strict: floor


def test_per_axis_pairs():
    assert conv_output_size_2d((10, 12), (3, 5), stride=(1, 2), pad=(0, 1), dilation=(2, 1)) == (6, 5)


@pytest.mark.parametrize("kwargs, name", [
    (dict(size=3, kernel=5), "kernel"),
    (dict(size=3, kernel=5, pad=0), "padded input"),
    (dict(size=4, kernel=3, dilation=2), "dilation"),      # extent 5 > 4
    (dict(size=4, kernel=3, stride=0), "stride"),
    (dict(size=4, kernel=3, stride=-1), "stride"),
    (dict(size=4, kernel=3, pad=-1), "pad"),
    (dict(size=4, kernel=0), "kernel"),
    (dict(size=0, kernel=1), "size"),
    (dict(size=4, kernel=3, dilation=0), "dilation"),
    (dict(size=4.0, kernel=3), "size"),
    (dict(size=4, kernel=3.5), "kernel"),
    (dict(size=4, kernel=3, stride=1.0), "stride"),
    (dict(size=4, kernel=3, pad=0.5), "pad"),
    (dict(size=4, kernel=3, stride=True), "stride"),     # bool is not an integer here
    (dict(size=4, kernel=True), "kernel"),
    (dict(size=4, kernel=3, pad=False), "pad"),
    (dict(size="4", kernel=3), "size"),
])
def test_bad_arguments_raise_naming_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        conv_output_size(**kwargs)


def test_message_has_value_and_expectation():
    with pytest.raises(ValueError, match=r"stride.*>= 1.*got 0"):
        conv_output_size(5, 3, stride=0)
    with pytest.raises(ValueError, match=r"pad.*>= 0.*got -2"):
        conv_output_size(5, 3, pad=-2)
    with pytest.raises(ValueError, match=r"kernel 9 .*padded input.*7"):
        conv_output_size(5, 9, pad=1)
    with pytest.raises(ValueError, match=r"kernel.*bool"):
        conv_output_size(5, True)


def test_numpy_integers_accepted():
    assert conv_output_size(np.int64(7), np.int32(3), np.int64(2)) == 3


@pytest.mark.parametrize("bad, name", [((4,), "input_hw"), (4, "input_hw"), ((4, 4, 4), "input_hw"),
                                       ((4, 4, "kernel"), "input_hw")])
def test_2d_input_hw_must_be_a_pair(bad, name):
    with pytest.raises(ValueError, match=name):
        conv_output_size_2d(bad, 3)


@pytest.mark.parametrize("kw, name", [(dict(kernel=(3, 3, 3)), "kernel"), (dict(kernel=3, stride=(1, 0)), r"stride\[1\]"),
                                      (dict(kernel=3, pad=(-1, 0)), r"pad\[0\]")])
def test_2d_pairs_validated(kw, name):
    with pytest.raises(ValueError, match=name):
        conv_output_size_2d((8, 8), **kw)
