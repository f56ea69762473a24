"""Per-channel and per-row kernels: batch norm, linear layer, softmax."""

import math

import numpy as np


from ._jit import jit


@jit
def batch_norm(x, mean, var, gamma, beta, eps, relu, out):
    """out = (x - mean) / sqrt(var + eps) * gamma + beta per channel (dim 1), in
    that order of operations (torch.nn.functional.batch_norm's definition), then
    max(out, 0) when ``relu``. ``x`` and ``out`` are (N, C, M) views; ``out`` may
    be ``x``."""
    N, C, M = x.shape
    for nc in range(N * C):
        n = nc // C
        c = nc - n * C
        m = mean[c]
        d = math.sqrt(var[c] + eps)
        g = gamma[c]
        b = beta[c]
        for k in range(M):
            v = (x[n, c, k] - m) / d * g + b
            if relu and v < 0.0:
                v = 0.0
            out[n, c, k] = v
    return out


@jit
def linear(x, w, b, out):
    """out[n, o] = (sum_i x[n, i] * w[o, i], summed in order of i) + b[o].

    A plain loop rather than BLAS so that a row's result cannot depend on how
    many rows the batch has (BLAS picks gemv or gemm kernels by shape)."""
    N, I = x.shape
    O = w.shape[0]
    for no in range(N * O):
        n = no // O
        o = no - n * O
        s = 0.0
        for i in range(I):
            s += x[n, i] * w[o, i]
        out[n, o] = s + b[o]
    return out


@jit
def linear32(x, w, out):
    """out[n, o] = sum_i x[n, i] * w[o, i] for float32 arrays, each product and
    partial sum rounded to float32, summed in order of i (the emulated float32
    classifier of refresnet/runtime/precision.py; the bias is added by the caller)."""
    N, I = x.shape
    O = w.shape[0]
    for no in range(N * O):
        n = no // O
        o = no - n * O
        s = np.float32(0.0)
        for i in range(I):
            s += x[n, i] * w[o, i]
        out[n, o] = s
    return out


@jit
def softmax(x, out):
    """Row-wise softmax of a 2-D array: exp(x - max) / sum(exp(x - max)), the sum
    taken left to right. Subtracting the row max keeps logits in the thousands finite."""
    N, K = x.shape
    for n in range(N):
        m = -math.inf
        for k in range(K):
            if x[n, k] > m:
                m = x[n, k]
        s = 0.0
        for k in range(K):
            e = math.exp(x[n, k] - m)
            out[n, k] = e
            s += e
        for k in range(K):
            out[n, k] = out[n, k] / s
    return out
