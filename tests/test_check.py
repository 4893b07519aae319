"""convlab.lessons.check, the one way an exercise reads and judges an answer: a nearly-right
number fails (the stated tolerance is float64 rounding, not 1e-6), and an answer of the wrong
size is read as no answer, never as its first element."""
import numpy as np

from convlab.lessons.check import as_int, as_number, close


def test_close_holds_rounding_and_refuses_a_near_miss():
    assert close(1.0 + 4e-16, 1.0) and close(0.1 + 0.2, 0.3) and close(1e-16, 0.0)
    assert not close(1.0 + 1e-9, 1.0) and not close(1.0 - 1e-7, 1.0)
    assert not close(1234.5678 * (1 + 1e-10), 1234.5678)
    assert not close(None, 1.0)


def test_as_int_and_as_number_read_one_value_only():
    for one in (3, 3.0, np.int64(3), np.float32(3.0), np.array(3), np.array([3])):
        assert as_int(one) == 3, one
    for not_one in ([3, 4], np.array([3, 4]), np.array([[3]]), [], 3.5, True, "3", None):
        assert as_int(not_one) is None, not_one
    assert as_number(np.array([2.5])) == 2.5
    assert as_number([2.5, 1.0]) is None and as_number(np.array([])) is None
