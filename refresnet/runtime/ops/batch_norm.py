"""batch_norm: inference-mode batch normalisation over channel dim 1."""

import numpy as np

from ... import kernels
from ..precision import formats, round_to
from ..registry import register
from ._common import as_nchw, as_vector


def batch_norm(x, mean, var, gamma, beta, eps, relu=False, out=None):
    """y = (x - mean) / sqrt(var + eps) * gamma + beta, per channel, evaluated in
    that order (torch.nn.BatchNorm2d in eval mode and Keras BatchNormalization
    with training=False use this formula; torchvision eps 1e-5, Keras ResNet
    1.001e-5, old Keras 1e-3). With ``relu`` the ReLU is applied in the same pass;
    the values are identical to relu(batch_norm(...)). ``out``: a float64 array of
    x's shape to write into (it may be x itself), as NumPy's ufuncs take it.
    """
    x = as_nchw(x)
    N, C, H, W = x.shape
    mean = as_vector(mean, C, "mean")
    var = as_vector(var, C, "var")
    gamma = as_vector(gamma, C, "gamma")
    beta = as_vector(beta, C, "beta")
    eps = float(eps)
    if not eps >= 0.0:
        raise ValueError(f"eps: expected a non-negative number, got {eps!r}")
    if out is None:
        out = np.empty_like(x)
    elif out.shape != x.shape or out.dtype != np.float64 or not out.flags.c_contiguous:
        raise ValueError(f"out: expected a C-contiguous float64 array of shape {x.shape}, got {out.dtype} {out.shape}")
    kernels.batch_norm(x.reshape(N, C, H * W), mean, var, gamma, beta, eps, bool(relu), out.reshape(N, C, H * W))
    return out


def emulated(args, kw, precision):
    """batch_norm under an emulated precision (refresnet/runtime/precision.py):
    (x - mean) / sqrt(var + eps) * gamma + beta evaluated op by op in float32
    (each intermediate a float32; x and the statistics rounded to the storage
    format first), then the ReLU when fused, the result rounded to the storage
    format."""
    storage, _ = formats(precision)

    def c(v):
        return round_to(v, storage).astype(np.float32)[None, :, None, None]

    x32 = round_to(args[0], storage).astype(np.float32)
    y = (x32 - c(kw["mean"])) / np.sqrt(c(kw["var"]) + np.float32(kw["eps"])) * c(kw["gamma"]) + c(kw["beta"])
    if kw.get("relu"):
        y = np.maximum(y, np.float32(0))
    return round_to(y, storage)


OP = register("batch_norm", batch_norm, emulated, channelwise=True, writes_out=True, fuses_relu=True,
              per_channel=("mean", "var", "gamma", "beta"), fuses_as="batch_norm")
