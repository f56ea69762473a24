"""Named test tolerances, each with the reason it is the right size.

All comparisons are relative to the reference's scale:
    max |ours - ref| / max |ref|
"""

# A single float64 op (one conv, one pool, one BN) against a direct-loop reference:
# both sum at most a few thousand products of O(1) values, so each result carries
# a few ulps (2**-52 ~ 2.2e-16) of rounding; 1e-13 leaves ~500 ulps of headroom and
# still fails on any real bug (a wrong pad, tap or channel moves results by >1e-3).
OP_RTOL = 1e-13

# A whole network in float64 against another float64 implementation (torchvision
# .double(), Keras float64): rounding grows with depth and with the summation order
# of each GEMM, measured ~1e-15..1e-14 here; 1e-10 is the project's contract and is
# still 6+ orders of magnitude below the smallest real discrepancy (BN eps 1e-5 vs
# 1.001e-5 moves outputs ~5e-9/var).
NET_RTOL = 1e-10

# float32 stages of a framework's pipeline (e.g. ToTensor / Normalize in float32)
# compared with our float64: one float32 rounding of values of order 1..3.
FLOAT32_RTOL = 1e-6


def rel_err(ours, ref):
    """max |ours - ref| / max |ref| (the project's relative error), as a float."""
    import numpy as np

    ours = np.asarray(ours, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if ours.shape != ref.shape:
        raise AssertionError(f"shape mismatch: ours {ours.shape}, reference {ref.shape}")
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    diff = float(np.max(np.abs(ours - ref))) if ref.size else 0.0
    if scale == 0.0:
        return diff
    return diff / scale

# Gradients (each op's backward, refresnet/runtime/ops/<op>.py) against central finite differences,
# element by element, on small float64 inputs.
# - An op linear in the perturbed argument (conv, linear, pads, average pools,
#   shape ops, eval-mode BN; ReLU and max pools inside one linear piece) has
#   (f(x + h e) - f(x - h e)) / 2h equal to the derivative for any h; with h = 1
#   the only error is the rounding of f = sum(v * op(x)) over a few hundred O(1)
#   terms, ~1e-14 relative to the gradient: 1e-12 leaves 100x headroom.
FD_LINEAR_RTOL = 1e-12
# - A smooth nonlinear op (training-mode BN, softmax, sigmoid, SE, ECA, the
#   losses): Richardson's extrapolation (4 D(h/2) - D(h)) / 3 of central
#   differences with h = 1e-3 cancels the h**2 term; what is left is the h**4
#   term (~1e-12 for O(1) derivatives) and f's rounding over the step
#   (~1e-16 / 1e-3 = 1e-13); measured 1e-11 at worst here, so 1e-9.
FD_SMOOTH_RTOL = 1e-9
# The whole network's directional derivative (tests/test_grad_network.py): 20
# random directions in (input, every trainable tensor) of norm 0.2 and central
# differences with h = 2e-5, a step of norm 4e-6: small enough that hardly any
# of the network's ~1e5 ReLU/max-pool kinks lies within the step (h = 1e-4
# misses by 2e-3 on cifar_resnet20), large enough that the loss's rounding over
# 2h stays ~1e-8 of the derivative (h = 1e-5 reaches 1.3e-7 on resnet18).
# Issue 22's contract: 1e-6 relative; measured worst 6e-7 (resnet18, eval BN).
FD_NETWORK_RTOL = 1e-6
