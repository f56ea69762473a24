"""compare on live timm and transformers float32 modules (skipped when torch, timm
or transformers is not installed), as test_compare_live_torch.py does for
torchvision: the nn.Module itself is passed and compare collects its
activations with forward hooks under the libraries' module names."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch  # timm and transformers run on torch

import refresnet  # noqa: E402
from refresnet.diagnose.compare import compare  # noqa: E402
from refresnet.build.synthetic import synthetic_weights  # noqa: E402

SIZE = 64


def _load(module, weights):
    missing, unexpected = module.load_state_dict(
        {k: torch.tensor(np.asarray(v), dtype=torch.float32) for k, v in weights.items()}, strict=False)
    assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing)
    return module.eval()


def _x():
    return np.random.default_rng(5).normal(0.0, 1.0, (1, 3, SIZE, SIZE)).astype(np.float32)


def _check(model, live, bn):
    x = _x()
    report = compare(model, x, live)
    assert report.first_divergence is None, str(report)
    assert len(report.layers) == len(model.layer_names())
    assert report.output["top1_agreement"] == 1.0
    # The modules inside timm's SE / ECA module: refresnet computes `se` as one op
    # and compares its output; the inner names are reported as not its layers.
    assert all(".se." in name for name in report.unknown), report.unknown
    live.get_submodule(bn).eps = 1e-3
    report = compare(model, x, live)
    assert report.first_divergence == bn and report.divergent == [bn]
    assert report.layer(bn)["cause_id"] == "bn.eps" and report.layer(bn)["cause_detail"]["eps"] == 1e-3
    return report


@pytest.mark.parametrize("name, inner", [("resnet10t", 0), ("seresnext26d_32x4d", 5), ("ecaresnet26t", 2)])
def test_live_timm_float32_is_within_budget_and_faults_are_found(name, inner):
    timm = pytest.importorskip("timm")
    weights = synthetic_weights("timm_" + name, seed=1)
    model = refresnet.build("timm_" + name, weights)
    live = _load(timm.create_model(name, pretrained=False), weights)
    report = _check(model, live, "layer2.0.bn2")
    blocks = sum(model.arch.depths)
    assert len(report.unknown) == inner * blocks  # se.fc1, bn, act, fc2, gate / ECA se.conv, gate per block


def _transformers_resnet18():
    """refresnet's transformers_resnet-18 and a live transformers ResNet-18 with the same seeded weights."""
    transformers = pytest.importorskip("transformers")
    weights = synthetic_weights("transformers_resnet-18", seed=1)
    config = transformers.ResNetConfig(depths=[2, 2, 2, 2], hidden_sizes=[64, 128, 256, 512], layer_type="basic",
                                       num_labels=1000)
    live = _load(transformers.ResNetForImageClassification(config), weights)
    return refresnet.build("transformers_resnet-18", weights), live


def test_live_transformers_float32_is_within_budget_and_faults_are_found():
    model, live = _transformers_resnet18()
    report = _check(model, live, "resnet.encoder.stages.1.layers.0.layer.1.normalization")
    assert not report.unknown


def test_live_transformers_fed_unnormalised_input_is_diagnosed():
    # The image a user passes as x / 255 without ImageNet's mean/std, while the
    # oracle gets the weights' own preprocessing (no preprocessor_config.json:
    # microsoft/resnet-*'s ConvNextImageProcessor values).
    from refresnet import preprocess
    from refresnet.diagnose.collect_torch import collect_torch

    model, live = _transformers_resnet18()
    pixels = np.random.default_rng(3).integers(0, 256, (1, SIZE, SIZE, 3)).astype(np.uint8)
    p = preprocess.get_preset("transformers")
    x = preprocess.transformers_float(pixels[0], p.scale, p.mean, p.std)[None].astype(np.float32)
    wrong = (pixels.transpose(0, 3, 1, 2) / 255.0).astype(np.float32)
    report = compare(model, x, collect_torch(live, wrong))
    first = "resnet.embedder.embedder.convolution"
    assert report.first_divergence == first
    row = report.layer(first)
    assert row["cause_id"] == "input.missing_mean_std", row["cause"]
    assert row["cause_detail"]["key"] == "0..1" and row["cause_detail"]["own"] == "transformers", row["cause"]
