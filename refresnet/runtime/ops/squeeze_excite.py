"""squeeze_excite: squeeze-and-excitation channel attention (timm SEModule).

Like eca, it rescales each channel of x by a gate in (0, 1) computed from the
channel means, as timm's ResNets do before the residual add. sigmoid(z) is
evaluated as 1 / (1 + exp(-z)), torch.sigmoid's definition.
"""

import numpy as np

from ... import kernels
from ..precision import formats, round_to
from ..registry import register
from ._common import as_nchw, as_vector
from .global_avg_pool2d import channel_means32, global_avg_pool2d
from .linear import linear
from .sigmoid import sigmoid, sigmoid32
from ._grad import logistic, matmul_held


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


def emulated(args, kw, precision):
    """squeeze_excite under an emulated precision (refresnet/runtime/precision.py)."""
    # timm SEModule in the storage format's float32 arithmetic: float32 means,
    # the two 1x1 convs as float32 sums in index order (kernels.linear32), float32
    # sigmoid and product; each stage's result rounded to the storage format.
    storage, operand = formats(precision)
    a, s = channel_means32(args[0], storage)

    def fc(v, w, b):
        w = round_to(round_to(np.asarray(w).reshape(np.shape(w)[0], -1), storage), operand).astype(np.float32)
        v = round_to(round_to(v, storage), operand).astype(np.float32)
        out = kernels.linear32(np.ascontiguousarray(v), np.ascontiguousarray(w),
                               np.empty((v.shape[0], w.shape[0]), dtype=np.float32))
        return round_to(out + round_to(b, storage).astype(np.float32), storage).astype(np.float32)

    h = np.maximum(fc(s, kw["w1"], kw["b1"]), np.float32(0))
    gate = round_to(sigmoid32(fc(h, kw["w2"], kw["b2"])), storage).astype(np.float32)
    return round_to(a * gate[:, :, None, None], storage)


def squeeze_excite_backward(grad_out, inputs, outputs, *, w1, b1, w2, b2, **_):
    """Gradients of y = x * gate with (refresnet/runtime/ops/attention.py)

        s = mean over H, W of x;  z1 = s @ w1.T + b1;  h = max(z1, 0)
        z2 = h @ w2.T + b2;       gate = sigmoid(z2)

    recomputed from x, then

        dgate = sum over H, W of dy * x;     dz2 = dgate * gate * (1 - gate)
        dw2 = dz2.T @ h;  db2 = sum_n dz2;   dh = dz2 @ w2;  dz1 = dh where z1 > 0
        dw1 = dz1.T @ s;  db1 = sum_n dz1;   ds = dz1 @ w1
        dx = dy * gate + ds / (H*W)          (broadcast over H, W)

    dw1, dw2 in the shapes the node holds them ((rd, C, 1, 1) as timm stores
    its 1x1 convs). Returns (dx, dw1, db1, dw2, db2)."""
    x = as_nchw(inputs[0])
    N, C, H, W = x.shape
    w1a = np.asarray(w1, dtype=np.float64)
    w2a = np.asarray(w2, dtype=np.float64)
    m1 = np.ascontiguousarray(w1a.reshape(w1a.shape[0], -1))
    m2 = np.ascontiguousarray(w2a.reshape(w2a.shape[0], -1))
    s = x.sum(axis=(2, 3)) / (H * W)
    z1 = matmul_held(s, np.ascontiguousarray(m1.T)) + np.asarray(b1, dtype=np.float64)
    h = np.maximum(z1, 0.0)
    gate = logistic(matmul_held(h, np.ascontiguousarray(m2.T)) + np.asarray(b2, dtype=np.float64))
    dy = np.asarray(grad_out, dtype=np.float64)
    dgate = (dy * x).sum(axis=(2, 3))
    dz2 = dgate * gate * (1.0 - gate)
    dw2 = matmul_held(np.ascontiguousarray(dz2.T), h)
    db2 = dz2.sum(axis=0)
    dz1 = np.where(z1 > 0.0, matmul_held(dz2, m2), 0.0)
    dw1 = matmul_held(np.ascontiguousarray(dz1.T), s)
    db1 = dz1.sum(axis=0)
    ds = matmul_held(dz1, m1)
    dx = dy * gate[:, :, None, None] + (ds / (H * W))[:, :, None, None]
    return dx, dw1.reshape(w1a.shape), db1, dw2.reshape(w2a.shape), db2


OP = register("squeeze_excite", squeeze_excite, emulated, backward=squeeze_excite_backward, params=('w1', 'b1', 'w2', 'b2'))
