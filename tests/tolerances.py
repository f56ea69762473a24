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

# Softmax probabilities of a float64 network against another float64 implementation
# (predict --json against torchvision .double(), tests/test_cli.py): the logits agree
# to ~1e-13 relative (README "Numbers": 1.7e-15 to 2.2e-13) and softmax moves p_i by
# at most 2 max|d logits|; measured 2.3e-15 (resnet18) and 5.5e-14 (resnet50), so
# 1e-12 leaves 18x. A float32 input by mistake moves resnet18's probabilities by
# ~2e-8: 10,000x over.
PROB_ATOL = 1e-12

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
