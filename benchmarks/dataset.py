"""Dataset throughput: images per second of ``predict --out`` against workers, on the
serial, local-cluster and in-process Dask paths; the Dask path's per-image overhead;
and what K machines would take for 50,000 images.

    python benchmarks/dataset.py                 # ResNet-50 at 224 + overhead rows (a few minutes)
    python benchmarks/dataset.py --images 16     # shorter

Paths, each with workers = 1 and 2 (this machine has 2 cores):

- serial: ``predict_dataset`` in this process, refresnet computing with N threads
  (one image per thread, refresnet.runtime.threads) and OpenBLAS on one, as in a worker;
- local cluster: ``dataset.local_cluster(N)``, N worker processes of one thread, as
  ``--workers N`` starts them; timed after a warm-up run, so that the cluster's start
  and each worker's model load and numba cache load are reported apart;
- in-process: a Dask LocalCluster of threads in this process (processes=False, N task
  threads, each batch on one refresnet thread with OpenBLAS held to one thread), so
  no pickling of results between processes.

The per-image overhead of the Dask path is (1-worker cluster time - 1-thread serial
time) / images, measured on ResNet-18 at 32x32, where an image costs a few ms and the
scheduling, pickling and transfer of each batch show, and on the main model.
Estimate for K machines: 50,000 / (K x the 2-worker cluster's images/s) + the measured
start-up, for machines like this one reading the images from shared storage (the
scheduler's cost per task is in the overhead row and scales with batches, not cores).

Writes benchmarks/DATASET.md (machine, CPU, BLAS from threadpoolctl, versions, command).
"""

import argparse
import datetime
import os
import platform
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

import numpy as np  # noqa: E402

import refresnet  # noqa: E402
from fixtures import make_agree_fixtures as mk  # noqa: E402
from refresnet import datasets as dataset  # noqa: E402
from refresnet.runtime import threads

TOTAL = 50_000
MACHINES = (1, 2, 4, 8, 16, 32)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def blas_info():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    rows = [f"{i.get('internal_api')} {i.get('version')} ({i.get('threading_layer')}, kernel {i.get('architecture')}, "
            f"{i.get('num_threads')} threads)" for i in threadpool_info() if i.get("user_api") == "blas"]
    return "; ".join(rows) or "no BLAS found by threadpoolctl"


def folder(tmp, n):
    d = os.path.join(tmp, "images")
    mk.make_images(d)
    images, _ = dataset.collect_images([d])
    if n > len(images):
        raise SystemExit(f"at most {len(images)} images (the generated folder)")
    return images[:n]


def run(images, tmp, label, setup, **kw):
    out = os.path.join(tmp, f"{label}.jsonl")
    for p in (out, dataset.store_path(out, "logits")):
        if os.path.exists(p):
            os.remove(p)
    t = time.perf_counter()
    s = dataset.predict_dataset(images, out, batch_size=setup["batch"], preprocess=setup["preset"], weights=setup["weights"],
                                model=setup["model"], fingerprint=setup["fp"], **kw)
    dt = time.perf_counter() - t
    assert s.written == len(images), s
    return dt


def measure(setup, images, tmp):
    """{(path, workers): (seconds, start-up seconds or None)}"""
    from distributed import Client, LocalCluster

    res = {}
    default = threads.get_num_threads()
    warm = images[: setup["batch"] * 2]
    set_blas, get_blas = threads.blas_control() or (None, None)
    before = get_blas() if get_blas else None
    # This process computes as a worker does: OpenBLAS on one thread (Dask starts its
    # workers with OPENBLAS_NUM_THREADS=1), refresnet on N threads in the serial path.
    if set_blas:
        set_blas(1)
    try:
        for n in (1, 2):
            threads.set_num_threads(n)
            run(warm, tmp, "warm", setup)
            res[("serial", n)] = (run(images, tmp, f"serial{n}", setup), None)
            log(f"  serial {n}: {len(images) / res[('serial', n)][0]:.2f} images/s")
        threads.set_num_threads(1)
        for n in (1, 2):
            t = time.perf_counter()
            with LocalCluster(n_workers=1, threads_per_worker=n, processes=False, dashboard_address=None) as cluster, Client(cluster) as client:
                run(warm, tmp, "warm", setup, client=client)
                start = time.perf_counter() - t
                res[("in-process", n)] = (run(images, tmp, f"inproc{n}", setup, client=client), start)
            log(f"  in-process {n}: {len(images) / res[('in-process', n)][0]:.2f} images/s")
    finally:
        threads.set_num_threads(default)
        if set_blas and before:
            set_blas(before)
    for n in (1, 2):
        t = time.perf_counter()
        with dataset.local_cluster(n) as cluster, Client(cluster) as client:
            run(warm, tmp, "warm", setup, client=client)
            start = time.perf_counter() - t
            res[("local cluster", n)] = (run(images, tmp, f"cluster{n}", setup, client=client), start)
        log(f"  local cluster {n}: {len(images) / res[('local cluster', n)][0]:.2f} images/s (start-up {start:.1f} s)")
    return res


