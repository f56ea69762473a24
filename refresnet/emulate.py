"""Run a Model's nodes under emulated reduced precision, to measure rounding budgets.

The oracle computes in float64. To tell a framework's *rounding* from a *bug*,
``compare`` needs to know how far an honest float32 (or TF32, bfloat16, float16)
computation of the same network lands from float64. This module produces such a
computation by emulation, with NumPy only. What is emulated, exactly:

Formats (all rounding is round-to-nearest, ties to even):
  float32   IEEE binary32: 24-bit significand, 8-bit exponent.
  tf32      NVIDIA TensorFloat-32: float32 with the significand cut to 11 bits
            (10 stored); range of float32. Only the operands of conv/linear GEMMs
            are tf32 (what cuDNN/cuBLAS do with ``allow_tf32``); activations are
            stored as float32.
  bfloat16  8-bit significand (7 stored), range of float32.
  float16   IEEE binary16: 11-bit significand, 5-bit exponent (max 65504,
            overflow -> inf, gradual underflow below 2**-14).
Every value is first rounded to float32 and then, for the narrower formats, from
float32 to the format (the order in which a framework's float32 data reaches a
narrower format). Rounded values are carried in float64 arrays.

Per op, with "storage format" = float32 for float32/tf32, else the format itself:
  - inputs and weights are rounded to the storage format;
  - conv2d and linear: the operands are rounded to the GEMM operand format
    (tf32 for tf32, else the storage format), each product is formed exactly in
    float32 (the product of two <=11-bit significands fits in 24 bits) and the
    sums are accumulated in float32 by NumPy's float32 GEMM (OpenBLAS sgemm: its
    own blocking order, like any BLAS); the bias is added in float32; the result
    is rounded to the storage format. This is the "reduced-precision products,
    float32 accumulation" model of tensor-core and oneDNN kernels; it does not
    model Winograd or FFT convolutions, nor float16 accumulation;
  - batch_norm: (x - mean) / sqrt(var + eps) * gamma + beta evaluated op by op
    in float32 (each intermediate rounded to float32), result rounded to the
    storage format;
  - global average pooling and the residual add: float32 arithmetic (NumPy's
    pairwise float32 sum for the mean), result rounded to the storage format;
  - softmax: float32 exp / sum;
  - relu, max pooling, zero padding and subsampling do no arithmetic: the
    float64 op applied to already rounded inputs is exact in any format.
"""

from collections import OrderedDict

import numpy as np

from . import graph, ops
from .kernels import im2col
from .ops._common import check_positive, conv_out_size, explicit_padding, pair

PRECISIONS = ("float32", "tf32", "bfloat16", "float16")

# Significand bits (including the implicit bit) and smallest normal exponent.
FORMATS = {
    "float64": dict(bits=53, emin=-1022),
    "float32": dict(bits=24, emin=-126),
    "tf32": dict(bits=11, emin=-126),
    "bfloat16": dict(bits=8, emin=-126),
    "float16": dict(bits=11, emin=-14),
}

# The format activations are stored in for each emulated precision.
STORAGE = {"float32": "float32", "tf32": "float32", "bfloat16": "bfloat16", "float16": "float16"}


def check_precision(precision):
    if precision not in PRECISIONS:
        raise ValueError(f"precision: unknown {precision!r}; expected one of {', '.join(PRECISIONS)}")
    return precision


def unit_roundoff(fmt):
    """2**-bits: half the spacing of the format just above 1 (u = eps/2)."""
    return 2.0 ** -FORMATS[fmt]["bits"]


def _round_float32_bits(a32, keep_bits):
    """Round float32 values to `keep_bits` significand bits (incl. implicit), ties to
    even, by integer arithmetic on the IEEE bit pattern; non-finite values pass."""
    drop = 24 - keep_bits
    bits = a32.view(np.uint32).astype(np.uint64)
    lsb = (bits >> drop) & 1
    rounded = ((bits + ((1 << (drop - 1)) - 1) + lsb) >> drop) << drop
    out = (rounded & 0xFFFFFFFF).astype(np.uint32).view(np.float32)
    # A carry out of the largest finite binade becomes inf, as the hardware does.
    return np.where(np.isfinite(a32), out, a32)


