"""Shared test settings. Hypothesis profiles: 'default' (CI) and 'quick' (HYPOTHESIS_PROFILE=quick)."""
import os

from hypothesis import HealthCheck, settings

settings.register_profile("default", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("quick", max_examples=20, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
