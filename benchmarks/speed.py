"""Speed and memory of refresnet's float64 ResNets, against torch on the same machine.

    python benchmarks/speed.py                 # the full report (several minutes)
    python benchmarks/speed.py --quick         # ResNet50 batch 1 and 8 only
    python benchmarks/speed.py --quick --archs resnet18,resnet50,resnet152   # those rows, batch 1 and 8
    python benchmarks/speed.py --onnx-only     # the ONNX path against the table path

Every timing in the main table is the median of 3 rounds of --repeats runs (each
round after one warm-up), in this process, refresnet and torch taking turns by
round, on the same seeded weights
and input for refresnet and torch (model.double() and
float32 under torch.no_grad(), torch's default threads). Peak memory is the OS's
count (VmHWM) of a fresh subprocess that builds the model and runs one batch.
The "first call" rows run fresh processes with an empty and then a warm numba
cache, and check that the warm process compiled nothing.
"""

import argparse
import copy
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

import refresnet
from refresnet.runtime import threads
from refresnet.build.synthetic import synthetic_weights


def median_time(fn, repeats):
    fn()  # warm-up (numba compilation, allocator, caches)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def interleaved_medians(fns, repeats, blocks=3):
    """Median time of each of ``fns`` over ``blocks`` rounds in which each runs
    one discarded warm-up and then ``repeats`` timed calls, so that a slow spell
    of the machine (a shared VM) falls on all of them alike. Within a round each
    runs alone: torch's OpenMP threads keep spinning for a while after a call and
    would slow whatever ran right after them."""
    times = [[] for _ in fns]
    for _ in range(blocks):
        for fn, ts in zip(fns, times):
            fn()
            for _ in range(repeats):
                t = time.perf_counter()
                fn()
                ts.append(time.perf_counter() - t)
    return [statistics.median(ts) for ts in times]


def network_flops(model, x):
    """2 x multiply-adds of every conv and linear layer, from the traced shapes."""
    trace = model.trace(x)
    flops = 0
    for node in model.nodes:
        if node.op == "conv2d":
            w = node.kwargs["w"]
            flops += 2 * trace[node.name].size * w.shape[1] * w.shape[2] * w.shape[3]
        elif node.op == "linear":
            flops += 2 * x.shape[0] * node.kwargs["w"].size
    return flops


