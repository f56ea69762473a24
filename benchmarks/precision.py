"""Precision benchmark: how far each framework's arithmetic lands from the float64 oracle.

    python benchmarks/precision.py [--archs ARCH ...] [--size 224] [--parts PART ...]
                                   [--out benchmarks/PRECISION.md | --json-out FILE] [--no-compare]
    python benchmarks/precision.py --merge FILE.json [FILE.json ...] [--out benchmarks/PRECISION.md]

torch and TensorFlow live in different environments, so each interpreter
contributes the rows it can and a merge step writes the results file:

    /work/venv-torch/bin/python benchmarks/precision.py --archs resnet18 resnet50 resnet152 --json-out /tmp/p-torch.json
    /work/venv-tf/bin/python benchmarks/precision.py --archs keras_resnet50 keras_resnet101 keras_resnet152 --json-out /tmp/p-keras.json
    python benchmarks/precision.py --merge /tmp/p-torch.json /tmp/p-keras.json

Reduced-precision framework runs (parts torch-low: torch float16, bfloat16 and
autocast on the CPU; keras-mixed: the mixed_float16 / mixed_bfloat16 policies)
are appended to the results as their own section:

    /work/venv-torch/bin/python benchmarks/precision.py --archs resnet18 resnet50 --parts torch-low --json-out /tmp/p-low.json
    /work/venv-tf/bin/python benchmarks/precision.py --archs keras_resnet50 --parts keras-mixed --json-out /tmp/p-mixed.json
    python benchmarks/precision.py --merge /tmp/p-low.json /tmp/p-mixed.json --append-low

PARTs (default: every one whose framework is importable), each applied to the
architectures it fits:

- emulated: refresnet's own emulated float32 / tf32 / bfloat16 / float16
  (refresnet.runtime.precision), every architecture;
- torch: torchvision float64 (model.double()) and float32 (CPU, default
  settings; the TF32 switches torch.backends.cuda.matmul.allow_tf32 /
  cudnn.allow_tf32 act only on CUDA and are recorded, with
  torch.get_float32_matmul_precision()), torchvision architectures;
- onnx: the torch float32 model exported to ONNX with its stage outputs as
  graph outputs (torch.onnx.export, in a temporary directory), run by ONNX
  Runtime's CPUExecutionProvider with its default session options (graph
  optimisations ORT_ENABLE_ALL, which fold BatchNorm into the convs);
- keras: keras.applications' own ResNet (weights=None, Keras 3, TensorFlow
  backend) in float32 and in float64 (keras.config.set_floatx/set_dtype_policy
  before building), Keras architectures.

For each architecture, the same seeded synthetic weights (refresnet.build.synthetic,
seed 0) and the same batch of 2 inputs (the packaged photo
refresnet/data/chelsea.jpg through the architecture's preset -- torchvision's, or
Keras's 'caffe' preprocess_input -- and a seeded smooth random image of the same
scale), as float32 values. Per stage output, the relative error against the oracle

    rel = max |y - y_oracle| / max |y_oracle|

Stages: torchvision maxpool, layer1..layer4, fc (logits); Keras pool1_pool, the
last block of conv2..conv5 (conv{S}_block{B}_out), logits (the predictions
layer's pre-softmax output: the Keras runs compute it by running the
predictions Dense layer once more with its activation set to linear; the
oracle's internal ~predictions.logits) and probabilities (the model's real
output, after softmax). top-1 / top-5 agreement with the oracle are taken on
the logits. With compare (unless --no-compare), the largest local error /
budget ratio that torch float32 and Keras float32 reach on any layer (how much
room compare's BUDGET_FACTOR leaves).
"""

import argparse
import datetime
import hashlib
import json
import os
import platform
import sys
import tempfile
import time

import numpy as np

import refresnet
from refresnet.runtime import precision as emulate
from refresnet import preprocess
from refresnet.io.keras_file import keras_layer_roles
from refresnet.build.synthetic import synthetic_weights

