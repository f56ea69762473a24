"""refresnet.runtime.precision: rounding to reduced formats and emulated ops.

Rounding is checked on hand-computed values and against NumPy's own IEEE casts
(float32, float16); the emulated conv against torch's float32 conv recorded in
tests/fixtures/compare/conv.npz.
"""

import os

import numpy as np
import pytest

import refresnet
from refresnet.runtime import precision as emulate
from refresnet.runtime.executor import Node, run_node
from tolerances import rel_err

FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "compare", "conv.npz")
REGEN = "/work/venv-torch/bin/python tests/fixtures/make_compare_fixtures.py"


@pytest.mark.parametrize(
    "fmt, value, expected",
    [
        # bfloat16 keeps 8 significant bits: spacing 2**-7 on [1, 2)
        ("bfloat16", 1 + 2**-8, 1.0),  # tie -> even (1.0)
        ("bfloat16", 1 + 3 * 2**-8, 1 + 2**-6),  # tie -> even (1 + 2*2**-7)
        ("bfloat16", 1 + 2**-7 + 2**-9, 1 + 2**-7),  # below the tie -> down
        ("bfloat16", 3.140625, 3.140625),  # exactly representable (1.1001001b * 2)
        ("bfloat16", -1 - 2**-8 - 2**-12, -1 - 2**-7),  # above the tie -> away from zero
        # tf32 keeps 11 significant bits: spacing 2**-10 on [1, 2)
        ("tf32", 1 + 2**-11, 1.0),
        ("tf32", 1 + 3 * 2**-11, 1 + 2**-9),
        ("tf32", 1 + 2**-11 + 2**-20, 1 + 2**-10),
        ("tf32", 2.0**-130, 2.0**-130),  # float32 subnormals stay (range of float32)
        ("tf32", 3 * 2.0**126 + 2.0**115, 3 * 2.0**126),  # spacing 2**117 at the top binade
        ("float16", 65504.0, 65504.0),
        ("float16", 65520.0, np.inf),  # rounds past the largest finite -> inf
        ("float16", 2.0**-25, 0.0),  # half the smallest subnormal, tie -> even (0)
        ("float16", 3 * 2.0**-25, 2.0**-23),
    ],
)
def test_round_to_hand_computed(fmt, value, expected):
    assert emulate.round_to(value, fmt) == expected


def test_tf32_of_largest_float32_rounds_to_inf():
    # 1.11...1b * 2**127 has all 24 bits set: the tf32 rounding carries out.
    assert emulate.round_to(float(np.finfo(np.float32).max), "tf32") == np.inf


def test_round_to_float32_and_float16_match_numpy_casts():
    x = np.random.default_rng(0).normal(0.0, 10.0, 10000)
    assert np.array_equal(emulate.round_to(x, "float32"), x.astype(np.float32).astype(np.float64))
    x32 = x.astype(np.float32)
    assert np.array_equal(emulate.round_to(x32, "float16"), x32.astype(np.float16).astype(np.float64))


def test_bfloat16_and_tf32_results_have_the_stated_bits_and_are_nearest():
    x = np.random.default_rng(1).normal(0.0, 1.0, 10000).astype(np.float32).astype(np.float64)
    for fmt, bits in (("bfloat16", 8), ("tf32", 11)):
        r = emulate.round_to(x, fmt)
        m, e = np.frexp(r)  # r = m * 2**e, |m| in [0.5, 1)
        assert np.all(m * 2.0**bits == np.round(m * 2.0**bits))  # at most `bits` significant bits
        spacing = 2.0 ** (e - bits)
        assert np.all(np.abs(r - x) <= spacing / 2)  # nearest


def test_ulp_hand_computed():
    assert emulate.ulp(1.0, "float32") == 2.0**-23
    assert emulate.ulp(-3.0, "float32") == 2.0**-22
    assert emulate.ulp(1.0, "bfloat16") == 2.0**-7
    assert emulate.ulp(0.0, "float16") == 2.0**-24
    assert emulate.ulp(1e-8, "float16") == 2.0**-24  # subnormal range


def _conv_case():
    if not os.path.exists(FIXTURE):
        pytest.fail(f"missing fixture {FIXTURE}; regenerate with: {REGEN}")
    z = np.load(FIXTURE)
    node = Node("conv", "conv2d", ("input",),
                dict(w=z["w"].astype(np.float64), bias=z["b"].astype(np.float64), stride=int(z["stride"]),
                     padding=int(z["padding"]), groups=1))
    return z, node


