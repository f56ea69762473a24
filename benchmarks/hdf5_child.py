"""What reading HDF5 in a child process costs (issue 15).

refresnet reads every Keras HDF5 file (.h5, .weights.h5, .keras) in a child process
with a memory limit and a timeout, so that a libhdf5 crash or hang on a hostile file
is a LoadError (refresnet/io/isolated.py). This measures, on a ResNet-50
``.weights.h5`` (Keras 3 layout, 25.6M parameters, stored as the skeleton's
datasets say), built here from
the committed skeleton of a real Keras file and synthetic weights (not committed):

* ``in-process``: ``read_keras_file(path, isolate=False)`` (every check, no child);
* ``child``: ``read_keras_file(path)`` (the default);
* ``child start-up``: the same on a one-dataset file, i.e. the fixed cost (the child
  is ``python -I`` with its own sys.path, CPU-time and memory limits: issue 21);

and the time the child is given for the file (``isolated.child_timeout``).

Each is the median of ``--repeats`` runs after one warm-up. Run from the repository
root: ``python benchmarks/hdf5_child.py [--repeats 7] [--out benchmarks/HDF5_CHILD.md]``.
"""

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

from fixtures import keras_skeleton as ks  # noqa: E402
from fixtures.keras_fixture import arch_weights, fixture  # noqa: E402

from refresnet.io.isolated import CHILD_SECONDS_PER_GB, CHILD_TIMEOUT_S, child_timeout  # noqa: E402
from refresnet.io.keras_file import read_keras_file  # noqa: E402


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def blas():
    try:
        import threadpoolctl
    except ImportError:
        return "threadpoolctl not installed"
    infos = threadpoolctl.threadpool_info()
    return "; ".join(f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')} "
                     f"({i.get('num_threads')} threads)" for i in infos if i.get("user_api") == "blas") or "none"


def median(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), min(times), max(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--out", default=None, help="also write the table to this Markdown file")
    args = ap.parse_args()
    import h5py

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "resnet50.weights.h5")
        skel = ks.load(fixture("resnet50.k3_weights_h5.skel.json.gz"))
        ks.materialise(skel, arch_weights("resnet50"), path)
        tiny = os.path.join(tmp, "tiny.weights.h5")
        with h5py.File(tiny, "w") as f:
            f.create_dataset("layers/dense/vars/0", data=np.zeros((4, 4), "f4"))
        ws = read_keras_file(path, isolate=False).weights.values()
        n = sum(a.size for a in ws)
        dtypes = ", ".join(sorted({str(a.dtype) for a in ws}))
        rows = [
            ("in-process (isolate=False)", median(lambda: read_keras_file(path, isolate=False), args.repeats)),
            ("child process (default)", median(lambda: read_keras_file(path), args.repeats)),
        ]

        def tiny_child():
            try:
                read_keras_file(tiny)
            except Exception:  # a one-dataset file is not a ResNet; only the time counts
                pass

        rows.append(("child start-up (one-dataset file)", median(tiny_child, args.repeats)))
        size = os.path.getsize(path)
    lines = [
        "# Reading HDF5 in a child process: cost",
        "",
        f"ResNet-50 `.weights.h5` (Keras 3 layout, {dtypes}, {n:,} parameters, {size / 1e6:.1f} MB), "
        f"median of {args.repeats} runs after a warm-up (min-max in brackets).",
        "",
        "| read | median s | range s |",
        "|---|---|---|",
    ]
    for name, (med, lo, hi) in rows:
        lines.append(f"| {name} | {med:.3f} | {lo:.3f}-{hi:.3f} |")
    lines += [
        "",
        f"Overhead of the child on this file: {rows[1][1][0] - rows[0][1][0]:+.3f} s "
        f"({rows[1][1][0] / rows[0][1][0]:.2f}x).",
        "",
        f"Time the child is given for this file (wall clock, and CPU seconds): {child_timeout(size):.1f} s "
        f"(CHILD_TIMEOUT_S={CHILD_TIMEOUT_S:g} + {CHILD_SECONDS_PER_GB:g} s per GB), "
        f"{child_timeout(size) / rows[1][1][2]:.1f}x the slowest run.",
        "",
        f"- CPU: {cpu_name()} ({os.cpu_count()} logical CPUs)",
        f"- BLAS (threadpoolctl.threadpool_info()): {blas()}",
        f"- Python {platform.python_version()}, NumPy {np.__version__}, h5py {h5py.__version__}, "
        f"HDF5 {h5py.version.hdf5_version}",
        f"- load average at the end: {os.getloadavg()[0]:.2f} (the machine is shared; medians absorb some noise)",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