def round_to(x, fmt):
    """``x`` rounded to format ``fmt`` (float64, float32, tf32, bfloat16, float16),
    returned as float64."""
    a = np.asarray(x, dtype=np.float64)
    if fmt == "float64":
        return a
    with np.errstate(over="ignore", invalid="ignore"):
        a32 = a.astype(np.float32)
        if fmt == "float32":
            out = a32
        elif fmt in ("tf32", "bfloat16"):
            out = _round_float32_bits(np.atleast_1d(a32), FORMATS[fmt]["bits"]).reshape(a32.shape)
        elif fmt == "float16":
            out = a32.astype(np.float16)
        else:
            raise ValueError(f"format: unknown {fmt!r}; expected one of {', '.join(FORMATS)}")
    return out.astype(np.float64)


def ulp(ref, fmt):
    """The spacing of format ``fmt`` at each value of ``ref``: 2**(max(e, emin) - bits + 1)
    with e = floor(log2 |ref|); at zero, the smallest subnormal spacing."""
    f = FORMATS[fmt]
    a = np.abs(np.asarray(ref, dtype=np.float64))
    with np.errstate(divide="ignore"):
        e = np.floor(np.log2(np.where(a > 0, a, 1.0)))
    e = np.where(a > 0, np.maximum(e, f["emin"]), f["emin"])
    return np.exp2(e - f["bits"] + 1)


# ------------------------------------------------------------------ ops

def _conv_emulated(x, w, bias, stride, padding, dilation, groups, operand, storage):
    x = round_to(round_to(x, storage), operand)
    w = round_to(round_to(w, storage), operand)
    N, C, H, W = x.shape
    O, Cg, kh, kw = w.shape
    sh, sw = check_positive(pair(stride, "stride"), "stride")
    dh, dw = check_positive(pair(dilation, "dilation"), "dilation")
    t, b, l, r = explicit_padding(padding, (kh, kw), (sh, sw), (dh, dw), (H, W))
    OH = conv_out_size(H, kh, sh, dh, t, b, "conv2d height")
    OW = conv_out_size(W, kw, sw, dw, l, r, "conv2d width")
    Og, K = O // groups, Cg * kh * kw
    w2 = w.reshape(O, K).astype(np.float32)
    out = np.empty((N, O, OH, OW), dtype=np.float32)
    cols = np.empty((C * kh * kw, OH * OW), dtype=np.float64)
    x = np.ascontiguousarray(x)
    for n in range(N):
        # im2col only copies (exact), so unfolding in float64 then casting is the
        # same as unfolding float32 data.
        cols_n = im2col(x[n], kh, kw, sh, sw, dh, dw, t, l, OH, OW, cols).astype(np.float32)
        out_n = out[n].reshape(O, OH * OW)
        for g in range(groups):
            np.matmul(w2[g * Og : (g + 1) * Og], cols_n[g * K : (g + 1) * K], out=out_n[g * Og : (g + 1) * Og])
    if bias is not None:
        out += round_to(bias, storage).astype(np.float32)[None, :, None, None]
    return round_to(out, storage)


def _linear_emulated(x, w, b, operand, storage):
    x = round_to(round_to(x, storage), operand)
    w = round_to(round_to(w, storage), operand)
    x2 = x.reshape(x.shape[0], -1).astype(np.float32)
    out = x2 @ w.astype(np.float32).T
    if b is not None:
        out += round_to(b, storage).astype(np.float32)
    return round_to(out, storage)


def _bn_emulated(x, mean, var, gamma, beta, eps, storage, relu=False):
    def c(v):
        return round_to(v, storage).astype(np.float32)[None, :, None, None]

    x32 = round_to(x, storage).astype(np.float32)
    y = (x32 - c(mean)) / np.sqrt(c(var) + np.float32(eps)) * c(gamma) + c(beta)
    if relu:
        y = np.maximum(y, np.float32(0))
    return round_to(y, storage)


