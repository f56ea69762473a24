"""Channel attention: squeeze-and-excitation and efficient channel attention (ECA).

Both rescale each channel of x by a gate in (0, 1) computed from the channel
means, as timm's ResNets do before the residual add. sigmoid(z) is evaluated as
1 / (1 + exp(-z)), torch.sigmoid's definition.
"""

import numpy as np

from ._common import as_nchw, as_vector
from .linear import linear
from .pool import global_avg_pool2d
from .sigmoid import sigmoid


def squeeze_excite(x, w1, b1, w2, b2):
    """x * sigmoid(w2 @ relu(w1 @ mean(x) + b1) + b2)[:, :, None, None].

    timm/layers/squeeze_excite.py SEModule (timm 1.0.31): the mean over H and W
    (the global_avg_pool2d op's row-major sum / (H*W)), a 1x1 conv with bias to
    ``w1.shape[0]`` channels (fc1), ReLU (act), a 1x1 conv with bias back to C
    (fc2), sigmoid (gate), then the product. ``w1`` (rd, C[, 1, 1]), ``w2``
    (C, rd[, 1, 1]); each 1x1 conv on the 1x1 map is the linear op (products
    summed in index order)."""
    x = as_nchw(x)
    C = x.shape[1]
    w1 = np.asarray(w1, dtype=np.float64)
    w2 = np.asarray(w2, dtype=np.float64)
    w1 = w1.reshape(w1.shape[0], -1)
    w2 = w2.reshape(w2.shape[0], -1)
    if w1.shape[1] != C or w2.shape != (C, w1.shape[0]):
        raise ValueError(f"squeeze_excite: x {x.shape} needs w1 (rd, {C}) and w2 ({C}, rd), got {w1.shape} and {w2.shape}")
    s = global_avg_pool2d(x)
    h = np.maximum(linear(s, w1, as_vector(b1, w1.shape[0], "b1")), 0.0)
    gate = sigmoid(linear(h, w2, as_vector(b2, C, "b2")))
    return x * gate[:, :, None, None]


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
