"""Speed of refresnet's float64 ResNets, with torch float32/float64 beside them when installed.

    python benchmarks/speed.py [--arch resnet50] [--batches 1 8] [--repeats 5] [--size 224]

Prints ms/image (median of --repeats runs after one warm-up) for refresnet and,
in the same process on the same weights and input, torch (model.double() and
float32, torch.no_grad()). Also prints the NumPy float64 GEMM rate of this
machine and the network's achieved GFLOP/s, for scale.
"""

import argparse
import os
import platform
import statistics
import sys
import time

import numpy as np

import refresnet
from refresnet.synthetic import synthetic_weights


def median_time(fn, repeats):
    fn()  # warm-up (numba compilation, caches)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def network_flops(model, x):
    """2 * multiply-adds of every conv and linear layer, from the traced shapes."""
    trace = model.trace(x)
    flops = 0
    for node in model.nodes:
        if node.fn is refresnet.ops.conv2d:
            w = node.kwargs["w"]
            out = trace[node.name] if node.name in trace else None
            if out is None:
                continue
            flops += 2 * out.size * w.shape[1] * w.shape[2] * w.shape[3]
        elif node.fn is refresnet.ops.linear:
            flops += 2 * x.shape[0] * node.kwargs["w"].size
    return flops


def gemm_rate(repeats):
    a = np.random.default_rng(0).random((512, 2304))
    b = np.random.default_rng(1).random((2304, 3136))
    t = median_time(lambda: a @ b, repeats)
    return 2 * a.shape[0] * a.shape[1] * b.shape[1] / t / 1e9


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="resnet50")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--size", type=int, default=224)
    args = ap.parse_args(argv)

    print(f"# {time.strftime('%Y-%m-%d %H:%M')}  {platform.processor() or platform.machine()}  {os.cpu_count()} CPUs")
    print(f"# python {platform.python_version()}  numpy {np.__version__}  refresnet {refresnet.__version__}")
    weights = synthetic_weights(args.arch, seed=0)
    model = refresnet.build(args.arch, weights)
    try:
        import torch
        import torchvision

        print(f"# torch {torch.__version__}  torchvision {torchvision.__version__}  threads {torch.get_num_threads()}")
        tm = getattr(torchvision.models, args.arch)(weights=None)
        tm.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in weights.items()}, strict=False)
        tm.eval()
    except ImportError:
        torch = tm = None
        print("# torch not installed: refresnet only")

    rate = gemm_rate(args.repeats)
    print(f"# NumPy float64 GEMM rate: {rate:.1f} GFLOP/s")
    print("| batch | refresnet f64 ms/img | GFLOP/s | torch f64 ms/img | torch f32 ms/img |")
    print("|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    for batch in args.batches:
        x = rng.normal(size=(batch, 3, args.size, args.size))
        t_ref = median_time(lambda: model(x), args.repeats)
        flops = network_flops(model, x)
        row = [f"{batch}", f"{1000 * t_ref / batch:.1f}", f"{flops / t_ref / 1e9:.1f}"]
        if torch is not None:
            with torch.no_grad():
                xd = torch.from_numpy(x)
                m64 = tm.double()
                t64 = median_time(lambda: m64(xd), args.repeats)
                m32 = tm.float()
                xf = xd.float()
                t32 = median_time(lambda: m32(xf), args.repeats)
            row += [f"{1000 * t64 / batch:.1f}", f"{1000 * t32 / batch:.1f}"]
        else:
            row += ["-", "-"]
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
