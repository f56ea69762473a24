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

import numpy as np

from .. import kernels
from . import ops, threads
from .ops.conv2d import Epilogue, compute_panel, geometry, panel_buffer, panels

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
# Each function takes (args, kwargs, precision) like a registry entry's float64
# function takes (*args, **kwargs), and returns float64 arrays holding values of
# the storage format. refresnet/runtime/registry.py pairs each with its float64 op.

def formats(precision):
    """(storage format, GEMM operand format) of an emulated precision."""
    storage = STORAGE[precision]
    return storage, ("tf32" if precision == "tf32" else storage)


def conv2d(args, kw, precision):
    storage, operand = formats(precision)
    x = round_to(round_to(args[0], storage), operand)
    w = round_to(round_to(kw["w"], storage), operand)
    g = geometry(x.shape, w.shape, kw.get("stride", 1), kw.get("padding", 0), kw.get("dilation", 1),
                 kw.get("groups", 1))
    w32 = np.ascontiguousarray(w.astype(np.float32))
    out = np.empty((x.shape[0], g.out_channels, g.out_h, g.out_w), dtype=np.float32)
    buf = panel_buffer(g)
    x = np.ascontiguousarray(x)
    bias = kw.get("bias")
    bias32 = None if bias is None else round_to(bias, storage).astype(np.float32)
    with threads.single_threaded_blas():
        for n in range(x.shape[0]):
            # The float32 GEMM is cut into the same fixed panels and row blocks as
            # the float64 one, so its bits too are the image's own.
            for p0, p1 in panels(g):
                compute_panel(x[n], w32, g, out[n], p0, p1, Epilogue(bias32), buf=buf)
    return round_to(out, storage)


def linear(args, kw, precision):
    storage, operand = formats(precision)
    x = round_to(round_to(args[0], storage), operand)
    w = round_to(round_to(kw["w"], storage), operand)
    x2 = x.reshape(x.shape[0], -1).astype(np.float32)
    w32 = w.astype(np.float32)
    # Float32 sums in index order, each row on its own, so a row's bits do not
    # depend on the batch (a float32 BLAS product picks gemv or gemm by shape).
    out = kernels.linear32(np.ascontiguousarray(x2), np.ascontiguousarray(w32),
                           np.empty((x2.shape[0], w32.shape[0]), dtype=np.float32))
    b = kw.get("b")
    if b is not None:
        out += round_to(b, storage).astype(np.float32)
    return round_to(out, storage)


def batch_norm(args, kw, precision):
    storage, _ = formats(precision)

    def c(v):
        return round_to(v, storage).astype(np.float32)[None, :, None, None]

    x32 = round_to(args[0], storage).astype(np.float32)
    y = (x32 - c(kw["mean"])) / np.sqrt(c(kw["var"]) + np.float32(kw["eps"])) * c(kw["gamma"]) + c(kw["beta"])
    if kw.get("relu"):
        y = np.maximum(y, np.float32(0))
    return round_to(y, storage)


def global_avg_pool2d(args, kw, precision):
    storage, _ = formats(precision)
    a = round_to(args[0], storage).astype(np.float32)
    out = a.mean(axis=(2, 3), dtype=np.float32)
    if kw.get("keepdims"):
        out = out[:, :, None, None]
    return round_to(out, storage)


def avg_pool2d(args, kw, precision):
    # A windowed mean (the Keras CIFAR head's AveragePooling2D(8)): exact sum of
    # the rounded inputs, result rounded once; the float32 accumulation inside the
    # window (a few ulps over 64 terms) is not modelled.
    storage, _ = formats(precision)
    return round_to(ops.avg_pool2d(round_to(args[0], storage), **kw), storage)


def add(args, kw, precision):
    storage, _ = formats(precision)
    out = round_to(args[0], storage).astype(np.float32) + round_to(args[1], storage).astype(np.float32)
    if kw.get("relu"):
        out = np.maximum(out, np.float32(0))
    return round_to(out, storage)


def softmax(args, kw, precision):
    storage, _ = formats(precision)
    a = round_to(args[0], storage).astype(np.float32)
    e = np.exp(a - a.max(axis=-1, keepdims=True))
    return round_to(e / e.sum(axis=-1, keepdims=True, dtype=np.float32), storage)


# ---- ONNX ops (refresnet/io/onnx_file.py): the same model, float32
# arithmetic with each result rounded to the storage format.

def sigmoid(args, kw, precision):
    storage, _ = formats(precision)
    a = round_to(args[0], storage).astype(np.float32)
    with np.errstate(over="ignore"):
        y = np.float32(1) / (np.float32(1) + np.exp(-a))
    return round_to(y, storage)


