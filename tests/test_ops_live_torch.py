"""refresnet.runtime.ops AND the naive.py oracle against a live torch.nn.functional in float64.

Checks the oracle itself is known-good (it agrees with PyTorch), and the ops with
it. Skipped cleanly when torch is not installed; run it with the torch venv:
    /work/venv-torch/bin/python -m pytest tests/test_ops_live_torch.py -q
"""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
F = torch.nn.functional

import naive  # noqa: E402
from refresnet.runtime import ops  # noqa: E402
from tolerances import OP_RTOL, rel_err  # noqa: E402

pytestmark = pytest.mark.torch

# The ops here are tiny: torch's intra-op worker threads only spin against numba and
# OpenBLAS on a 2-core machine (measured 5x slower wall time with the default).
torch.set_num_threads(1)


def T(a):
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64))


def check(ours, ref_naive, ref_torch, what):
    ref_torch = ref_torch.detach().numpy()
    assert rel_err(ref_naive, ref_torch) <= OP_RTOL, f"naive.{what} disagrees with torch"
    assert rel_err(ours, ref_torch) <= OP_RTOL, f"refresnet.runtime.ops.{what} disagrees with torch"


seeds = st.integers(0, 2**32 - 1)


# --- conv2d -------------------------------------------------------------------------------


@st.composite
def torch_conv_cases(draw, forms=("int", "pair", "explicit", "valid", "same")):
    groups = draw(st.sampled_from([1, 2, 4, "depthwise"]))
    if groups == "depthwise":
        cin = draw(st.integers(1, 6))
        groups, cout = cin, cin * draw(st.integers(1, 2))
    else:
        cin = groups * draw(st.integers(1, 2))
        cout = groups * draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    form = draw(st.sampled_from(forms))
    p = st.integers(0, 3)
    padding = {
        "int": lambda: draw(p),
        "pair": lambda: (draw(p), draw(p)),
        "explicit": lambda: ((draw(p), draw(p)), (draw(p), draw(p))),
        "valid": lambda: "valid",
        "same": lambda: "same",
    }[form]()
    h, w = draw(st.integers(1, 10)), draw(st.integers(1, 10))
    t, b, l, r = naive.pads(padding, (kh, kw), (sh, sw), (dh, dw), (h, w))
    assume(h + t + b >= (kh - 1) * dh + 1 and w + l + r >= (kw - 1) * dw + 1)
    return dict(
        x=(draw(st.integers(1, 3)), cin, h, w),
        w=(cout, cin // groups, kh, kw),
        bias=draw(st.booleans()),
        stride=(sh, sw),
        dilation=(dh, dw),
        padding=padding,
        pads=(t, b, l, r),
        groups=groups,
        seed=draw(seeds),
    )


@given(torch_conv_cases())
def test_conv2d_and_oracle_match_torch_conv2d(case):
    rng = np.random.default_rng(case["seed"])
    x, w = rng.standard_normal(case["x"]), rng.standard_normal(case["w"])
    b = rng.standard_normal(case["w"][0]) if case["bias"] else None
    kw = dict(stride=case["stride"], padding=case["padding"], dilation=case["dilation"], groups=case["groups"])
    t, bo, l, r = case["pads"]
    # torch pads symmetrically only; explicit (and TF "same") padding goes through F.pad first.
    xt = F.pad(T(x), (l, r, t, bo))
    ref = F.conv2d(xt, T(w), None if b is None else T(b), stride=case["stride"], dilation=case["dilation"], groups=case["groups"])
    check(ops.conv2d(x, w, b, **kw), naive.conv2d(x, w, b, **kw), ref, "conv2d")


@given(torch_conv_cases(forms=("int", "pair")))
def test_conv2d_symmetric_padding_matches_torch_native_padding(case):
    rng = np.random.default_rng(case["seed"])
    x, w = rng.standard_normal(case["x"]), rng.standard_normal(case["w"])
    kw = dict(stride=case["stride"], padding=case["padding"], dilation=case["dilation"], groups=case["groups"])
    ref = F.conv2d(T(x), T(w), **kw)
    check(ops.conv2d(x, w, **kw), naive.conv2d(x, w, **kw), ref, "conv2d")


# --- pools --------------------------------------------------------------------------------


@st.composite
def torch_pool_cases(draw):
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    stride = draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    padding = (draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2)))  # torch: pad <= kernel/2
    h = draw(st.integers(max(1, kh - 2 * padding[0]), 12))
    w = draw(st.integers(max(1, kw - 2 * padding[1]), 12))
    return dict(
        x=(draw(st.integers(1, 3)), draw(st.integers(1, 3)), h, w),
        kw=dict(kernel_size=(kh, kw), stride=stride, padding=padding, ceil_mode=draw(st.booleans())),
        seed=draw(seeds),
    )


