"""A small dense linear solve for the fitted input map (no BLAS/LAPACK)."""

import numpy as np


def solve(a, b):
    """x with a x = b for a small square system, by Gaussian elimination with
    partial pivoting (no BLAS/LAPACK call: refresnet/runtime/blas.py is the only place for
    those); None when singular."""
    a = [list(map(float, row)) + [float(v)] for row, v in zip(a, b)]
    n = len(a)
    for c in range(n):
        p = max(range(c, n), key=lambda r: abs(a[r][c]))
        if abs(a[p][c]) < 1e-300:
            return None
        a[c], a[p] = a[p], a[c]
        for r in range(c + 1, n):
            f = a[r][c] / a[c][c]
            for k in range(c, n + 1):
                a[r][k] -= f * a[c][k]
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        x[r] = (a[r][n] - sum(a[r][k] * x[k] for k in range(r + 1, n))) / a[r][r]
    return np.array(x)