HERE = os.path.dirname(os.path.abspath(__file__))
PHOTO = os.path.join(os.path.dirname(refresnet.__file__), "data", "chelsea.jpg")
SEED = 0
TORCH_STAGES = ["maxpool", "layer1", "layer2", "layer3", "layer4", "fc"]
KERAS_FNS = {"keras_resnet50": "ResNet50", "keras_resnet101": "ResNet101", "keras_resnet152": "ResNet152",
             "keras_resnet50v2": "ResNet50V2", "keras_resnet101v2": "ResNet101V2", "keras_resnet152v2": "ResNet152V2"}
LOGITS, PROBS = "~predictions.logits", "predictions"  # the oracle's node names for the Keras head
PARTS = ("emulated", "torch", "onnx", "keras", "torch-low", "keras-mixed")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ what is measured

def is_keras(arch):
    return refresnet.get_arch(arch).framework == "keras"


def stages(model):
    """[(oracle node name, column label)] of the stage outputs of ``model``."""
    if not is_keras(model.arch.name):
        return [(s, s) for s in TORCH_STAGES]
    names = model.layer_names()
    out = [("pool1_pool", "pool1_pool")]
    for s in range(2, 6):
        last = max(int(n.split("_block")[1].split("_")[0]) for n in names if n.startswith(f"conv{s}_block"))
        out.append((f"conv{s}_block{last}_out",) * 2)
    return out + [(LOGITS, "logits"), (PROBS, "probabilities")]


def logits_node(model):
    return LOGITS if is_keras(model.arch.name) else "fc"


