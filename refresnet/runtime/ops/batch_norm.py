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


def batch_statistics(x):
    """The training-mode statistics of a batch norm's input x (N, C, H, W), over
    its M = N*H*W values per channel: (mean, biased variance, unbiased variance)

        mean[c] = sum x[:, c] / M
        var[c]  = sum (x[:, c] - mean[c])**2 / M          (what normalises, as torch
                                                          BatchNorm2d.train() and Keras
                                                          BatchNormalization(training=True) do)
        unbiased[c] = var[c] * M / (M - 1)                (what torch folds into
                                                          running_var; Keras's moving
                                                          variance takes the biased one)

    two passes (NumPy's pairwise sums). M = 1 gives an unbiased variance of inf
    (torch would raise; Keras takes the biased one)."""
    x = as_nchw(x)
    m = x.shape[0] * x.shape[2] * x.shape[3]
    if m == 0:
        raise ValueError(f"batch_norm (training): no values per channel in x {x.shape}")
    mean = x.mean(axis=(0, 2, 3))
    d = x - mean[None, :, None, None]
    var = (d * d).mean(axis=(0, 2, 3))
    with np.errstate(divide="ignore"):
        unbiased = var * (m / (m - 1)) if m > 1 else np.full_like(var, np.inf)
    return mean, var, unbiased


def batch_norm_backward(grad_out, inputs, outputs, *, mean, var, gamma, beta, eps, training=False, **_):
    """Gradients of y = (x - mean) / sqrt(var + eps) * gamma + beta per channel.

    With xh = (x - mean) / sqrt(var + eps) and sums over each channel's
    M = N*H*W values:

        dbeta  = sum dy
        dgamma = sum dy * xh
        eval (``training`` False; mean, var are the running statistics, constants):
            dx = dy * gamma / sqrt(var + eps)
        training (mean, var the batch's own, biased, from ``batch_statistics``,
        so they depend on x):
            dx = gamma / sqrt(var + eps) * (dy - dbeta / M - xh * dgamma / M)

    (the derivative of torch BatchNorm2d in train() mode and of Keras
    BatchNormalization(training=True); the running statistics get no
    gradient). Returns (dx, dgamma, dbeta).
    """
    x = as_nchw(inputs[0])
    dy = np.asarray(grad_out, dtype=np.float64)
    c = (None, slice(None), None, None)
    inv = 1.0 / np.sqrt(np.asarray(var, dtype=np.float64) + float(eps))
    xh = (x - np.asarray(mean, dtype=np.float64)[c]) * inv[c]
    dbeta = dy.sum(axis=(0, 2, 3))
    dgamma = (dy * xh).sum(axis=(0, 2, 3))
    scale = np.asarray(gamma, dtype=np.float64) * inv
    if training:
        m = x.shape[0] * x.shape[2] * x.shape[3]
        dx = scale[c] * (dy - (dbeta / m)[c] - xh * (dgamma / m)[c])
    else:
        dx = dy * scale[c]
    return dx, dgamma, dbeta


OP = register("batch_norm", batch_norm, emulated, channelwise=True, writes_out=True, fuses_relu=True,
              per_channel=("mean", "var", "gamma", "beta"), fuses_as="batch_norm", backward=batch_norm_backward, params=('gamma', 'beta'))
