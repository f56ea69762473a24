"""BatchNorm causes: another epsilon, training mode."""

import math

import numpy as np

from .base import Cause

# BatchNorm epsilons in use by the frameworks (refresnet.families.archs constants).
KNOWN_BN_EPS = (1e-5, 1.001e-5, 1e-3)


def _known_eps(t):
    own = t.kw["eps"]
    return [EPS.candidate(lambda eps=eps: t.run(eps=eps), eps=eps, own=own)
            for eps in KNOWN_BN_EPS if not math.isclose(eps, own, rel_tol=1e-9)]


def fit_eps(t):
    """The epsilon that best explains the framework's BN output: per channel
    the scale gamma / sqrt(var + eps) fitted by least squares, eps read back
    from it, the median over channels; None when no positive eps fits or it
    is the oracle's own."""
    kw, x, theirs, which = t.kw, t.args[0], t.theirs, t.which
    if x.shape != theirs.shape:
        return None
    xc = x[which] - np.asarray(kw["mean"])[None, :, None, None]
    yc = theirs[which] - np.asarray(kw["beta"])[None, :, None, None]
    num = np.sum(xc * yc, axis=(0, 2, 3))
    den = np.sum(xc * xc, axis=(0, 2, 3))
    ok = (den > 0) & (num != 0)
    if not ok.any():
        return None
    eps = (np.asarray(kw["gamma"])[ok] * den[ok] / num[ok]) ** 2 - np.asarray(kw["var"])[ok]
    e = float(np.median(eps))
    if not e > 0 or math.isclose(e, kw["eps"], rel_tol=1e-2):
        return None
    return e


def _fitted_eps(t):
    eps = fit_eps(t)
    if eps is None:
        return []
    return [EPS_FITTED.candidate(lambda: t.run(eps=eps), eps=eps, own=t.kw["eps"])]


def _train_mode(t):
    # torch's train-mode BN (and Keras's training=True) normalises with the
    # batch's mean and biased variance over N, H, W.
    x0 = t.args[0]
    return [TRAIN_MODE.candidate(lambda: t.run(mean=x0.mean(axis=(0, 2, 3)), var=x0.var(axis=(0, 2, 3))),
                                 n=x0.shape[0])]


EPS = Cause("bn.eps", ("batch_norm",), "BN eps {eps:g} instead of {own:g}", values=_known_eps)
EPS_FITTED = Cause("bn.eps_fitted", ("batch_norm",),
                   "BN eps {eps:.3g} (fitted to the framework's output) instead of {own:g}",
                   values=_fitted_eps, priority=1)
TRAIN_MODE = Cause("bn.train_mode", ("batch_norm",),
                   "BN in training mode (statistics of the framework's own batch of {n})", values=_train_mode)

CAUSES = (EPS, EPS_FITTED, TRAIN_MODE)
