"""compare on live torchvision models (skipped when torch is not installed).

Passes the nn.Module itself: compare collects the activations with forward hooks.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
pytestmark = pytest.mark.torch
F = torch.nn.functional

import refresnet  # noqa: E402
from refresnet.diagnose.collect_torch import collect_torch  # noqa: E402
from refresnet.diagnose.compare import compare  # noqa: E402
from refresnet.build.synthetic import synthetic_weights  # noqa: E402
from refresnet.runtime.executor import Node, run_node  # noqa: E402
from tolerances import rel_err  # noqa: E402

SIZE = 64


def _pair(arch):
    weights = synthetic_weights(arch, seed=1)
    tm = getattr(torchvision.models, arch)(weights=None)
    missing, unexpected = tm.load_state_dict({k: torch.tensor(np.asarray(v), dtype=torch.float32) for k, v in weights.items()}, strict=False)
    assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing)
    x = np.random.default_rng(5).normal(0.0, 1.0, (1, 3, SIZE, SIZE)).astype(np.float32)
    return refresnet.build(arch, weights), tm.eval(), x


@pytest.mark.parametrize("arch", ["resnet18", "resnet50"])
def test_live_torch_float32_is_within_budget_and_faults_are_found(arch):
    model, tm, x = _pair(arch)
    report = compare(model, x, tm)
    assert report.first_divergence is None, str(report)
    assert not report.unknown  # every hooked name is a layer of the oracle
    assert len(report.layers) == len(model.layer_names())
    assert report.output["top1_agreement"] == 1.0

    bn = "layer2.1.bn2" if arch == "resnet18" else "layer2.1.bn3"
    tm.get_submodule(bn).eps = 1e-3
    report = compare(model, x, tm)
    assert report.first_divergence == bn
    assert report.divergent == [bn]
    assert report.layer(bn)["cause_id"] == "bn.eps" and report.layer(bn)["cause_detail"]["eps"] == 1e-3


def test_collect_torch_names_reused_relu_calls_like_trace():
    model, tm, x = _pair("resnet18")
    acts = collect_torch(tm, x)
    assert set(acts) == set(model.layer_names())


def test_emulated_float32_conv_matches_live_torch_float32_within_rounding():
    rng = np.random.default_rng(9)
    x = rng.normal(0, 1, (1, 32, 15, 15)).astype(np.float32)
    w = (rng.normal(0, 1, (16, 32, 3, 3)) / 17).astype(np.float32)
    t32 = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), stride=2, padding=1).numpy().astype(np.float64)
    t64 = F.conv2d(torch.from_numpy(x).double(), torch.from_numpy(w).double(), stride=2, padding=1).numpy()
    node = Node("c", "conv2d", ("input",), dict(w=w.astype(np.float64), bias=None, stride=2, padding=1))
    ours = run_node(node, [x], "float32")
    assert rel_err(ours, t64) < 16 * 2.0**-24 and rel_err(t32, t64) < 16 * 2.0**-24
    # Both accumulate in float32: errors of one size per element, several times the
    # one rounding of the exact sum that a float64 sum rounded once would give.
    rms = lambda a: float(np.sqrt(np.mean((a - t64) ** 2)))  # noqa: E731
    once = t64.astype(np.float32).astype(np.float64)
    assert rms(t32) / 3 < rms(ours) < 3 * rms(t32), (rms(ours), rms(t32))
    assert rms(ours) > 3 * rms(once), (rms(ours), rms(once))