def setup_for(weights, preset, batch):
    model, fp, _ = dataset.open_model(weights)
    return dict(weights=weights, preset=preset, batch=batch, model=model, fp=fp)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="resnet50")
    ap.add_argument("--preprocess", default="torchvision", help="preset (torchvision: 224x224)")
    ap.add_argument("--images", type=int, default=32, help="images per timed run of the main model")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--overhead-images", type=int, default=240, help="images per run of the ResNet-18 32x32 overhead rows")
    ap.add_argument("--out", default=os.path.join(HERE, "DATASET.md"))
    args = ap.parse_args()
    import dask
    import distributed

    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    with tempfile.TemporaryDirectory() as tmp:
        log(f"{args.arch} at {args.preprocess}, {args.images} images, batch {args.batch_size}")
        main_setup = setup_for(f"synthetic:{args.arch}", args.preprocess, args.batch_size)
        main_res = measure(main_setup, folder(tmp, args.images), tmp)
        log(f"resnet18 at 32x32 (overhead), {args.overhead_images} images")
        small_setup = setup_for("synthetic:resnet18", mk.PRESET, args.batch_size)
        small_res = measure(small_setup, folder(tmp, args.overhead_images), tmp)

    def table(res, n):
        rows = ["| path | workers | images/s | s/image | start-up (s) |", "|---|---:|---:|---:|---:|"]
        for (path, w), (dt, start) in res.items():
            rows.append(f"| {path} | {w} | {n / dt:.2f} | {dt / n:.4f} | {'' if start is None else f'{start:.1f}'} |")
        return rows

    def overhead(res, n):
        return (res[("local cluster", 1)][0] - res[("serial", 1)][0]) / n

    n, m = args.images, args.overhead_images
    rate2 = n / main_res[("local cluster", 2)][0]
    start2 = main_res[("local cluster", 2)][1]
    lines = [
        "# Dataset throughput: predict --out on one machine and on Dask",
        "",
        f"Measured {when} by `python benchmarks/dataset.py --arch {args.arch} --preprocess {args.preprocess} --images {n} "
        f"--batch-size {args.batch_size} --overhead-images {m}`.",
        "",
        f"- machine: {cpu_name()}, {os.cpu_count()} CPUs ({len(os.sched_getaffinity(0))} usable), {platform.system()} {platform.release()}; "
        "shared with other jobs while measured, so rates vary by some 10-20% between runs",
        f"- BLAS (threadpoolctl.threadpool_info()): {blas_info()}",
        f"- versions: python {platform.python_version()}, numpy {np.__version__}, refresnet {refresnet.__version__}, "
        f"dask {dask.__version__}, distributed {distributed.__version__}",
        "- weights: refresnet.build.synthetic (seed 0); images: the generated folder of tests/fixtures/make_agree_fixtures.py "
        "(PNGs of 40..90 pixels a side, resized by the preset), results written to a JSONL with the logits stored",
        "",
        f"## {args.arch}, preset {args.preprocess}, {n} images, batches of {args.batch_size}",
        "",
        *table(main_res, n),
        "",
        f"Per-image overhead of the Dask path (1-worker cluster - 1-thread serial): {overhead(main_res, n) * 1000:.1f} ms "
        f"of {main_res[('serial', 1)][0] / n * 1000:.0f} ms.",
        "",
        f"## Overhead: resnet18, preset {mk.PRESET} (32x32), {m} images, batches of {args.batch_size}",
        "",
        *table(small_res, m),
        "",
        f"Per-image overhead of the Dask path: {overhead(small_res, m) * 1000:.2f} ms "
        f"({overhead(small_res, m) * args.batch_size * 1000:.1f} ms per task of {args.batch_size} images) "
        f"of {small_res[('serial', 1)][0] / m * 1000:.2f} ms per image.",
        "",
        f"## Estimate: {TOTAL:,} images of {args.arch} on K machines like this one",
        "",
        f"From the 2-worker local cluster's {rate2:.2f} images/s per machine and its {start2:.0f} s start-up "
        "(cluster, model load per worker, first batch):",
        "",
        "| machines K | workers | time |",
        "|---:|---:|---:|",
    ]
    for k in MACHINES:
        secs = TOTAL / (k * rate2) + start2
        lines.append(f"| {k} | {2 * k} | {secs / 3600:.2f} h ({secs / 60:.0f} min) |")
    lines += ["", "Assumes each worker reads the images and weights at the same paths (shared storage) and that the "
              "scheduler keeps up: it handles one task per batch, far below its rate at these task lengths."]
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
