import gc
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


def _release_freed_memory():
    # glibc keeps freed heap pages (NumPy's many mid-sized arrays, one arena per
    # thread) and, after large frees, serves later arrays from the heap instead
    # of fresh mappings; over ~1200 tests the resident set grew by gigabytes of
    # memory nothing used. malloc_trim(0) hands it back (a few ms).
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def pytest_runtest_teardown(item, nextitem):
    if nextitem is None or nextitem.module is not item.module:
        # A test module's cached models and fixtures (functools caches and
        # `_cache` dicts at the top level of it and of tests/fixtures) are not
        # needed by the next module: the suite held each module's, up to 1 GB apiece.
        for name, module in list(sys.modules.items()):
            if module is item.module or name.startswith("fixtures."):
                for key, obj in list(vars(module).items()):
                    if callable(getattr(obj, "cache_clear", None)) and getattr(obj, "__module__", None) == name:
                        obj.cache_clear()
                    elif type(obj) is dict and "cache" in key.lower():  # a module's own `_cache = {}`
                        obj.clear()
        gc.collect()
    _release_freed_memory()