def test_emulated_float32_conv_agrees_with_torch_float32_conv_within_float32_rounding():
    z, node = _conv_case()
    ours = run_node(node, [z["x"].astype(np.float64)], "float32")
    exact = z["y64"]  # torch float64 on the same float32-valued operands
    torch32 = z["y32"].astype(np.float64)
    assert ours.shape == exact.shape
    assert np.array_equal(ours, ours.astype(np.float32))  # a float32 result
    # both are float32 computations of the same sums: each is a few float32
    # rounding units (2**-24 ~ 6e-8) from the exact result, and so from each other
    e_ours, e_torch, e_between = rel_err(ours, exact), rel_err(torch32, exact), rel_err(ours, torch32)
    assert 0 < e_ours < 16 * 2.0**-24
    assert e_torch < 16 * 2.0**-24
    # It accumulates in float32 as torch does: an error of torch's size per element,
    # not the one rounding of an exact float64 sum (measured RMS: ours 2.0e-7, torch
    # 1.9e-7, the exact result rounded once to float32 2.3e-8).
    rms = lambda a: float(np.sqrt(np.mean((a - exact) ** 2)))  # noqa: E731
    once = exact.astype(np.float32).astype(np.float64)
    assert rms(torch32) / 3 < rms(ours) < 3 * rms(torch32), (rms(ours), rms(torch32))
    assert rms(ours) > 3 * rms(once), (rms(ours), rms(once))
    assert e_between < 16 * 2.0**-24
    # and the emulation is not float64 in disguise
    f64 = refresnet.runtime.ops.conv2d(z["x"], **{k: v for k, v in node.kwargs.items()})
    assert rel_err(f64, exact) < 1e-13
    assert rel_err(ours, exact) > 100 * rel_err(f64, exact)


def test_emulated_reduced_precision_conv_errors_scale_with_the_format():
    z, node = _conv_case()
    exact = z["y64"]
    errs = {p: rel_err(run_node(node, [z["x"]], p), exact) for p in emulate.PRECISIONS}
    # unit roundoffs: float32 2**-24, tf32 and float16 2**-11, bfloat16 2**-8
    assert errs["float32"] < 2.0**-20
    for p in ("tf32", "float16"):
        assert 2.0**-16 < errs[p] < 2.0**-8
    assert 2.0**-13 < errs["bfloat16"] < 2.0**-5


def test_emulated_ops_without_arithmetic_are_exact_and_others_round():
    x = np.random.default_rng(2).normal(0.0, 1.0, (1, 2, 5, 5))
    xr = emulate.round_to(x, "bfloat16")
    pool = Node("p", "max_pool2d", ("input",), dict(kernel_size=3, stride=2, padding=1))
    assert np.array_equal(run_node(pool, [x], "bfloat16"), refresnet.runtime.ops.max_pool2d(xr, 3, 2, 1))
    bn = Node("bn", "batch_norm", ("input",),
              dict(mean=np.array([0.1, -0.2]), var=np.array([0.5, 2.0]), gamma=np.array([1.1, 0.9]),
                   beta=np.array([0.0, 0.3]), eps=1e-5))
    y = run_node(bn, [x], "float16")
    assert np.array_equal(y, emulate.round_to(y, "float16"))
    assert 0 < rel_err(y, refresnet.runtime.ops.batch_norm(x, **bn.kwargs)) < 2.0**-9


def test_emulated_network_error_grows_from_float32_to_bfloat16():
    from refresnet.build.synthetic import synthetic_weights

    model = refresnet.build("resnet18", synthetic_weights("resnet18", seed=0))
    x = np.random.default_rng(3).normal(0.0, 1.0, (1, 3, 32, 32))
    ref = model(x)
    errs = {p: rel_err(emulate.emulated_trace(model, x, p)["fc"], ref) for p in emulate.PRECISIONS}
    assert errs["float32"] < 1e-5
    assert errs["float32"] < errs["tf32"] < errs["bfloat16"]
    assert errs["bfloat16"] < 0.2


def test_unknown_precision_lists_the_choices():
    with pytest.raises(ValueError, match="expected one of float32, tf32, bfloat16, float16"):
        emulate.check_precision("int8")
