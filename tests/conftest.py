"""Shared test settings. Hypothesis profiles: 'default' (CI) and 'quick' (HYPOTHESIS_PROFILE=quick,
``make test-quick``). Neither has a deadline or the too-slow health check: on a loaded machine
both would fail tests for the load, not for the code."""
import os

from hypothesis import HealthCheck, settings

settings.register_profile("default", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("quick", max_examples=20, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


# ---- gradient-check record (tests/test_layers.py, tests/test_nets.py) ----
# Worst relative error (analytic vs numerical gradient) and case count per layer, printed in
# the terminal summary so the numbers can be quoted; a test still fails on its own threshold.
import pytest  # noqa: E402

GRADCHECK_WORST = {}


@pytest.fixture(scope="session")     # stateless: safe to share across @given inputs
def record_gradcheck():
    """record_gradcheck('Convolution', err): keep the worst error seen for that layer."""
    def record(name, err):
        worst, n = GRADCHECK_WORST.get(name, (0.0, 0))
        GRADCHECK_WORST[name] = (max(worst, float(err)), n + 1)
    return record


def pytest_terminal_summary(terminalreporter):
    if GRADCHECK_WORST:
        terminalreporter.section("worst gradient-check relative error per layer (float64)")
        for name, (worst, n) in sorted(GRADCHECK_WORST.items()):
            terminalreporter.write_line(f"{name:<28s} {worst:.2e}  over {n} checks")
