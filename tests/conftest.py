import os
import sys

from hypothesis import settings

# Deterministic, bounded property tests: CI must be reproducible and quick.
settings.register_profile("ci", max_examples=60, deadline=None, derandomize=True)
settings.register_profile("dev", max_examples=200, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# tests/ holds helper modules (naive.py, tolerances.py, fixtures/) imported by name.
sys.path.insert(0, os.path.dirname(__file__))


def pytest_terminal_summary(terminalreporter):
    # The suite must fit the CI machine with room to spare (issue: <= 4 GB): say
    # what it took. VmHWM is this process's peak resident set (Linux).
    try:
        with open("/proc/self/status") as f:
            peak = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return
    terminalreporter.write_line(f"refresnet test suite: peak resident memory {peak / 1024:.0f} MiB")
