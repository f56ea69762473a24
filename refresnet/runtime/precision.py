"""Emulated reduced precision, to measure rounding budgets: the formats and the shared machinery.

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

Per op, with "storage format" = float32 for float32/tf32, else the format itself
(``formats``):
  - inputs and weights are rounded to the storage format;
  - the GEMM ops (conv2d, linear, matmul_constant, the SE block's 1x1 convs)
    round their operands to the GEMM operand format (tf32 for tf32, else the
    storage format), form each product exactly in float32 and accumulate in
    float32: the "reduced-precision products, float32 accumulation" model of
    tensor-core and oneDNN kernels (no Winograd or FFT convolutions, no float16
    accumulation);
  - the other ops with arithmetic compute in float32 (each intermediate a
    float32), their result rounded to the storage format;
  - ops that do no arithmetic (relu, max pooling, padding, subsampling,
    reshapes) are ``exact``: the float64 op applied to already rounded inputs is
    exact in any format.
Each op's emulation sits in its own file in refresnet/runtime/ops/ (the
function ``emulated``, registered with the op), its docstring stating what
it models; this module holds the formats and the machinery they share.
"""

import numpy as np


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


# ------------------------------------------------------------------ shared by the ops' emulations
# Each op's ``emulated`` takes (args, kwargs, precision) like its float64
# function takes (*args, **kwargs), and returns float64 arrays holding values of
# the storage format.

def formats(precision):
    """(storage format, GEMM operand format) of an emulated precision."""
    storage = STORAGE[precision]
    return storage, ("tf32" if precision == "tf32" else storage)


def binary32(ufunc):
    """The emulation of an elementwise binary op (add_broadcast, mul): ``ufunc``
    in float32 on the operands rounded to the storage format (the second from
    ``kwargs["b"]`` when the node has one input), the result rounded to it."""

    def run(args, kw, precision):
        storage, _ = formats(precision)
        a, b = args if len(args) == 2 else (args[0], kw["b"])
        return round_to(ufunc(round_to(a, storage).astype(np.float32), round_to(b, storage).astype(np.float32)),
                        storage)

    run.__name__ = f"emulated_{ufunc.__name__}"
    return run


def exact(fn):
    """The emulation of an op that does no arithmetic (relu, max pooling, zero
    padding, subsampling, reshapes): the float64 op applied to inputs already
    rounded to the storage format is exact in any format."""

    def run(args, kw, precision):
        storage, _ = formats(precision)
        return fn(*(round_to(a, storage) for a in args), **kw)

    run.__name__ = f"exact_{getattr(fn, '__name__', 'op')}"
    return run


def emulated_trace(model, x, precision="float32"):
    """Like ``model.trace(x)`` (framework names and layout) but computed under
    emulated ``precision``: the oracle's own honest reduced-precision run."""
    return model.trace(x, precision=check_precision(precision))
