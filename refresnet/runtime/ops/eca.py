"""eca: efficient channel attention (timm EcaModule).

Like squeeze_excite, it rescales each channel of x by a gate in (0, 1)
computed from the channel means, as timm's ResNets do before the residual add.
sigmoid(z) is evaluated as 1 / (1 + exp(-z)), torch.sigmoid's definition.
"""

import numpy as np

from ._common import as_nchw
from .global_avg_pool2d import global_avg_pool2d
from .sigmoid import sigmoid


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
