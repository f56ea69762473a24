"""Precision benchmark: how far each framework's arithmetic lands from the float64 oracle.

    python benchmarks/precision.py [--archs resnet18 resnet50 resnet152] [--size 224]
                                   [--out benchmarks/PRECISION.md] [--no-compare]

(run with an interpreter that has torch/torchvision for the torch rows, e.g.
/work/venv-torch/bin/python; without torch only refresnet's emulated rows appear).

For each architecture, the same seeded synthetic weights (refresnet.synthetic,
seed 0) and the same batch of 2 inputs (the packaged photo refresnet/data/chelsea.jpg
through the torchvision preset, and a seeded smooth random image of the same
scale), it reports per stage (stem = maxpool, layer1..layer4, fc logits) the
relative error against the oracle,

    rel = max |y - y_oracle| / max |y_oracle|

for: torch float32 (CPU, default settings; the TF32 switches
torch.backends.cuda.matmul.allow_tf32 / cudnn.allow_tf32 only act on CUDA, and
torch.get_float32_matmul_precision() is recorded), torch float64 (model.double()),
and refresnet's own emulated float32 / tf32 / bfloat16 / float16
(refresnet.emulate). Also the top-1 / top-5 agreement with the oracle, and, with
compare (unless --no-compare), the largest local error / budget ratio that
torch float32 reaches on any layer (how much room BUDGET_FACTOR leaves).
Writes a markdown file with the machine, date and versions.
"""

import argparse
import datetime
import os
import platform
import sys
import time

import numpy as np

import refresnet
from refresnet import emulate
from refresnet.synthetic import synthetic_weights

STAGES = ["maxpool", "layer1", "layer2", "layer3", "layer4", "fc"]
HERE = os.path.dirname(os.path.abspath(__file__))


def inputs(size):
    from refresnet import preprocess

    photo = os.path.join(os.path.dirname(refresnet.__file__), "data", "chelsea.jpg")
    imgs, names = [], []
    if os.path.exists(photo) and size == 224:
        imgs.append(preprocess.load_image(photo, "torchvision"))
        names.append("chelsea.jpg (torchvision preset)")
    rng = np.random.default_rng([0, 224])
    while len(imgs) < 2:
        coarse = rng.normal(0.0, 1.0, (3, size // 16 + 1, size // 16 + 1))
        imgs.append(np.repeat(np.repeat(coarse, 16, axis=1), 16, axis=2)[:, :size, :size])
        names.append("seeded smooth random image")
    # The batch as float32 values: every framework sees the same numbers.
    return np.stack(imgs).astype(np.float32).astype(np.float64), names


def rel(a, ref):
    a = np.asarray(a, dtype=np.float64).reshape(ref.shape)
    return float(np.max(np.abs(a - ref)) / np.max(np.abs(ref)))


def topk_agreement(logits, ref):
    logits = np.asarray(logits, dtype=np.float64).reshape(ref.shape)
    t1 = float(np.mean(np.argmax(logits, 1) == np.argmax(ref, 1)))
    t5 = float(np.mean([set(np.argsort(-l)[:5]) == set(np.argsort(-r)[:5]) for l, r in zip(logits, ref)]))
    return t1, t5


def torch_stages(tm, x, dtype):
    import torch

    out = {}
    handles = [tm.get_submodule(s).register_forward_hook(
        lambda m, i, o, s=s: out.__setitem__(s, o.detach().double().numpy())) for s in STAGES]
    with torch.no_grad():
        tm(torch.from_numpy(x).to(dtype))
    for h in handles:
        h.remove()
    return out


def torch_model(arch, weights, dtype):
    import torch
    import torchvision

    # Convert the module first: load_state_dict copies into the existing
    # parameters, so a float32 module would round float64 weights to float32.
    tm = getattr(torchvision.models, arch)(weights=None).to(dtype)
    missing, unexpected = tm.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in weights.items()}, strict=False)
    assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing), (missing, unexpected)
    return tm.eval()


