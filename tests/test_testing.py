"""refresnet.testing.assert_matches_oracle on recorded torch runs (and live torch when installed)."""

import numpy as np
import pytest

import refresnet
from refresnet.testing import assert_matches_oracle
from test_compare import case, faulty
from test_compare_bugs import load


def test_correct_float32_activations_pass():
    model, x, variants = case("resnet18")
    report = assert_matches_oracle(model, x, variants["ok"])
    assert report.ok and len(report.layers) == len(variants["ok"])


def test_correct_output_alone_passes():
    model, x, variants = case("resnet18")
    assert_matches_oracle(model, x, variants["ok"]["fc"])


def test_faulty_activations_raise_with_the_first_divergence_and_cause():
    model, x, variants = case("resnet18")
    with pytest.raises(AssertionError) as err:
        assert_matches_oracle(model, x, faulty(variants, "eps"))
    text = str(err.value)
    assert "beyond rounding at layer3.1.bn1 (cause_id bn.eps)" in text
    assert "first divergence: layer3.1.bn1; likely cause: [bn.eps]" in text
    assert len(text.splitlines()) < 25  # the compact report, not the table


def test_faulty_output_alone_raises():
    # the output of a run with BN eps 1e-3 at layer3.1.bn1 (the recorded faulty run
    # continues only to the end of layer3: recompute nothing, take its stage output)
    model, x, variants = case("resnet18")
    wrong = variants["ok"]["fc"] * 1.001
    with pytest.raises(AssertionError, match="first divergence: fc"):
        assert_matches_oracle(model, x, wrong)


@pytest.mark.parametrize("run, precision", [("float16", "float16"), ("bfloat16", "bfloat16")])
def test_low_precision_runs_pass_at_their_precision_and_fail_at_float32(run, precision):
    model, z, variants = load("precision_resnet18.npz", "resnet18")
    assert_matches_oracle(model, z["x"], variants[run], precision=precision)
    with pytest.raises(AssertionError):
        assert_matches_oracle(model, z["x"], variants[run], precision="float32")


def test_nothing_to_compare_is_an_assertion_error():
    model, x, _ = case("resnet18")
    with pytest.raises(AssertionError, match="no layer"):
        assert_matches_oracle(model, x, {"not.a.layer": np.zeros(3)})


@pytest.mark.torch
def test_live_torch_module_bfloat16_and_autocast():
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    from refresnet.build.synthetic import synthetic_weights

    weights = synthetic_weights("resnet18", seed=0)
    tm = torchvision.models.resnet18(weights=None)
    tm.load_state_dict({k: torch.tensor(np.asarray(v), dtype=torch.float32) for k, v in weights.items()}, strict=False)
    tm.eval()
    model = refresnet.build("resnet18", weights)
    x = np.random.default_rng(3).normal(0, 1, (1, 3, 32, 32)).astype(np.float32)
    assert_matches_oracle(model, x, tm)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert_matches_oracle(model, x, tm, precision="bfloat16")
    assert_matches_oracle(model, x, tm.to(torch.bfloat16), precision="bfloat16")
    tm.layer2[0].conv2.weight.data = tm.layer2[0].conv2.weight.data.flip(2, 3)
    with pytest.raises(AssertionError, match="kernel flipped"):
        assert_matches_oracle(model, x, tm, precision="bfloat16")