def inputs(arch, size):
    """The batch (in the framework's layout, float32 values held as float64) and
    a description of each image."""
    keras = is_keras(arch)
    # keras.applications: 'caffe' preprocessing for ResNet v1, 'tf' for V2
    mode = "tf" if keras and refresnet.get_arch(arch).block == "preact" else "caffe"
    imgs, names = [], []
    if os.path.exists(PHOTO) and size == 224:
        preset = f"keras-{mode}" if keras else "torchvision"
        imgs.append(preprocess.load_image(PHOTO, preset))
        names.append(f"chelsea.jpg ({preset} preset)")
    rng = np.random.default_rng([SEED, 224])
    while len(imgs) < 2:
        if keras:
            # pixels 0..255 through Keras's preprocess_input
            coarse = rng.uniform(0.0, 255.0, (size // 16 + 1, size // 16 + 1, 3))
            u8 = np.repeat(np.repeat(coarse, 16, axis=0), 16, axis=1)[:size, :size].round()
            imgs.append(preprocess.keras_float(u8, mode))
            names.append(f"seeded smooth random image ({mode} preprocessed)")
        else:
            coarse = rng.normal(0.0, 1.0, (3, size // 16 + 1, size // 16 + 1))
            imgs.append(np.repeat(np.repeat(coarse, 16, axis=1), 16, axis=2)[:, :size, :size])
            names.append("seeded smooth random image")
    # The batch as float32 values: every framework sees the same numbers.
    return np.stack(imgs).astype(np.float32).astype(np.float64), names


def rel(a, ref):
    a = np.asarray(a, dtype=np.float64).reshape(ref.shape)
    return float(np.max(np.abs(a - ref)) / np.max(np.abs(ref)))


def topk_agreement(logits, ref):
    ref = ref.reshape(ref.shape[0], -1)
    logits = np.asarray(logits, dtype=np.float64).reshape(ref.shape)
    t1 = float(np.mean(np.argmax(logits, 1) == np.argmax(ref, 1)))
    t5 = float(np.mean([set(np.argsort(-l)[:5]) == set(np.argsort(-r)[:5]) for l, r in zip(logits, ref)]))
    return t1, t5


def row(model, ref, outs):
    """{"stages": {label: rel}, "top1", "top5"} of a run's stage outputs ``outs``
    ({node name: array in the framework's layout}) against the oracle ``ref``
    (internal layout)."""
    errs = {}
    for node, label in stages(model):
        errs[label] = rel(to_internal(model, outs[node]), ref[node])
    t1, t5 = topk_agreement(to_internal(model, outs[logits_node(model)]), ref[logits_node(model)])
    return {"stages": errs, "top1": t1, "top5": t5}


def to_internal(model, a):
    a = np.asarray(a, dtype=np.float64)
    if model.arch.layout == "NHWC" and a.ndim == 4:
        return a.transpose(0, 3, 1, 2)
    return a


# ------------------------------------------------------------------ torch and ONNX Runtime

def torch_model(arch, weights, dtype):
    import torch
    import torchvision

    # Convert the module first: load_state_dict copies into the existing
    # parameters, so a float32 module would round float64 weights to float32.
    tm = getattr(torchvision.models, arch)(weights=None).to(dtype)
    missing, unexpected = tm.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in weights.items()}, strict=False)
    assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing), (missing, unexpected)
    return tm.eval()


def torch_stages(tm, x, dtype, autocast=None):
    import contextlib

    import torch

    out = {}
    handles = [tm.get_submodule(s).register_forward_hook(
        lambda m, i, o, s=s: out.__setitem__(s, o.detach().double().numpy())) for s in TORCH_STAGES]
    amp = torch.autocast("cpu", dtype=autocast) if autocast is not None else contextlib.nullcontext()
    with torch.no_grad(), amp:
        tm(torch.from_numpy(x).to(dtype))
    for h in handles:
        h.remove()
    return out


def onnx_stages(tm, x):
    """The float32 torch model exported to ONNX with the stage outputs as graph
    outputs, run by ONNX Runtime on the CPU. Returns (outputs, export notes)."""
    import onnxruntime as ort
    import torch
    from torchvision.models.feature_extraction import create_feature_extractor

    class StageOutputs(torch.nn.Module):
        # the feature extractor returns a dict; ONNX outputs are positional
        def __init__(self, fx):
            super().__init__()
            self.fx = fx

        def forward(self, inp):
            d = self.fx(inp)
            return tuple(d[s] for s in TORCH_STAGES)

    net = StageOutputs(create_feature_extractor(tm, {s: s for s in TORCH_STAGES})).eval()
    x32 = torch.from_numpy(x.astype(np.float32))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.onnx")
        torch.onnx.export(net, (x32,), path, input_names=["x"], output_names=TORCH_STAGES, dynamo=True)
        import onnx

        opset = max(o.version for o in onnx.load(path, load_external_data=False).opset_import if o.domain in ("", "ai.onnx"))
        so = ort.SessionOptions()
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        outs = sess.run(TORCH_STAGES, {"x": x32.numpy()})
    notes = {"onnx opset": str(opset), "onnxruntime providers": ",".join(sess.get_providers()),
             "onnxruntime graph optimization": str(so.graph_optimization_level).split(".")[-1],
             "onnxruntime intra-op threads": f"{so.intra_op_num_threads} (0: ORT's default)",
             "onnx exporter": "torch.onnx.export(dynamo=True)"}
    return dict(zip(TORCH_STAGES, outs)), notes


# ------------------------------------------------------------------ Keras

def keras_model(arch, weights, size, dtype):
    """keras.applications' ResNet of ``arch`` in ``dtype``, given ``weights``."""
    import keras

    floatx, policy = keras.config.floatx(), keras.config.dtype_policy()
    # Both before the model exists: either alone leaves a float32 input layer or float32 compute.
    mixed = dtype.startswith("mixed_")  # a mixed policy: float32 variables and input, float16/bfloat16 compute
    keras.config.set_floatx("float32" if mixed else dtype)
    keras.config.set_dtype_policy(dtype)
    try:
        km = getattr(keras.applications, KERAS_FNS[arch])(weights=None, input_shape=(size, size, 3))
    finally:
        keras.config.set_floatx(floatx)
        keras.config.set_dtype_policy(policy)
    want = dtype.split("_")[1] if mixed else dtype
    assert km.layers[-2].compute_dtype == want, (arch, km.layers[-2].compute_dtype)
    for layer in km.layers:
        roles = keras_layer_roles(layer)
        if roles:
            layer.set_weights([np.asarray(weights[f"{layer.name}/{r}"]) for r in roles])
    return km


def keras_stages(km, model, x):
    """Stage outputs of Keras model ``km`` on NHWC ``x`` (fed in the model's
    dtype), with the logits from the predictions layer run with a linear
    activation (Keras puts the softmax inside that Dense layer)."""
    import keras

    names = [n for n, _ in stages(model) if n != LOGITS]
    probe = keras.Model(km.inputs[0], [km.get_layer(n).output for n in names])
    xin = x.astype(km.inputs[0].dtype)
    outs = {n: np.asarray(o.numpy()).astype(np.float64) for n, o in zip(names, probe(xin, training=False))}
    head = km.get_layer(PROBS)
    softmax = head.activation
    head.activation = keras.activations.linear
    try:
        outs[LOGITS] = np.asarray(keras.Model(km.inputs[0], head.output)(xin, training=False).numpy()).astype(np.float64)
    finally:
        head.activation = softmax
    # the linear run must be the softmax run's input: its softmax gives the probabilities back
    # (to the compute format's rounding: bfloat16 keeps 8 bits)
    z = outs[LOGITS]
    p = np.exp(z - z.max(axis=1, keepdims=True))
    tol = {"float16": 2e-3, "bfloat16": 2e-2}.get(str(head.compute_dtype), 1e-3)
    assert np.allclose(p / p.sum(axis=1, keepdims=True), outs[PROBS], rtol=tol, atol=1e-6)
    return outs


# ------------------------------------------------------------------ one architecture

def importable(name):
    try:
        __import__(name)
        return True
    except ImportError:
        return False


def run_nodes(model, xi, precision=None, keep=None):
    """The kept nodes' outputs on internal input ``xi``, in float64 or emulated
    ``precision`` (input rounded to its storage format first), on the one
    interpreter (Model.run)."""
    if precision is not None:
        xi = emulate.round_to(xi, emulate.STORAGE[emulate.check_precision(precision)])
    return model.run(xi, keep=set(keep), precision=precision)


# torch's reduced-precision CPU runs: (label, module dtype, autocast dtype, compare precision).
TORCH_LOW = [("torch float16", "float16", None, "float16"), ("torch bfloat16", "bfloat16", None, "bfloat16"),
             ("torch autocast bfloat16", "float32", "bfloat16", "bfloat16"),
             ("torch autocast float16", "float32", "float16", "float16")]
KERAS_LOW = [("keras mixed_float16", "mixed_float16", "float16"), ("keras mixed_bfloat16", "mixed_bfloat16", "bfloat16")]


def bench_arch(arch, size, parts, do_compare):
    t0 = time.perf_counter()
    weights = synthetic_weights(arch, seed=SEED)
    model = refresnet.build(arch, weights)
    x, names = inputs(arch, size)
    keep = {n for n, _ in stages(model)}
    ref = run_nodes(model, model._to_internal(x), keep=keep)
    result = {"stages": [label for _, label in stages(model)], "rows": {}, "compare": {}, "inputs": names,
              "oracle_digest": hashlib.sha256(np.ascontiguousarray(ref[logits_node(model)]).tobytes()).hexdigest()[:16]}
    rows = result["rows"]
    if "emulated" in parts:
        for p in emulate.PRECISIONS:
            emu = run_nodes(model, model._to_internal(x), p, keep=keep)
            rows[f"refresnet emulated {p}"] = row(model, ref, {k: model._to_external(v) for k, v in emu.items()})
            log(f"  {arch} emulated {p}: {time.perf_counter() - t0:.0f}s")
    if not is_keras(arch) and ("torch" in parts or "onnx" in parts or "torch-low" in parts):
        import torch

        tm = torch_model(arch, weights, torch.float32)
        if "torch" in parts:
            rows["torch float64"] = row(model, ref, torch_stages(torch_model(arch, weights, torch.float64), x, torch.float64))
            rows["torch float32"] = row(model, ref, torch_stages(tm, x, torch.float32))
            log(f"  {arch} torch: {time.perf_counter() - t0:.0f}s")
            if do_compare:
                result["compare"]["torch float32"] = compare_ratio(model, x, tm)
                log(f"  {arch} compare torch: {time.perf_counter() - t0:.0f}s")
        if "torch-low" in parts:
            for label, dtype, ac, prec in TORCH_LOW:
                low = torch_model(arch, weights, getattr(torch, dtype))
                rows[label] = row(model, ref, torch_stages(low, x, getattr(torch, dtype), ac and getattr(torch, ac)))
                log(f"  {arch} {label}: {time.perf_counter() - t0:.0f}s")
                if do_compare:
                    if ac:
                        with torch.autocast("cpu", dtype=getattr(torch, ac)):
                            result["compare"][label] = compare_ratio(model, x, low, prec)
                    else:
                        result["compare"][label] = compare_ratio(model, x, low, prec)
                    log(f"  {arch} compare {label}: {time.perf_counter() - t0:.0f}s")
        if "onnx" in parts:
            outs, notes = onnx_stages(tm, x)
            rows["onnxruntime float32"] = row(model, ref, outs)
            result["onnx"] = notes
            log(f"  {arch} onnxruntime: {time.perf_counter() - t0:.0f}s")
    if is_keras(arch) and "keras" in parts:
        x_nhwc = x  # inputs() gives Keras archs NHWC already
        rows["keras float64"] = row(model, ref, keras_stages(keras_model(arch, weights, size, "float64"), model, x_nhwc))
        km = keras_model(arch, weights, size, "float32")
        rows["keras float32"] = row(model, ref, keras_stages(km, model, x_nhwc))
        log(f"  {arch} keras: {time.perf_counter() - t0:.0f}s")
        if do_compare:
            result["compare"]["keras float32"] = compare_ratio(model, x_nhwc, km)
            log(f"  {arch} compare keras: {time.perf_counter() - t0:.0f}s")
    if is_keras(arch) and "keras-mixed" in parts:
        import keras

        for label, policy, prec in KERAS_LOW:
            km = keras_model(arch, weights, size, policy)
            rows[label] = row(model, ref, keras_stages(km, model, x))
            log(f"  {arch} {label}: {time.perf_counter() - t0:.0f}s")
            if do_compare:
                result["compare"][label] = compare_ratio(model, x, km, prec)
    return result


def compare_ratio(model, x, framework_model, precision="float32"):
    from refresnet.diagnose.compare import compare

    report = compare(model, x.astype(np.float32), framework_model, precision=precision)
    worst = max((r for r in report.layers if "ratio" in r), key=lambda r: r["ratio"])
    return {"max_ratio": worst["ratio"], "at": worst["name"], "layers": len(report.layers),
            "first_divergence": report.first_divergence, "precision": precision}


# ------------------------------------------------------------------ environment

def versions(parts):
    v = {"python": platform.python_version(), "numpy": np.__version__, "refresnet": refresnet.__version__}
    if "torch" in parts or "onnx" in parts:
        import torch
        import torchvision

        v["torch"] = torch.__version__
        v["torchvision"] = torchvision.__version__
        v["torch threads"] = str(torch.get_num_threads())
        v["torch float32 matmul precision"] = torch.get_float32_matmul_precision()
        v["torch.backends.cuda.matmul.allow_tf32"] = str(torch.backends.cuda.matmul.allow_tf32)
        v["torch.backends.cudnn.allow_tf32"] = str(torch.backends.cudnn.allow_tf32)
        v["torch mkldnn"] = str(torch.backends.mkldnn.is_available())
    if "onnx" in parts:
        import onnx
        import onnxruntime

        v["onnx"] = onnx.__version__
        v["onnxruntime"] = onnxruntime.__version__
    if "keras" in parts:
        import keras
        import tensorflow as tf

        v["keras"] = keras.__version__
        v["keras backend"] = keras.backend.backend()
        v["tensorflow"] = tf.__version__
        v["TF_ENABLE_ONEDNN_OPTS"] = os.environ.get(
            "TF_ENABLE_ONEDNN_OPTS", "unset (TF's default: oneDNN custom operations on, as TF logs here)")
        v["tensorflow intra-op threads"] = f"{tf.config.threading.get_intra_op_parallelism_threads()} (0: all cores)"
    return v


def machine():
    cpu = platform.processor() or "cpu"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{platform.machine()} ({cpu}, {os.cpu_count()} cores), {platform.system()} {platform.release()}"


def measure(args):
    parts = set(args.parts or [p for p in PARTS if p == "emulated" or importable(
        {"torch": "torchvision", "onnx": "onnxruntime", "keras": "keras", "torch-low": "torchvision",
         "keras-mixed": "keras"}[p])])
    if "onnx" in parts and not importable("torchvision"):
        raise SystemExit("--parts onnx: exports the torchvision model, so torch and torchvision must be installed")
    if "keras" in parts:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    log(f"parts: {', '.join(sorted(parts))}")
    doc = {"meta": {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                    "machine": machine(), "size": args.size, "parts": sorted(parts),
                    "command": "benchmarks/precision.py " + " ".join(sys.argv[1:] if args.argv is None else args.argv),
                    "versions": versions(parts)},
           "archs": {}}
    for arch in args.archs:
        log(f"{arch}:")
        doc["archs"][arch] = bench_arch(arch, args.size, parts, not args.no_compare)
    return doc


# ------------------------------------------------------------------ results file

def merge(docs):
    """One document from several runs' documents; an architecture measured by
    two runs must have the same oracle (same weights and inputs) in both."""
    out = {"runs": [d["meta"] for d in docs], "archs": {}}
    for d in docs:
        for arch, res in d["archs"].items():
            mine = out["archs"].setdefault(arch, {"stages": res["stages"], "rows": {}, "compare": {},
                                                  "inputs": res["inputs"], "oracle_digest": res["oracle_digest"]})
            if mine["oracle_digest"] != res["oracle_digest"]:
                raise SystemExit(f"--merge: {arch}: the runs' oracle logits differ (digest {mine['oracle_digest']} "
                                 f"vs {res['oracle_digest']}); were they made with the same refresnet, --size and seed?")
            mine["rows"].update(res["rows"])
            mine["compare"].update(res["compare"])
            if "onnx" in res:
                mine["onnx"] = res["onnx"]
    return out


def markdown(doc):
    from refresnet.diagnose.metrics import BUDGET_FACTOR

    runs = doc["runs"]
    sizes = sorted({r["size"] for r in runs})
    lines = ["# Precision benchmark: distance from the float64 oracle", ""]
    lines.append(f"Measured on {runs[0]['machine']}, by `benchmarks/precision.py`, one run per Python environment "
                 f"(torch and TensorFlow are installed in different ones), merged with `--merge`:")
    lines.append("")
    for r in runs:
        lines.append(f"- {r['date']}: `{r['command']}` (parts: {', '.join(r['parts'])}); versions: "
                     + ", ".join(f"{k} {val}" for k, val in r["versions"].items()) + ".")
    onnx = next((a["onnx"] for a in doc["archs"].values() if "onnx" in a), None)
    if onnx:
        lines.append("- ONNX Runtime: " + ", ".join(f"{k} {v}" for k, v in onnx.items()) + ".")
    lines += [
        "",
        f"Weights: refresnet.build.synthetic seed {SEED} (BN statistics calibrated on 64x64 inputs). Inputs: a batch of 2 "
        f"at {'/'.join(str(s) for s in sizes)}x{'/'.join(str(s) for s in sizes)}: "
        + "; ".join(sorted({", ".join(a["inputs"]) for a in doc["archs"].values()}))
        + ", as float32 values, so every framework sees the same numbers.",
        "",
        "Cells: max |y - y_oracle| / max |y_oracle| at each stage's output. torchvision: stem = maxpool, fc = "
        "logits. Keras: pool1_pool, the last block of each stage, logits = the predictions layer before its softmax "
        "(the Keras runs evaluate that Dense layer once more with a linear activation), probabilities = the "
        "model's output. top-1 / top-5: fraction of images whose top-1 class / top-5 set (of the logits) equals "
        "the oracle's. torch runs on CPU: the TF32 switches act only on CUDA, so 'torch float32' is plain float32 "
        "(oneDNN/MKL kernels). The emulated rows are refresnet.runtime.precision (rounded operands, float32 accumulation; "
        "see its docstring).",
        "",
    ]
    lines += arch_tables(doc, "##")
    def family_of(arch):
        if not is_keras(arch):
            return "torchvision"
        return "Keras V2" if refresnet.get_arch(arch).block == "preact" else "Keras"

    for title in ("torchvision", "Keras", "Keras V2"):
        family = title != "torchvision"
        archs = [a for a in doc["archs"] if family_of(a) == title]
        if not archs:
            continue
        labels = [l for l in doc["archs"][archs[0]]["rows"] if all(l in doc["archs"][a]["rows"] for a in archs)]
        lines += [f"## Growth with depth, {title} (logits, rel. error)", "",
                  "| run | " + " | ".join(archs) + " |", "|---|" + "---:|" * len(archs)]
        key = "logits" if family else "fc"
        for label in labels:
            lines.append(f"| {label} | " + " | ".join(f"{doc['archs'][a]['rows'][label]['stages'][key]:.1e}"
                                                       for a in archs) + " |")
        lines.append("")
    lines += notes(doc)
    return "\n".join(lines) + "\n"


def arch_tables(doc, level):
    """Each architecture's table of rows and its compare lines."""
    from refresnet.diagnose.metrics import BUDGET_FACTOR

    lines = []
    for arch, res in doc["archs"].items():
        st = res["stages"]
        lines += [f"{level} {arch}", "", "| run | " + " | ".join(st) + " | top-1 | top-5 |",
                  "|---|" + "---:|" * (len(st) + 2)]
        for label, r in res["rows"].items():
            lines.append(f"| {label} | " + " | ".join(f"{r['stages'][s]:.1e}" for s in st)
                         + f" | {r['top1']:.2f} | {r['top5']:.2f} |")
        for label, c in res["compare"].items():
            lines += ["", f"compare(precision='{c.get('precision', 'float32')}') on {label}: largest local error / "
                          f"emulated budget over all {c['layers']} layers {c['max_ratio']:.2f} (at {c['at']}; flag "
                          f"threshold {BUDGET_FACTOR:g}); first divergence: {c['first_divergence']}."]
        lines.append("")
    return lines


LOW_TITLE = "## Reduced-precision framework runs on the CPU"


def append_low(doc, out):
    """Append (or replace) the section of reduced-precision framework rows in
    ``out``, leaving the float32/float64 results above it as they were."""
    with open(out) as f:
        text = f.read()
    if LOW_TITLE in text:
        text = text[:text.index(LOW_TITLE)].rstrip("\n") + "\n"
    lines = ["", LOW_TITLE, "",
             "torch modules converted with .half() / .to(torch.bfloat16), or float32 modules run under "
             "torch.autocast('cpu', dtype); Keras models built under the mixed_float16 / mixed_bfloat16 policies. "
             "Same weights, inputs and cells as above (compare the 'refresnet emulated float16/bfloat16' rows of "
             "each architecture's table above); compare runs at the run's precision. Runs:", ""]
    for r in doc["runs"]:
        lines.append(f"- {r['date']}: `{r['command']}` (parts: {', '.join(r['parts'])}); versions: "
                     + ", ".join(f"{k} {val}" for k, val in r["versions"].items()) + ".")
    lines.append("")
    lines += arch_tables(doc, "###")
    with open(out, "w") as f:
        f.write(text + "\n".join(lines) + "\n")
    print("\n".join(lines))


def notes(doc):
    """The notes under the tables, their numbers taken from the results."""
    from refresnet.diagnose.metrics import BUDGET_FACTOR

    ratios = {(a, label): c["max_ratio"] for a, res in doc["archs"].items() for label, c in res["compare"].items()}
    out = ["## Notes", "",
           "- Synthetic weights: the values mean nothing and their BN statistics come from 64x64 inputs, so deep "
           "stages amplify rounding more than trained weights would. The top-1/top-5 columns use the synthetic "
           "classifier; they show whether rounding flips the oracle's ranking, not accuracy."]
    f32 = [(a, l, r["stages"]) for a, res in doc["archs"].items() for l, r in res["rows"].items()
           if l.endswith("float32") and not l.startswith("refresnet")]
    if f32:
        emu = {a: res["rows"].get("refresnet emulated float32") for a, res in doc["archs"].items()}
        spread = []
        for a, l, st in f32:
            if emu.get(a):
                spread += [st[s] / emu[a]["stages"][s] for s in st if emu[a]["stages"][s] > 0]
        if spread:
            out.append(f"- Every framework's float32 error is of the size refresnet's emulated float32 predicts: "
                       f"framework / emulated error per stage spans {min(spread):.2f} .. {max(spread):.2f} over all "
                       f"stages and architectures above (different summation orders, same unit roundoff).")
    if ratios:
        per = {}
        for (a, label), r in ratios.items():
            if r >= per.get(label, (0, ""))[0]:
                per[label] = (r, a)
        out.append("- compare's largest local error / budget ratio on a correct float32 run: "
                   + "; ".join(f"{label} {r:.2f} ({a})" for label, (r, a) in per.items())
                   + f"; all under the flag factor {BUDGET_FACTOR:g}. Faults tested (BN eps 1e-3, TF padding, "
                   "BGR input) are >100x budget (tests/test_compare*.py).")
    if any(is_keras(a) for a in doc["archs"]):
        out.append("- Keras probabilities: their error comes from the one or two classes that dominate them, so it "
                   "scatters more than the logits' (compare measures a softmax output as log-probabilities, "
                   "refresnet/diagnose/compare.py).")
    frameworks = {l.split()[0] for a, l, _ in f32}
    missing = [n for k, n in (("torch", "torch"), ("onnxruntime", "ONNX Runtime"), ("keras", "TF/Keras"))
               if k not in frameworks]
    out.append("- No GPU on this machine, so TF32 is emulated only." + (
        f" Not run: {', '.join(missing)}." if missing else ""))
    return out


def plot(doc, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib not installed: no plot")
        return False
    families = [f for f in (False, True) if any(is_keras(a) == f for a in doc["archs"])]
    fig, axes = plt.subplots(1, len(families), figsize=(6.5 * len(families), 4.5), squeeze=False)
    styles = {"refresnet": ("--", "o"), "torch": ("-", "s"), "onnxruntime": (":", "^"), "keras": ("-", "D")}
    for ax, family in zip(axes[0], families):
        archs = [a for a in doc["archs"] if is_keras(a) == family]
        for color, arch in zip(plt.rcParams["axes.prop_cycle"].by_key()["color"], archs):
            res = doc["archs"][arch]
            st = [s for s in res["stages"] if s != "probabilities"]
            for label, r in res["rows"].items():
                if "float32" not in label:
                    continue
                ls, marker = styles[label.split()[0]]
                ax.semilogy(range(len(st)), [r["stages"][s] for s in st], color=color, linestyle=ls, marker=marker,
                            label=f"{arch} {label}")
        ax.set_xticks(range(len(st)))
        ax.set_xticklabels([s.split("_block")[0] for s in st])  # conv3_block4_out -> conv3
        ax.set_title(f"{'Keras' if family else 'torchvision'} architectures, float32 runs")
        ax.set_ylabel("max |y - oracle| / max |oracle|")
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def write(doc, out):
    text = markdown(doc)
    with open(out, "w") as f:
        f.write(text)
    print(text)
    png = os.path.splitext(out)[0] + ".png"
    if plot(doc, png):
        log(f"wrote {out} and {png}")
    else:
        log(f"wrote {out}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", nargs="+", default=["resnet18", "resnet50", "resnet152"],
                    help="torchvision and/or Keras architecture names (refresnet.ARCHS)")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--parts", nargs="+", choices=PARTS, help="what to measure (default: all installed)")
    ap.add_argument("--out", default=os.path.join(HERE, "PRECISION.md"), help="markdown results file")
    ap.add_argument("--json-out", help="write this run's results as JSON (for --merge) instead of the markdown")
    ap.add_argument("--merge", nargs="+", metavar="JSON", help="merge runs' --json-out files into --out")
    ap.add_argument("--no-compare", action="store_true", help="skip the compare budget-ratio lines")
    ap.add_argument("--append-low", action="store_true",
                    help="with --merge: append the runs (torch-low, keras-mixed) to --out as the reduced-precision "
                         "section instead of rewriting it")
    args = ap.parse_args(argv)
    args.argv = argv
    if args.merge:
        docs = []
        for p in args.merge:
            with open(p) as f:
                docs.append(json.load(f))
        if args.append_low:
            append_low(merge(docs), args.out)
        else:
            write(merge(docs), args.out)
        return 0
    for arch in args.archs:
        try:
            row_ = refresnet.get_arch(arch)  # an unknown name fails before any work, listing the valid ones
        except ValueError as err:
            raise SystemExit(f"--archs: {err}") from None
        if row_.framework not in ("torchvision", "keras") or (is_keras(arch) and arch not in KERAS_FNS):
            raise SystemExit(f"--archs {arch}: this benchmark covers the torchvision ResNets and "
                             f"{', '.join(KERAS_FNS)} (their stage names and input presets)")
    doc = measure(args)
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(doc, f, indent=1)
        log(f"wrote {args.json_out}")
    else:
        write(merge([doc]), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
