import os
import sys

from hypothesis import settings

# Deterministic, bounded property tests: CI must be reproducible and quick.
settings.register_profile("ci", max_examples=60, deadline=None, derandomize=True)
settings.register_profile("dev", max_examples=200, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# tests/ holds helper modules (naive.py, tolerances.py, fixtures/) imported by name.
sys.path.insert(0, os.path.dirname(__file__))