def run_node(node, args, precision):
    """One node's output under emulated ``precision``, from its input arrays
    (NCHW), as float64 holding values of the storage format."""
    storage = STORAGE[precision]
    operand = "tf32" if precision == "tf32" else storage
    fn, kw = node.fn, node.kwargs
    if fn is None:
        return args[0]
    if fn is ops.conv2d:
        return _conv_emulated(args[0], kw["w"], kw.get("bias"), kw.get("stride", 1), kw.get("padding", 0),
                              kw.get("dilation", 1), kw.get("groups", 1), operand, storage)
    if fn is ops.linear:
        return _linear_emulated(args[0], kw["w"], kw.get("b"), operand, storage)
    if fn is ops.batch_norm:
        return _bn_emulated(args[0], kw["mean"], kw["var"], kw["gamma"], kw["beta"], kw["eps"], storage,
                            kw.get("relu", False))
    if fn is ops.global_avg_pool2d:
        a = round_to(args[0], storage).astype(np.float32)
        out = a.mean(axis=(2, 3), dtype=np.float32)
        if kw.get("keepdims"):
            out = out[:, :, None, None]
        return round_to(out, storage)
    if fn is ops.avg_pool2d:
        # A windowed mean (the Keras CIFAR head's AveragePooling2D(8)): exact sum of
        # the rounded inputs, result rounded once; the float32 accumulation inside the
        # window (a few ulps over 64 terms) is not modelled.
        return round_to(fn(round_to(args[0], storage), **kw), storage)
    if fn is graph._add:
        return round_to(round_to(args[0], storage).astype(np.float32) + round_to(args[1], storage).astype(np.float32), storage)
    if fn is ops.softmax:
        a = round_to(args[0], storage).astype(np.float32)
        e = np.exp(a - a.max(axis=-1, keepdims=True))
        return round_to(e / e.sum(axis=-1, keepdims=True, dtype=np.float32), storage)
    if fn in (graph._relu, ops.relu, ops.max_pool2d, ops.global_max_pool2d, ops.zero_pad2d, graph._subsample,
              graph._option_a, graph._flatten_nhwc):
        # No arithmetic: exact on rounded inputs.
        return fn(*(round_to(a, storage) for a in args), **kw)
    raise ValueError(f"emulate: no emulation for op {getattr(fn, '__name__', fn)!r} of node {node.name}")


def run_nodes(model, x_internal, precision=None, keep=None):
    """Run every node of ``model`` on an internal (NCHW float64) input, in float64
    (``precision`` None) or emulated; returns an OrderedDict {node name: output}
    for all nodes (internal "~" ones included) or only the names in ``keep``.
    Intermediate results not kept are freed after their last use."""
    if precision is not None:
        check_precision(precision)
        x_internal = round_to(x_internal, STORAGE[precision])
    env = {"input": x_internal}
    last = {}
    for i, node in enumerate(model.nodes):
        for s in node.inputs:
            last[s] = i
    out = OrderedDict()
    for i, node in enumerate(model.nodes):
        args = [env[s] for s in node.inputs]
        if precision is None:
            val = args[0] if node.fn is None else node.fn(*args, **node.kwargs)
        else:
            val = run_node(node, args, precision)
        env[node.name] = val
        if keep is None or node.name in keep:
            out[node.name] = val
        if keep is not None:
            for s in node.inputs:
                if last.get(s) == i and s not in keep:
                    env.pop(s, None)
    return out


def emulated_trace(model, x, precision="float32"):
    """Like ``model.trace(x)`` (framework names and layout) but computed under
    emulated ``precision``: the oracle's own honest reduced-precision run."""
    check_precision(precision)
    internal = run_nodes(model, model._to_internal(x), precision)
    return OrderedDict((k, model._to_external(v)) for k, v in internal.items() if not k.startswith("~"))