@given(torch_pool_cases())
def test_max_pool2d_and_oracle_match_torch(case):
    x = np.random.default_rng(case["seed"]).standard_normal(case["x"])
    ref = F.max_pool2d(T(x), **case["kw"])
    check(ops.max_pool2d(x, **case["kw"]), naive.max_pool2d(x, **case["kw"]), ref, "max_pool2d")


@given(torch_pool_cases(), st.booleans())
def test_avg_pool2d_and_oracle_match_torch(case, cip):
    x = np.random.default_rng(case["seed"]).standard_normal(case["x"])
    ref = F.avg_pool2d(T(x), **case["kw"], count_include_pad=cip)
    ours = ops.avg_pool2d(x, **case["kw"], count_include_pad=cip)
    check(ours, naive.avg_pool2d(x, **case["kw"], count_include_pad=cip), ref, "avg_pool2d")


@given(
    size=st.integers(1, 30),
    kernel=st.integers(1, 6),
    stride=st.integers(1, 4),
    pad=st.integers(0, 3),
    ceil_mode=st.booleans(),
)
def test_pool_output_sizes_match_torch(size, kernel, stride, pad, ceil_mode):
    assume(pad <= kernel // 2 and size + 2 * pad >= kernel)
    x = np.zeros((1, 1, size, 1))
    kw = dict(kernel_size=(kernel, 1), stride=(stride, 1), padding=(pad, 0), ceil_mode=ceil_mode)
    expected = F.max_pool2d(T(x), **kw).shape[2]
    assert naive.pool_out_size(size, kernel, stride, pad, pad, ceil_mode) == expected
    assert ops.max_pool2d(x, **kw).shape[2] == expected
    assert ops.avg_pool2d(x, **kw).shape[2] == expected


@given(st.integers(1, 5), st.integers(1, 5), st.integers(0, 2), st.integers(0, 2), st.integers(0, 2), st.integers(0, 2), st.integers(1, 3), seeds)
def test_asymmetric_pool_padding_matches_torch_on_a_prepadded_input(kh, kw, t, b, l, r, s, seed):
    # Floor mode only: torch pools of an input padded with -inf (max) or zeros (avg,
    # count_include_pad=True) equal pools with explicit asymmetric padding.
    assume(max(t, b) <= kh // 2 and max(l, r) <= kw // 2)
    x = np.random.default_rng(seed).standard_normal((2, 2, 7, 6))
    pads = ((t, b), (l, r))
    ref = F.max_pool2d(F.pad(T(x), (l, r, t, b), value=-np.inf), (kh, kw), s)
    check(ops.max_pool2d(x, (kh, kw), s, pads), naive.max_pool2d(x, (kh, kw), s, pads), ref, "max_pool2d")
    ref = F.avg_pool2d(F.pad(T(x), (l, r, t, b)), (kh, kw), s)
    check(ops.avg_pool2d(x, (kh, kw), s, pads), naive.avg_pool2d(x, (kh, kw), s, pads), ref, "avg_pool2d")


def test_hand_computed_pool_cases_agree_with_torch():
    x = np.array([1.0, 2, 3, 4, 5, 6]).reshape(1, 1, 1, 6)
    kw = dict(kernel_size=(1, 3), stride=(1, 2), padding=(0, 1), ceil_mode=True)
    assert F.avg_pool2d(T(x), **kw, count_include_pad=True)[0, 0, 0].tolist() == [1.0, 3.0, 5.0, 3.0]
    assert F.avg_pool2d(T(x), **kw, count_include_pad=False)[0, 0, 0].tolist() == [1.5, 3.0, 5.0, 6.0]
    x5 = np.array([1.0, 2, 3, 4, 5]).reshape(1, 1, 1, 5)
    assert F.max_pool2d(T(x5), (1, 2), (1, 2), (0, 1), ceil_mode=True)[0, 0, 0].tolist() == [1.0, 3.0, 5.0]
    assert F.max_pool2d(torch.zeros(1, 1, 112, 112), 3, 2, 1).shape[2:] == (56, 56)
    assert F.max_pool2d(torch.zeros(1, 1, 113, 113), 3, 2, 1).shape[2:] == (57, 57)
    assert F.max_pool2d(torch.zeros(1, 1, 6, 6), 3, 2, ceil_mode=True).shape[2:] == (3, 3)
    assert F.max_pool2d(torch.zeros(1, 1, 4, 4), 2, 3, 1, ceil_mode=True).shape[2:] == (2, 2)


@given(st.integers(1, 3), st.integers(1, 4), st.integers(1, 9), st.integers(1, 9), seeds)
def test_global_pools_match_torch_adaptive_pools(n, c, h, w, seed):
    x = np.random.default_rng(seed).standard_normal((n, c, h, w))
    check(ops.global_avg_pool2d(x, keepdims=True), naive.global_avg_pool2d(x)[:, :, None, None], F.adaptive_avg_pool2d(T(x), 1), "global_avg_pool2d")
    check(ops.global_max_pool2d(x, keepdims=True), naive.global_max_pool2d(x)[:, :, None, None], F.adaptive_max_pool2d(T(x), 1), "global_max_pool2d")


# --- batch norm, relu, pad, linear, softmax ------------------------------------------------


@given(st.integers(1, 3), st.integers(1, 6), st.integers(1, 6), st.integers(1, 6), st.sampled_from([1e-5, 1.001e-5, 1e-3]), seeds)
def test_batch_norm_matches_torch_eval_mode(n, c, h, w, eps, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w))
    mean, gamma, beta = rng.standard_normal(c), rng.standard_normal(c), rng.standard_normal(c)
    var = rng.uniform(0.01, 3.0, c)
    ref = F.batch_norm(T(x), T(mean), T(var), T(gamma), T(beta), training=False, eps=eps)
    check(ops.batch_norm(x, mean, var, gamma, beta, eps), naive.batch_norm(x, mean, var, gamma, beta, eps), ref, "batch_norm")


@given(st.integers(1, 3), st.integers(1, 6), st.integers(1, 6), st.integers(1, 6), seeds)
def test_relu_matches_torch(n, c, h, w, seed):
    x = np.random.default_rng(seed).standard_normal((n, c, h, w))
    check(ops.relu(x), naive.relu(x), F.relu(T(x)), "relu")


@given(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3), st.integers(0, 3), seeds)
def test_zero_pad2d_matches_torch_pad(t, b, l, r, seed):
    x = np.random.default_rng(seed).standard_normal((2, 3, 4, 5))
    pads = ((t, b), (l, r))
    check(ops.zero_pad2d(x, pads), naive.zero_pad2d(x, pads), F.pad(T(x), (l, r, t, b)), "zero_pad2d")


@given(st.integers(1, 4), st.integers(1, 40), st.integers(1, 12), st.booleans(), seeds)
def test_linear_matches_torch(n, fin, fout, bias, seed):
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal((n, fin)), rng.standard_normal((fout, fin))
    b = rng.standard_normal(fout) if bias else None
    ref = F.linear(T(x), T(w), None if b is None else T(b))
    check(ops.linear(x, w, b), naive.linear(x, w, b), ref, "linear")


@given(st.integers(1, 4), st.integers(1, 12), st.sampled_from([1.0, 10.0, 1000.0]), seeds)
def test_softmax_matches_torch(n, k, scale, seed):
    x = np.random.default_rng(seed).standard_normal((n, k)) * scale
    check(ops.softmax(x), naive.softmax(x), F.softmax(T(x), dim=-1), "softmax")
    check(ops.softmax(x, axis=0), naive.softmax(x, axis=0), F.softmax(T(x), dim=0), "softmax")


def test_softmax_large_logits_agree_with_torch():
    for row in ([1000.0, 1001.0, 1002.0], [-5000.0, 0.0]):
        x = np.array([row])
        check(ops.softmax(x), naive.softmax(x), F.softmax(T(x), dim=-1), "softmax")