def gemm_products(model, x):
    """Random operands of the shapes of one image's per-layer conv GEMMs (one
    product per layer and group: what a plain im2col implementation computes)."""
    from refresnet.runtime.ops.conv2d import geometry

    trace = model.trace(x[:1])
    rng = np.random.default_rng(0)
    products = []
    for node in model.nodes:
        if node.op != "conv2d":
            continue
        src = x[:1] if node.inputs[0] == "input" else trace[node.inputs[0]]
        if model.arch.layout == "NHWC" and src.ndim == 4:
            src = src.transpose(0, 3, 1, 2)
        kw = node.kwargs
        g = geometry(src.shape, kw["w"].shape, kw.get("stride", 1), kw.get("padding", 0), 1, kw.get("groups", 1))
        k = g.in_channels // g.groups * g.kh * g.kw
        for _ in range(g.groups):
            products.append((rng.random((g.out_channels // g.groups, k)), rng.random((k, g.out_h * g.out_w))))
    return products


def gemm_floor(products):
    """One image's time for the per-layer products alone, one np.matmul each on
    NumPy's BLAS with its default threads: the floor of any im2col ResNet."""
    def run():
        for a, b in products:
            np.matmul(a, b)
    return run


def gemm_rate(repeats):
    """NumPy's float64 GEMM rate on a ResNet-sized product (512 x 4608 by 4608 x 784, all threads)."""
    a = np.random.default_rng(0).random((512, 4608))
    b = np.random.default_rng(1).random((4608, 784))
    t = median_time(lambda: a @ b, repeats)
    return 2 * a.shape[0] * a.shape[1] * b.shape[1] / t / 1e9


def torch_model(arch, weights):
    try:
        import torch
        import torchvision
    except ImportError:
        return None, None
    tm = getattr(torchvision.models, arch)(weights=None)
    tm.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in weights.items()}, strict=False)
    return torch, tm.eval()


_CHILD = r"""
import json, sys, time, numpy as np
def hwm():
    # VmHWM: this process's peak resident set. (ru_maxrss would carry the forking
    # parent's peak across exec on Linux.)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
which, arch, batch, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
if which == "refresnet-pth":
    # A real torch file: load it and run one batch, nothing else in the process.
    import refresnet
    base = hwm()
    t = time.perf_counter()
    refresnet.load(sys.argv[5])(np.random.default_rng(0).normal(size=(batch, 3, size, size)))
    print(json.dumps({"peak_mb": hwm() / 1024, "before_mb": base / 1024, "seconds": time.perf_counter() - t}))
    sys.exit(0)
if which == "cli-synthetic":
    # The README's main job: predict with synthetic:ARCH weights.
    import contextlib, io, refresnet.cli
    base = hwm()
    t = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        refresnet.cli.main(["predict", sys.argv[5], "--weights", "synthetic:" + arch])
    print(json.dumps({"peak_mb": hwm() / 1024, "before_mb": base / 1024, "seconds": time.perf_counter() - t}))
    sys.exit(0)
from refresnet.build.synthetic import synthetic_weights
w = synthetic_weights(arch, seed=0, calibrate=False)
x = np.random.default_rng(0).normal(size=(batch, 3, size, size))
base = hwm()
t = time.perf_counter()
if which == "refresnet":
    import refresnet
    m = refresnet.build(arch, w); m(x)
else:
    import torch, torchvision
    m = getattr(torchvision.models, arch)(weights=None)
    m.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in w.items()}, strict=False)
    m = m.eval().double()
    with torch.no_grad():
        m(torch.from_numpy(x))
print(json.dumps({"peak_mb": hwm() / 1024,
                  "before_mb": base / 1024, "seconds": time.perf_counter() - t}))
"""


def child(which, arch, batch, size, env=None, extra=()):
    out = subprocess.run([sys.executable, "-c", _CHILD, which, arch, str(batch), str(size), *extra],
                         capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def first_call_rows(arch):
    """Fresh processes: numba cache empty, then warm; the warm one must compile nothing."""
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for label in ("cold numba cache", "warm numba cache"):
            before = {f: os.path.getmtime(os.path.join(r, f)) for r, _, fs in os.walk(cache) for f in fs}
            info = child("refresnet", arch, 1, 224, env)
            after = {f: os.path.getmtime(os.path.join(r, f)) for r, _, fs in os.walk(cache) for f in fs}
            written = sum(1 for f, m in after.items() if before.get(f) != m)
            rows.append((label, info["seconds"], written))
    return rows


def onnx_graph(model, path):
    """Write a table model's graph as an .onnx file (opset 17, float32 weights
    would change the values, so float64), one ONNX node per refresnet node, as a
    torchvision export lays it out (BN kept): the ONNX path's benchmark input."""
    from onnx import TensorProto, helper, numpy_helper, save

    def pads(p):
        if isinstance(p, int):
            return [p] * 4
        (t, b), (l, r) = p if isinstance(p[0], (tuple, list)) else ((p[0], p[0]), (p[1], p[1]))
        return [t, l, b, r]

    def pair(v):
        return list(v) if isinstance(v, (tuple, list)) else [v, v]

    nodes, inits, canon = [], [], {"input": "x"}

    def init(name, a):
        inits.append(numpy_helper.from_array(np.asarray(a, dtype=np.float64), name))
        return name

    for n in model.nodes:
        ins = [canon.get(i, i) for i in n.inputs]
        kw = n.kwargs
        if n.op == "alias":
            canon[n.name] = ins[0]
            continue
        if n.op == "conv2d":
            extra = [init(n.name + ".bias", kw["bias"])] if kw.get("bias") is not None else []
            nodes.append(helper.make_node("Conv", ins + [init(n.name + ".weight", kw["w"])] + extra, [n.name],
                                          kernel_shape=list(kw["w"].shape[2:]), strides=pair(kw.get("stride", 1)),
                                          pads=pads(kw.get("padding", 0)), group=kw.get("groups", 1)))
        elif n.op == "batch_norm":
            nodes.append(helper.make_node("BatchNormalization", ins + [init(n.name + f".{k}", kw[k]) for k in
                                                                       ("gamma", "beta", "mean", "var")],
                                          [n.name], epsilon=kw["eps"]))
        elif n.op == "relu":
            nodes.append(helper.make_node("Relu", ins, [n.name]))
        elif n.op == "add":
            nodes.append(helper.make_node("Add", ins, [n.name]))
        elif n.op == "max_pool2d":
            k = pair(kw["kernel_size"])
            nodes.append(helper.make_node("MaxPool", ins, [n.name], kernel_shape=k, strides=pair(kw.get("stride") or k),
                                          pads=pads(kw.get("padding", 0))))
        elif n.op == "global_avg_pool2d":
            nodes.append(helper.make_node("GlobalAveragePool", ins, [n.name]))
        elif n.op == "linear":
            nodes.append(helper.make_node("Flatten", ins, [n.name + ".flat"], axis=1))
            nodes.append(helper.make_node("Gemm", [n.name + ".flat", init(n.name + ".weight", kw["w"]),
                                                   init(n.name + ".bias", kw["b"])], [n.name], transB=1))
        else:
            raise ValueError(f"onnx_graph: no ONNX form for {n.op}")
    out = canon.get(model.program.output, model.program.output)
    graph = helper.make_graph(nodes, "bench", [helper.make_tensor_value_info("x", TensorProto.DOUBLE, ["N", 3, 224, 224])],
                              [helper.make_tensor_value_info(out, TensorProto.DOUBLE, None)], inits)
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def onnx_rows(archs, batches, r):
    """ms per image of the table path and of the same network loaded from .onnx."""
    rng = np.random.default_rng(0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for arch in archs:
            model = refresnet.build(arch, synthetic_weights(arch, seed=0))
            path = os.path.join(tmp, arch + ".onnx")
            onnx_graph(model, path)
            om = refresnet.load(path)
            for batch in batches:
                x = rng.normal(size=(batch, 3, 224, 224))
                # The same network: ONNX stores BN's epsilon as a float32 attribute
                # (1e-5 -> 9.99999974737875e-06), which moves outputs ~1e-11.
                a, b = om(x), model(x)
                assert np.abs(a - b).max() <= 1e-9 * np.abs(b).max()
                t_table, t_onnx = interleaved_medians([lambda: model(x), lambda: om(x)], r)
                rows.append((arch, batch, 1000 * t_table / batch, 1000 * t_onnx / batch, t_onnx / t_table))
    return rows


def print_onnx_rows(rows):
    print("## The ONNX path: the same network read from an .onnx file (ms per image, 224x224)")
    print()
    print("| arch | batch | table path | ONNX path | ONNX / table |")
    print("|---|---|---|---|---|")
    for arch, batch, a, b, ratio in rows:
        print(f"| {arch} | {batch} | {a:.1f} | {b:.1f} | {ratio:.3f}x |")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--archs", help="comma-separated rows for the main table (with --quick: batches 1 and 8 only)")
    ap.add_argument("--onnx-only", action="store_true", help="only the ONNX path's rows (needs onnx)")
    args = ap.parse_args(argv)
    r = args.repeats
    if args.onnx_only:
        print_onnx_rows(onnx_rows(["resnet50"], [1, 4], r))
        return 0

    print(f"# refresnet speed, {time.strftime('%Y-%m-%d %H:%M %Z')}")
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), platform.machine()) if os.path.exists("/proc/cpuinfo") else platform.machine()
    print(f"- machine: {cpu}, {os.cpu_count()} CPUs; refresnet threads {threads.get_num_threads()}, "
          f"BLAS thread control {'yes' if threads.blas_control() else 'no'}")
    print(f"- python {platform.python_version()}, numpy {np.__version__}, refresnet {refresnet.__version__}")
    try:
        from threadpoolctl import threadpool_info

        for lib in threadpool_info():
            if lib.get("user_api") == "blas":
                print(f"- BLAS: {lib.get('internal_api')} {lib.get('version')}, kernel {lib.get('architecture')}, "
                      f"{lib.get('num_threads')} threads")
    except ImportError:
        print("- BLAS kernel: unknown (pip install threadpoolctl to name it)")
    try:
        import torch, torchvision  # noqa: E401
        print(f"- torch {torch.__version__}, torchvision {torchvision.__version__}, torch threads {torch.get_num_threads()}")
    except ImportError:
        print("- torch not installed: refresnet columns only")
    rate = gemm_rate(r)
    print(f"- NumPy float64 GEMM rate (all threads): {rate:.1f} GFLOP/s")
    print()

    archs = ["resnet50"] if args.quick else ["resnet18", "resnet50", "resnet152"]
    if args.archs:
        archs = args.archs.split(",")
    print("## ms per image, 224x224")
    print()
    print("| arch | batch | refresnet f64 | GFLOP/s | % of GEMM rate | GEMM-only floor | torch f64 | refresnet / torch f64 | torch f32 |")
    print("|---|---|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    for arch in archs:
        weights = synthetic_weights(arch, seed=0)
        model = refresnet.build(arch, weights)
        torch, tm = torch_model(arch, weights)
        floor = gemm_floor(gemm_products(model, rng.normal(size=(1, 3, 224, 224))))
        for batch in ([1, 8] if args.quick or arch != "resnet50" else [1, 2, 4, 8, 16]):
            x = rng.normal(size=(batch, 3, 224, 224))
            fns = [lambda: model(x), floor]
            if torch is not None:
                xd = torch.from_numpy(x)
                m64 = copy.deepcopy(tm).double()
                m32 = copy.deepcopy(tm).float()
                xf = xd.float()

                def run64():
                    with torch.no_grad():
                        m64(xd)

                def run32():
                    with torch.no_grad():
                        m32(xf)

                fns += [run64, run32]
            times = interleaved_medians(fns, r)
            t_ref, t_floor = times[:2]
            gflops = network_flops(model, x[:1]) * batch / t_ref / 1e9
            row = [arch, str(batch), f"{1000 * t_ref / batch:.1f}", f"{gflops:.1f}", f"{100 * gflops / rate:.0f}%",
                   f"{1000 * t_floor:.1f}"]
            if torch is not None:
                t64, t32 = times[2:]
                row += [f"{1000 * t64 / batch:.1f}", f"{t_ref / t64:.2f}x", f"{1000 * t32 / batch:.1f}"]
            else:
                row += ["-", "-", "-"]
            print("| " + " | ".join(row) + " |")
    try:
        import onnx  # noqa: F401
        print()
        print_onnx_rows(onnx_rows(["resnet50"] if args.quick else ["resnet18", "resnet50"], [1, 8], r))
    except ImportError:
        print("\n(onnx not installed: no ONNX path rows)")
    if args.quick:
        return 0

    print()
    print("## Work-size scaling, resnet50 (ms per image; ms per image per megapixel)")
    print()
    print("| input | batch | ms/image | ms/image/MP |")
    print("|---|---|---|---|")
    model = refresnet.build("resnet50", synthetic_weights("resnet50", seed=0))
    for size in (224, 320, 448):
        for batch in (1, 4):
            x = rng.normal(size=(batch, 3, size, size))
            t = median_time(lambda: model(x), max(3, r // 2)) / batch
            print(f"| {size}x{size} | {batch} | {1000 * t:.1f} | {1000 * t / (size * size / 1e6):.1f} |")

    print()
    print("## Peak memory (fresh process, build + one batch, resnet50 224x224; MB, VmHWM)")
    print()
    print("| batch | refresnet | torch f64 |")
    print("|---|---|---|")
    for batch in (1, 8):
        ref = child("refresnet", "resnet50", batch, 224)
        try:
            tor = child("torch", "resnet50", batch, 224)
            tor_s = f"{tor['peak_mb']:.0f} (after imports and weights {tor['before_mb']:.0f})"
        except subprocess.CalledProcessError:
            tor_s = "-"
        print(f"| {batch} | {ref['peak_mb']:.0f} (after imports and weights {ref['before_mb']:.0f}) | {tor_s} |")
    print()
    print("| whole process (MiB, VmHWM) | refresnet |")
    print("|---|---|")
    image = os.path.join(os.path.dirname(refresnet.__file__), "data", "chelsea.jpg")
    cli = child("cli-synthetic", "resnet50", 1, 224, extra=(image,))
    print(f"| `python -m refresnet predict chelsea.jpg --weights synthetic:resnet50` | {cli['peak_mb']:.0f} |")
    torch, _ = torch_model("resnet50", {})
    if torch is not None:
        import torchvision

        with tempfile.TemporaryDirectory() as tmp:
            pth = os.path.join(tmp, "resnet50.pth")
            torch.save(torchvision.models.resnet50(weights=None).state_dict(), pth)
            real = child("refresnet-pth", "resnet50", 1, 224, extra=(pth,))
        print(f"| `refresnet.load('resnet50.pth')` (float32 torch file) and one image | {real['peak_mb']:.0f} |")

    print()
    print("## First call in a fresh process (resnet50, batch 1, 224x224)")
    print()
    print("| numba cache | build + first call, s | cache files written |")
    print("|---|---|---|")
    for label, seconds, written in first_call_rows("resnet50"):
        print(f"| {label} | {seconds:.2f} | {written} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
