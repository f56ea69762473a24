import gc
import os
import sys

import pytest
from hypothesis import settings

# Deterministic, bounded property tests: CI must be reproducible and quick.
settings.register_profile("ci", max_examples=60, deadline=None, derandomize=True)
settings.register_profile("dev", max_examples=200, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# Under pytest-xdist every worker would compute with all the cores: share them
# out instead (2 workers on 2 cores: 1 thread each), unless the caller chose. The
# tests that need several threads set them themselves (test_determinism.py).
if os.environ.get("PYTEST_XDIST_WORKER") and "REFRESNET_NUM_THREADS" not in os.environ:
    try:
        _cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        _cores = os.cpu_count() or 1
    _workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    os.environ["REFRESNET_NUM_THREADS"] = str(max(1, _cores // _workers))

# tests/ holds helper modules (naive.py, tolerances.py, fixtures/) imported by name.
sys.path.insert(0, os.path.dirname(__file__))


def _peak_mib():
    """This process's peak resident set (VmHWM, Linux), in MiB, or None."""
    try:
        with open("/proc/self/status") as f:
            return int(next(line.split()[1] for line in f if line.startswith("VmHWM:"))) / 1024
    except (OSError, StopIteration):
        return None


_worker_peaks = []


def pytest_sessionfinish(session):
    # Under pytest-xdist each worker is its own process: it hands its peak to the
    # controller, which prints the largest (the tests run in the workers).
    if hasattr(session.config, "workeroutput"):
        session.config.workeroutput["peak_mib"] = _peak_mib()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    peak = getattr(node, "workeroutput", {}).get("peak_mib")
    if peak is not None:
        _worker_peaks.append(peak)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config):
    # `-n auto` (setup.cfg addopts): one worker per core, at most 4. A worker peaks
    # near 4 GB (a resnext101 parity test holds its float64 weights and two traces),
    # so more workers would not fit a CI machine's 24 GB with room to spare.
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 4))


def pytest_terminal_summary(terminalreporter):
    # The suite must fit the CI machine with room to spare: say what it took, per
    # process (the largest worker's under xdist, plus the controller's).
    peaks = [p for p in [_peak_mib()] + _worker_peaks if p is not None]
    if peaks:
        workers = f" across {len(_worker_peaks)} workers" if _worker_peaks else ""
        terminalreporter.write_line(
            f"refresnet test suite: peak resident memory {max(peaks):.0f} MiB per process{workers}")


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
