"""Classification losses in float64, each returning the loss and its gradient.

Each function takes the network's logits (N, classes) and integer class
indices (N,) and returns (loss, dL/dlogits). The gradient is with respect to
the logits, so the backward pass starts at the layer that produced them.
"""

import numpy as np

REDUCTIONS = ("mean", "sum")


def _labels(labels, n, classes, who):
    t = np.asarray(labels)
    if t.shape != (n,):
        raise ValueError(f"{who}: expected {n} labels (one class index per image), got shape {t.shape}")
    if t.dtype.kind not in "iu":
        if t.dtype.kind == "f" and np.all(np.isfinite(t)) and np.all(t == np.floor(t)):
            t = t.astype(np.int64)
        else:
            raise ValueError(f"{who}: labels must be integer class indices, got dtype {t.dtype}")
    bad = (t < 0) | (t >= classes)
    if np.any(bad):
        raise ValueError(f"{who}: label {int(t[np.argmax(bad)])} is outside 0..{classes - 1}")
    return t.astype(np.int64)


def _logits(logits, who):
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 2 or z.shape[0] == 0 or z.shape[1] == 0:
        raise ValueError(f"{who}: expected logits of shape (N, classes), got {z.shape}")
    return z


def log_softmax(z):
    """log softmax of each row: z - max - log(sum(exp(z - max))), the shifted
    form that stays finite for logits in the thousands."""
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def cross_entropy(logits, labels, reduction="mean", label_smoothing=0.0):
    """torch.nn.functional.cross_entropy(logits, labels, reduction=...,
    label_smoothing=...) in float64, and its gradient.

    With lp = log_softmax(logits), C classes, N images and eps = label_smoothing
    (torch 2.14, aten/src/ATen/native/LossNLL.cpp
    cross_entropy_loss_label_smoothing; the CrossEntropyLoss docstring in
    torch/nn/modules/loss.py: the target becomes (1 - eps) * one_hot + eps / C):

        nll    = -lp[n, label[n]]                 per image
        smooth = -sum_c lp[n, c]                  per image
        loss   = (1 - eps) * R(nll) + (eps / C) * R(smooth)

    with R the mean over images ("mean") or their sum ("sum"). The gradient is

        dL/dlogits[n, c] = (softmax[n, c] - q[n, c]) / (N if "mean" else 1),
        q = (1 - eps) * one_hot(label) + eps / C.

    Returns (loss as a float, gradient (N, C))."""
    who = "cross_entropy"
    z = _logits(logits, who)
    N, C = z.shape
    t = _labels(labels, N, C, who)
    if reduction not in REDUCTIONS:
        raise ValueError(f"{who}: reduction {reduction!r}; expected one of {', '.join(REDUCTIONS)}")
    eps = float(label_smoothing)
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"{who}: label_smoothing must be in [0, 1], got {label_smoothing!r}")
    lp = log_softmax(z)
    nll = -lp[np.arange(N), t]
    reduce = np.mean if reduction == "mean" else np.sum
    loss = (1.0 - eps) * reduce(nll)
    if eps:
        loss = loss + (eps / C) * reduce(-lp.sum(axis=1))
    q = np.full((N, C), eps / C)
    q[np.arange(N), t] += 1.0 - eps
    grad = np.exp(lp) - q
    if reduction == "mean":
        grad = grad / N
    return float(loss), grad


def keras_sparse_categorical_crossentropy(logits, labels):
    """keras.losses.SparseCategoricalCrossentropy()(labels, model_output) for a
    Keras model whose output is Dense(activation="softmax"), in float64, and
    its gradient with respect to the logits.

    Keras 3 keeps the logits on a softmax's output (``_keras_logits``) and
    keras/src/backend/tensorflow/nn.py sparse_categorical_crossentropy uses
    them when it finds them: tf.nn.sparse_softmax_cross_entropy_with_logits,
    with no clipping of the probabilities; the default reduction
    "sum_over_batch_size" (keras/src/losses/loss.py) divides the sum by N:

        loss = sum_n -log_softmax(logits)[n, label[n]] / N
        dL/dlogits = (softmax - one_hot(label)) / N

    The gradient reaches the logits directly, not through the softmax output
    (that tensor is not on the loss's path). Returns (loss, gradient (N, C))."""
    who = "sparse_categorical_crossentropy"
    z = _logits(logits, who)
    N, C = z.shape
    t = _labels(labels, N, C, who)
    lp = log_softmax(z)
    loss = float(np.sum(-lp[np.arange(N), t]) / N)
    grad = np.exp(lp)
    grad[np.arange(N), t] -= 1.0
    return loss, grad / N


LOSSES = {
    "cross_entropy": cross_entropy,
    "sparse_categorical_crossentropy": keras_sparse_categorical_crossentropy,
}
