"""refresnet.grad against torch 2.14.1 float64 autograd, recorded by
tests/fixtures/make_grad_fixtures.py (no torch needed here).

Each case (tests/fixtures/grad_cases.py) rebuilds the network from the same
seeded synthetic weights the script gave torch, runs refresnet.grad on the
stored inputs and labels, and checks every parameter gradient, every module
output gradient and the input gradient against torch's sketches
(tests/fixtures/sketch.py) at NET_RTOL (1e-10 relative to each tensor's max):
the sketch bounds all follow from max |ours - torch| <= 1e-10 * max |torch|.
Measured with the full tensors (the script's --dump) on an AMD EPYC, 2 cores:
worst per-tensor relative error 3e-14 (resnet18), 1e-14 (cifar_resnet20), 1.5e-12
(resnet50 in training mode, where layer4's BN normalises 8 values per channel
and its input gradient is a difference of nearly equal terms), 6e-14 (resnet50
eval).
"""

import functools

import numpy as np
import pytest

import refresnet
from fixtures import sketch
from fixtures.grad_cases import CASES, case_input, case_labels, case_model, load_case_fixture, unstack_sketches as _sketches
import backward_table as bw
from tolerances import NET_RTOL, rel_err

REGENERATE = "PYTHONPATH=. /tmp/fixvenv-grad/bin/python tests/fixtures/make_grad_fixtures.py"


def _npz(name):
    return load_case_fixture(name, REGENERATE)



@functools.lru_cache(maxsize=1)
def _run(name):
    case = next(c for c in CASES if c["name"] == name)
    g = refresnet.grad(case_model(case["arch"]), case_input(case), case_labels(case), reduction=case["reduction"],
                       label_smoothing=case["label_smoothing"], train=case["train"])
    return case, g, _npz(f"{name}.npz")


NAMES = [c["name"] for c in CASES]


@pytest.mark.parametrize("name", NAMES)
def test_loss_and_logits_match_torch(name):
    case, g, fx = _run(name)
    assert rel_err(g.logits, fx["logits"]) <= NET_RTOL
    assert abs(g.loss - float(fx["loss"])) <= NET_RTOL * abs(float(fx["loss"]))


@pytest.mark.parametrize("name", NAMES)
def test_every_parameter_gradient_matches_torch(name):
    case, g, fx = _run(name)
    ref = _sketches(fx, "params/")
    # The same trainable tensors as torch's named_parameters(), no more.
    assert set(g.params) == set(ref), set(g.params) ^ set(ref)
    bad = sketch.failures(ref, g.params, NET_RTOL)
    assert not bad, f"{name}: {len(bad)} parameter gradients differ; first: {bad[0]}"


@pytest.mark.parametrize("name", NAMES)
def test_every_layer_output_gradient_matches_torch(name):
    case, g, fx = _run(name)
    ref = _sketches(fx, "acts/")
    # Every module torch hooked (each call of a reused ReLU as name#k) and nothing else.
    assert set(g.activations) == set(ref), set(g.activations) ^ set(ref)
    bad = sketch.failures(ref, g.activations, NET_RTOL)
    assert not bad, f"{name}: {len(bad)} output gradients differ; first: {bad[0]}"
    inp = {k.split("/", 1)[1]: v for k, v in fx.items() if k.startswith("input/")}
    sketch.check(inp, g.input, NET_RTOL, name="input")


@pytest.mark.parametrize("name", [n for n in NAMES if n.endswith("_train")])
def test_batch_statistics_match_torch_running_statistics_after_one_step(name):
    case, g, fx = _run(name)
    ref = _sketches(fx, "bn/")
    ours = {}
    for bn, (mean, var, unbiased) in g.batch_stats.items():
        ours[f"{bn}/mean"] = mean
        ours[f"{bn}/var"] = unbiased  # torch folds the unbiased variance into running_var
    assert set(ours) == set(ref)
    bad = sketch.failures(ref, ours, NET_RTOL)
    assert not bad, bad[0]


def test_max_pool2d_ties_go_where_torch_sends_them():
    fx = _npz("max_pool_ties.npz")
    x = fx["ties/x"]
    # The input really ties: some 3x3 window holds its maximum more than once.
    win = np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(2, 3))
    assert np.any((win == win.max(axis=(-2, -1), keepdims=True)).sum(axis=(-2, -1)) > 1)
    k = 0
    while f"ties/{k}/args" in fx:
        kernel, stride, pad, ceil = (int(v) for v in fx[f"ties/{k}/args"])
        kw = dict(kernel_size=kernel, stride=stride, padding=pad, ceil_mode=bool(ceil))
        y = refresnet.ops.max_pool2d(x, **kw)
        (dx,) = bw.max_pool2d_backward(fx[f"ties/{k}/dy"], (x,), y, **kw)
        # Each window's dy lands on one position, so the sums are of the same
        # few numbers: equal to torch's up to the order of the additions.
        assert rel_err(dx, fx[f"ties/{k}/dx"]) <= 1e-15, (kw, rel_err(dx, fx[f"ties/{k}/dx"]))
        k += 1
    assert k == 4
