"""eca: efficient channel attention (timm EcaModule).

Like squeeze_excite, it rescales each channel of x by a gate in (0, 1)
computed from the channel means, as timm's ResNets do before the residual add.
sigmoid(z) is evaluated as 1 / (1 + exp(-z)), torch.sigmoid's definition.
"""

import numpy as np

from ..precision import formats, round_to
from ..registry import register
from ._common import as_nchw
from .global_avg_pool2d import channel_means32, global_avg_pool2d
from .sigmoid import sigmoid, sigmoid32
from ._grad import logistic


def eca(x, w):
    """x * sigmoid(conv1d(mean(x) over H, W; w))[:, :, None, None].

    timm/layers/eca.py EcaModule (timm 1.0.31, use_mlp=False): the channel means
    as one 1-D signal of length C, cross-correlated with the odd kernel ``w``
    (k,) (or (1, 1, k) as stored) with (k - 1) // 2 zeros on each side and no
    bias: g[c] = sum_j w[j] * m[c + j - p], summed in order of j; then sigmoid
    and the product."""
    x = as_nchw(x)
    w = np.asarray(w, dtype=np.float64).reshape(-1)
    k = w.size
    if k % 2 == 0:
        raise ValueError(f"eca: kernel size must be odd, got {k}")
    N, C = x.shape[:2]
    p = (k - 1) // 2
    m = np.zeros((N, C + 2 * p))
    m[:, p : p + C] = global_avg_pool2d(x)
    g = np.zeros((N, C))
    for j in range(k):
        g = g + w[j] * m[:, j : j + C]
    return x * sigmoid(g)[:, :, None, None]


def emulated(args, kw, precision):
    """eca under an emulated precision (refresnet/runtime/precision.py)."""
    # timm EcaModule likewise: float32 means, the k-tap 1-D correlation summed in
    # float32 in tap order, float32 sigmoid and product.
    storage, _ = formats(precision)
    a, s = channel_means32(args[0], storage)
    w = round_to(np.asarray(kw["w"]).reshape(-1), storage).astype(np.float32)
    k, C = w.size, s.shape[1]
    p = (k - 1) // 2
    m = np.zeros((s.shape[0], C + 2 * p), dtype=np.float32)
    m[:, p : p + C] = round_to(s, storage).astype(np.float32)
    g = np.zeros((s.shape[0], C), dtype=np.float32)
    for j in range(k):
        g = g + w[j] * m[:, j : j + C]
    gate = round_to(sigmoid32(round_to(g, storage).astype(np.float32)), storage).astype(np.float32)
    return round_to(a * gate[:, :, None, None], storage)


def eca_backward(grad_out, inputs, outputs, *, w, **_):
    """Gradients of y = x * sigmoid(g) with g[n, c] = sum_j w[j] * mp[n, c + j]
    (mp the channel means m zero-padded by p = (k - 1) // 2 on both sides,
    refresnet/runtime/ops/attention.py), recomputed from x:

        dgate = sum over H, W of dy * x;   dg = dgate * gate * (1 - gate)
        dw[j] = sum_{n, c} dg[n, c] * mp[n, c + j]
        dmp[n, c + j] += w[j] * dg[n, c];  dm = dmp[:, p:p + C]
        dx = dy * gate + dm / (H*W)

    dw in the shape the node holds it. Returns (dx, dw)."""
    x = as_nchw(inputs[0])
    N, C, H, W = x.shape
    wa = np.asarray(w, dtype=np.float64)
    k = wa.size
    taps = wa.reshape(-1)
    p = (k - 1) // 2
    mp = np.zeros((N, C + 2 * p))
    mp[:, p : p + C] = x.sum(axis=(2, 3)) / (H * W)
    z = np.zeros((N, C))
    for j in range(k):
        z = z + taps[j] * mp[:, j : j + C]
    gate = logistic(z)
    dy = np.asarray(grad_out, dtype=np.float64)
    dg = (dy * x).sum(axis=(2, 3)) * gate * (1.0 - gate)
    dw = np.array([(dg * mp[:, j : j + C]).sum() for j in range(k)])
    dmp = np.zeros((N, C + 2 * p))
    for j in range(k):
        dmp[:, j : j + C] += taps[j] * dg
    dx = dy * gate[:, :, None, None] + (dmp[:, p : p + C] / (H * W))[:, :, None, None]
    return dx, dw.reshape(wa.shape)


OP = register("eca", eca, emulated, backward=eca_backward, params=('w',))
