"""refresnet.grad on whole networks: the directional derivative against central
finite differences of the loss, and the API's shapes, names and errors.

The directional check perturbs the input and every trainable tensor together
along 20 random directions d of norm 0.2 and compares
(L(p + h d) - L(p - h d)) / 2h with h = 1e-4 (a step of norm 2e-5) against
<grad, d>, with h = 2e-5 (a step of norm 4e-6). Why these sizes
(tests/tolerances.py FD_NETWORK_RTOL): a network holds ~1e5 ReLU and max-pool
kinks, and a step that carries some layer's input across one makes the
quotient miss (a unit-norm direction with h = 1e-5 misses by 1e-3, issue 22);
the loss's rounding, ~1e-15 absolute over a deep forward, divided by 2h
grows as h shrinks. Measured here over 6 directions (relative error at h =
1e-4, 5e-5, 2e-5, 1e-5): cifar_resnet20 up to 2e-3, 3e-9, 3e-9, 1e-8 (kinks at
the largest step); resnet18 up to 7e-9, 3e-8, 4e-8, 1.3e-7 (rounding at the
smallest). h = 2e-5 sits where both are small. Measured worst of the 20
directions (AMD EPYC, 2 cores): resnet18 1.7e-7 (train) and 6.0e-7 (eval),
cifar_resnet20 2e-8 and 4e-8.
"""

import functools

import numpy as np
import pytest

import refresnet
from refresnet.grad import _forward, _tensor_name  # the module (refresnet.grad itself is the function)
from refresnet.build.synthetic import synthetic_weights
from refresnet.runtime import backward as bw
from refresnet.runtime import losses
from tolerances import FD_NETWORK_RTOL

CASES = [("resnet18", (2, 3, 48, 40), True), ("resnet18", (2, 3, 48, 40), False),
         ("cifar_resnet20", (4, 3, 32, 32), True), ("cifar_resnet20", (3, 3, 32, 32), False)]


@functools.lru_cache(maxsize=None)
def _model(arch):
    return refresnet.build(arch, synthetic_weights(arch, seed=5, num_classes=10))


def _loss(model, nodes, x, labels, train):
    env, _, _ = _forward(nodes, x, train)
    return losses.cross_entropy(env[model.program.output], labels)[0]


def _perturbed(nodes, directions, t):
    """The nodes with each trainable tensor moved by t * its direction."""
    out = []
    for node in nodes:
        if node.name in directions:
            kw = dict(node.kwargs)
            for k, d in directions[node.name].items():
                kw[k] = node.kwargs[k] + t * d
            node = node._replace(kwargs=kw)
        out.append(node)
    return out


@pytest.mark.parametrize("arch, shape, train", CASES)
def test_directional_derivative_matches_central_differences(arch, shape, train):
    m = _model(arch)
    rng = np.random.default_rng([len(arch), int(train)])
    x = rng.normal(size=shape)
    labels = rng.integers(0, 10, shape[0])
    g = refresnet.grad(m, x, labels, train=train)
    h = 2e-5
    worst = 0.0
    for _ in range(20):
        dx = rng.normal(size=shape)
        dirs = {}
        for node in m.nodes:
            for k in bw.PARAMS.get(node.op, ()):
                if node.kwargs.get(k) is not None:
                    dirs.setdefault(node.name, {})[k] = rng.normal(size=node.kwargs[k].shape)
        norm = np.sqrt(np.sum(dx * dx) + sum(np.sum(d * d) for ds in dirs.values() for d in ds.values()))
        dx *= 0.2 / norm
        for ds in dirs.values():
            for k in ds:
                ds[k] *= 0.2 / norm
        analytic = np.sum(g.input * dx)
        for node in m.nodes:
            for k, d in dirs.get(node.name, {}).items():
                name, _ = _tensor_name(node, k, keras=False)
                analytic += np.sum(g.params[name] * d)
        plus = _loss(m, _perturbed(m.nodes, dirs, h), x + h * dx, labels, train)
        minus = _loss(m, _perturbed(m.nodes, dirs, -h), x - h * dx, labels, train)
        fd = (plus - minus) / (2 * h)
        err = abs(fd - analytic) / abs(analytic)
        worst = max(worst, err)
        assert err <= FD_NETWORK_RTOL, f"{arch} train={train}: directional derivative {analytic!r}, central difference {fd!r}"
    print(f"{arch} train={train}: worst relative error {worst:.2e}")


def test_grad_returns_names_shapes_and_layouts_of_the_file():
    m = _model("resnet18")
    x = np.random.default_rng(1).normal(size=(2, 3, 40, 40))
    g = refresnet.grad(m, x, [3, 7])
    w = synthetic_weights("resnet18", seed=5, num_classes=10)
    trainable = {k for k in w if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))}
    assert set(g.params) == trainable
    assert all(g.params[k].shape == np.shape(w[k]) for k in g.params)
    assert g.input.shape == x.shape
    assert list(g.activations) == m.layer_names()
    assert set(g.batch_stats) == {n.name for n in m.nodes if n.op == "batch_norm"}
    assert refresnet.grad(m, x, [3, 7], train=False).batch_stats == {}


def test_eval_mode_logits_are_the_models_own_output():
    m = _model("cifar_resnet20")
    x = np.random.default_rng(2).normal(size=(2, 3, 32, 32))
    g = refresnet.grad(m, x, [0, 1], train=False)
    assert np.array_equal(g.logits, m(x))


def test_mean_reduction_is_the_sum_divided_by_the_batch():
    m = _model("cifar_resnet20")
    x = np.random.default_rng(3).normal(size=(4, 3, 32, 32))
    mean = refresnet.grad(m, x, [0, 1, 2, 3])
    total = refresnet.grad(m, x, [0, 1, 2, 3], reduction="sum")
    assert total.loss == pytest.approx(4 * mean.loss, rel=1e-14)
    for k in mean.params:
        np.testing.assert_allclose(total.params[k], 4 * mean.params[k], rtol=1e-12, atol=1e-15 * np.abs(total.params[k]).max())


def test_grad_refuses_what_it_cannot_do_by_name():
    m = _model("cifar_resnet20")
    x = np.zeros((2, 3, 32, 32))
    with pytest.raises(ValueError, match="unknown loss 'mse'; expected one of cross_entropy, sparse_categorical_crossentropy"):
        refresnet.grad(m, x, [0, 1], loss="mse")
    with pytest.raises(ValueError, match="needs a softmax output"):
        refresnet.grad(m, x, [0, 1], loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"label 10 is outside 0\.\.9"):
        refresnet.grad(m, x, [0, 10])
