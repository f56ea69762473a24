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

# The figures README.md quotes, each asserted by the test that measures it, so a
# figure that changes fails a test and the README changes with it. An error quoted
# as a point ("1.7e-15 (resnet18)") must stay within FIGURE_FACTOR of it either
# way; one quoted as a bound ("within 1e-14") must stay under it; a count is exact.
# `text` is how README.md writes it (tests/test_readme_figures.py finds each there).
FIGURE_FACTOR = 10.0
README_FIGURES = {
    # "Numbers"
    "torchvision_logits_resnet18": dict(value=1.7e-15, kind="point", text="1.7e-15 (resnet18)"),
    "torchvision_logits_resnet152": dict(value=2.2e-13, kind="point", text="2.2e-13 (resnet152)"),
    "keras_outputs_resnet50v2": dict(value=6.5e-14, kind="point", text="6.5e-14 (ResNet50V2)"),
    "keras_outputs_resnet152": dict(value=1.4e-12, kind="point", text="1.4e-12 (ResNet152)"),
    "cifar_logits": dict(value=1e-14, kind="bound", text="logits within 1e-14"),
    "keras_cifar_resnet20": dict(value=8e-16, kind="point", text="8e-16 (ResNet20)"),
    "keras_cifar_resnet110": dict(value=1.2e-14, kind="point", text="1.2e-14 (ResNet110)"),
    "onnx_reference_logits": dict(value=8e-16, kind="bound", text="logits within 8e-16 of"),
    "onnx_runtime_budget_ratio": dict(value=1.9, kind="bound", text="1.9x its emulated budget"),
    "preprocess_float_stage": dict(value=1.4e-7, kind="bound", text="float32 rounding (1.4e-7)"),
    # "agree"
    "agree_images": dict(value=240, kind="count", text="over 240 generated images"),
    "agree_float32_flips": dict(value=0, kind="count", text="float32 agrees on every top-1"),
    "agree_float32_max_error": dict(value=1.6e-6, kind="point", text="up to 1.6e-6"),
    "agree_bfloat16_flips": dict(value=9, kind="count", text="bfloat16 flips 9 images"),
    "agree_bn_eps_flips": dict(value=43, kind="count", text="flips 43, every one"),
    "agree_bn_eps_min_margin": dict(value=2e-4, kind="bound_below", text="at a margin above 2e-4"),
}


def assert_figure(key, measured, what=""):
    """Raise AssertionError unless `measured` agrees with README.md's figure `key`."""
    fig = README_FIGURES[key]
    value, kind = fig["value"], fig["kind"]
    ok = {
        "point": value / FIGURE_FACTOR <= measured <= value * FIGURE_FACTOR,
        "bound": measured <= value,
        "bound_below": measured > value,
        "count": measured == value,
    }[kind]
    if not ok:
        rule = {"point": f"within {FIGURE_FACTOR:g}x of", "bound": "at most", "bound_below": "above",
                "count": "exactly"}[kind]
        raise AssertionError(f"{what or key}: measured {measured!r}; README.md quotes {fig['text']!r}, so it must be "
                             f"{rule} {value!r}: fix the regression, or change the figure in README.md and "
                             "tests/tolerances.py README_FIGURES together")


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