def _binary(ufunc):
    def run(args, kw, precision):
        storage, _ = formats(precision)
        a, b = args if len(args) == 2 else (args[0], kw["b"])
        return round_to(ufunc(round_to(a, storage).astype(np.float32), round_to(b, storage).astype(np.float32)),
                        storage)

    run.__name__ = f"emulated_{ufunc.__name__}"
    return run


add_broadcast = _binary(np.add)
mul = _binary(np.multiply)


def reduce_mean(args, kw, precision):
    # The float32 mean of the rounded inputs (NumPy's pairwise float32 sum), as
    # global_avg_pool2d is emulated.
    storage, _ = formats(precision)
    a = round_to(args[0], storage).astype(np.float32)
    axes = kw.get("axes")
    axes = tuple(range(a.ndim)) if axes is None else tuple(int(ax) % a.ndim for ax in axes)
    return round_to(a.mean(axis=axes, dtype=np.float32, keepdims=kw.get("keepdims", True)), storage)


def matmul_constant(args, kw, precision):
    storage, operand = formats(precision)
    x = round_to(round_to(args[0], storage), operand)
    w = round_to(round_to(kw["w"], storage), operand)
    rows = np.ascontiguousarray(x.reshape(-1, w.shape[1]).astype(np.float32))
    out = kernels.linear32(rows, np.ascontiguousarray(w.astype(np.float32)),
                           np.empty((rows.shape[0], w.shape[0]), dtype=np.float32))
    return round_to(out.reshape(x.shape[:-1] + (w.shape[0],)), storage)


def _sigmoid32(z32):
    with np.errstate(over="ignore"):
        return np.float32(1) / (np.float32(1) + np.exp(-z32))


def _channel_means32(x, storage):
    a = round_to(x, storage).astype(np.float32)
    return a, a.mean(axis=(2, 3), dtype=np.float32)


def squeeze_excite(args, kw, precision):
    # timm SEModule in the storage format's float32 arithmetic: float32 means,
    # the two 1x1 convs as float32 sums in index order (kernels.linear32), float32
    # sigmoid and product; each stage's result rounded to the storage format.
    storage, operand = formats(precision)
    a, s = _channel_means32(args[0], storage)

    def fc(v, w, b):
        w = round_to(round_to(np.asarray(w).reshape(np.shape(w)[0], -1), storage), operand).astype(np.float32)
        v = round_to(round_to(v, storage), operand).astype(np.float32)
        out = kernels.linear32(np.ascontiguousarray(v), np.ascontiguousarray(w),
                               np.empty((v.shape[0], w.shape[0]), dtype=np.float32))
        return round_to(out + round_to(b, storage).astype(np.float32), storage).astype(np.float32)

    h = np.maximum(fc(s, kw["w1"], kw["b1"]), np.float32(0))
    gate = round_to(_sigmoid32(fc(h, kw["w2"], kw["b2"])), storage).astype(np.float32)
    return round_to(a * gate[:, :, None, None], storage)


def eca(args, kw, precision):
    # timm EcaModule likewise: float32 means, the k-tap 1-D correlation summed in
    # float32 in tap order, float32 sigmoid and product.
    storage, _ = formats(precision)
    a, s = _channel_means32(args[0], storage)
    w = round_to(np.asarray(kw["w"]).reshape(-1), storage).astype(np.float32)
    k, C = w.size, s.shape[1]
    p = (k - 1) // 2
    m = np.zeros((s.shape[0], C + 2 * p), dtype=np.float32)
    m[:, p : p + C] = round_to(s, storage).astype(np.float32)
    g = np.zeros((s.shape[0], C), dtype=np.float32)
    for j in range(k):
        g = g + w[j] * m[:, j : j + C]
    gate = round_to(_sigmoid32(round_to(g, storage).astype(np.float32)), storage).astype(np.float32)
    return round_to(a * gate[:, :, None, None], storage)


def exact(fn):
    """The emulation of an op that does no arithmetic (relu, max pooling, zero
    padding, subsampling, reshapes): the float64 op applied to inputs already
    rounded to the storage format is exact in any format."""

    def run(args, kw, precision):
        storage, _ = formats(precision)
        return fn(*(round_to(a, storage) for a in args), **kw)

    run.__name__ = f"exact_{getattr(fn, '__name__', 'op')}"
    return run


def run_node(node, args, precision):
    """One node's output under emulated ``precision``, from its input arrays
    (NCHW), as float64 holding values of the storage format."""
    from . import executor

    return executor.evaluate(node, args, check_precision(precision))


def emulated_trace(model, x, precision="float32"):
    """Like ``model.trace(x)`` (framework names and layout) but computed under
    emulated ``precision``: the oracle's own honest reduced-precision run."""
    return model.trace(x, precision=check_precision(precision))