def bench_arch(arch, size, do_compare, log):
    t0 = time.perf_counter()
    weights = synthetic_weights(arch, seed=0)
    model = refresnet.build(arch, weights)
    x, names = inputs(size)
    ref = emulate.run_nodes(model, x, keep=set(STAGES))
    rows = {}
    for p in emulate.PRECISIONS:
        rows[f"refresnet emulated {p}"] = emulate.run_nodes(model, x, p, keep=set(STAGES))
        log(f"  {arch} emulated {p}: {time.perf_counter() - t0:.0f}s")
    ratio = None
    try:
        import torch  # noqa: F401
    except ImportError:
        torch = None
    if torch is not None:
        rows["torch float64"] = torch_stages(torch_model(arch, weights, torch.float64), x, torch.float64)
        tm = torch_model(arch, weights, torch.float32)
        rows["torch float32"] = torch_stages(tm, x, torch.float32)
        log(f"  {arch} torch: {time.perf_counter() - t0:.0f}s")
        if do_compare:
            from refresnet.comparison import compare

            report = compare(model, x.astype(np.float32), tm)
            ratio = (max(r["ratio"] for r in report.layers), report.first_divergence)
            log(f"  {arch} compare: {time.perf_counter() - t0:.0f}s")
    table = {}
    for label, st in rows.items():
        errs = [rel(st[s], ref[s]) for s in STAGES]
        t1, t5 = topk_agreement(st["fc"], ref["fc"])
        table[label] = (errs, t1, t5)
    return table, ratio, names


def versions():
    v = {"python": platform.python_version(), "numpy": np.__version__, "refresnet": refresnet.__version__}
    try:
        import torch
        import torchvision

        v["torch"] = torch.__version__
        v["torchvision"] = torchvision.__version__
        v["torch threads"] = str(torch.get_num_threads())
        v["torch float32 matmul precision"] = torch.get_float32_matmul_precision()
        v["torch mkldnn"] = str(torch.backends.mkldnn.is_available())
    except ImportError:
        pass
    return v


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", nargs="+", default=["resnet18", "resnet50", "resnet152"])
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--out", default=os.path.join(HERE, "PRECISION.md"))
    ap.add_argument("--no-compare", action="store_true", help="skip the compare budget-ratio column")
    args = ap.parse_args(argv)

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    results = {}
    names = None
    for arch in args.archs:
        results[arch] = bench_arch(arch, args.size, not args.no_compare, log)
        names = results[arch][2]

    v = versions()
    lines = [
        "# Precision benchmark: distance from the float64 oracle",
        "",
        f"Measured {datetime.date.today().isoformat()} on {platform.machine()} ({platform.processor() or 'cpu'}, "
        f"{os.cpu_count()} cores), {platform.system()} {platform.release()}, by `benchmarks/precision.py "
        f"--archs {' '.join(args.archs)} --size {args.size}`.",
        "",
        "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()) + ".",
        "",
        f"Weights: refresnet.synthetic seed 0 (BN statistics calibrated on 64x64 inputs). Inputs: batch of 2 at "
        f"{args.size}x{args.size}: " + "; ".join(names) + ", as float32 values.",
        "",
        "Cells: max |y - y_oracle| / max |y_oracle| at each stage's output (stem = maxpool; fc = logits). "
        "top-1 / top-5: fraction of images whose top-1 class / top-5 set equals the oracle's. "
        "torch runs on CPU: the TF32 switches act only on CUDA, so 'torch float32' is plain float32 (oneDNN/MKL "
        "kernels). The emulated rows are refresnet.emulate (rounded operands, float32 accumulation; see its docstring).",
        "",
    ]
    for arch, (table, ratio, _) in results.items():
        lines += [f"## {arch}", "", "| run | " + " | ".join(STAGES) + " | top-1 | top-5 |",
                  "|---|" + "---:|" * (len(STAGES) + 2)]
        for label, (errs, t1, t5) in table.items():
            lines.append(f"| {label} | " + " | ".join(f"{e:.1e}" for e in errs) + f" | {t1:.2f} | {t5:.2f} |")
        if ratio is not None:
            lines += ["", f"compare(precision='float32') on torch float32: largest local error / emulated budget "
                          f"over all layers {ratio[0]:.2f} (flag threshold {__import__('refresnet.comparison').comparison.BUDGET_FACTOR:g}); "
                          f"first divergence: {ratio[1]}."]
        lines.append("")
    lines += ["## Growth with depth (logits, rel. error)", "",
              "| run | " + " | ".join(results) + " |", "|---|" + "---:|" * len(results)]
    for label in next(iter(results.values()))[0]:
        lines.append(f"| {label} | " + " | ".join(f"{results[a][0][label][0][-1]:.1e}" for a in results) + " |")
    text = "\n".join(lines) + "\n"
    with open(args.out, "w") as f:
        f.write(text)
    print(text)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4))
        for label in next(iter(results.values()))[0]:
            for arch in results:
                ax.semilogy(STAGES, results[arch][0][label][0], marker="o", label=f"{arch} {label}")
        ax.set_ylabel("max abs error / max |oracle|")
        ax.legend(fontsize=5)
        fig.tight_layout()
        fig.savefig(os.path.splitext(args.out)[0] + ".png", dpi=120)
    except ImportError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
