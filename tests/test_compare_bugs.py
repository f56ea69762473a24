"""compare names the bugs ports actually have, on real torch runs with each planted.

tests/fixtures/compare/bugs_resnet50.npz, precision_resnet18.npz and
many_resnet18.npz are recorded by make_compare_bug_fixtures.py from torchvision
(no torch needed here): each planted bug must be found at its layer with its
cause named; clean float16/bfloat16/autocast runs must pass at their budget;
a bug on one image of fifty must be found on that image.
"""

import argparse
import json
import os

import numpy as np
import pytest

import refresnet
from refresnet.errors import MissingExtraError
from refresnet.cli import compare as cli_compare
from refresnet.diagnose import metrics as cmp
from refresnet.diagnose.compare import compare
from refresnet.build.synthetic import synthetic_weights
from fixtures.paths import fixture_file

REGEN = ("python tests/fixtures/make_compare_bug_fixtures.py dump && SYNTHETIC_NPZ_DIR=/tmp/synthetic-npz "
         "/tmp/fixvenv/bin/python tests/fixtures/make_compare_bug_fixtures.py torch")
_cache = {}


def _fingerprint(weights):
    keys = sorted(weights)
    return np.array([float(np.sum(np.abs(np.asarray(weights[k], dtype=np.float64)))) for k in keys[:: max(1, len(keys) // 16)]])


def load(name, arch):
    if name not in _cache:
        z = np.load(fixture_file("compare", name, REGEN))
        weights = synthetic_weights(arch, seed=0)
        if not np.allclose(_fingerprint(weights), z["fingerprint"], rtol=1e-12, atol=0):
            pytest.fail(f"refresnet.build.synthetic weights changed since {name} was recorded; regenerate with: {REGEN}")
        variants = {}
        for key in z.files:
            if "/" in key:
                variant, layer = key.split("/", 1)
                variants.setdefault(variant, {})[layer] = z[key]
        _cache[name] = (refresnet.build(arch, weights), z, variants)
    return _cache[name]


def bug(name):
    model, z, variants = load("bugs_resnet50.npz", "resnet50")
    x = z["train_x"] if name == "train" else z["x"]
    return compare(model, x, variants[name])


# (bug, layer where it must be found, the cause_id named there, what its detail must hold)
CASES = [
    ("train", "bn1", "bn.train_mode", dict(n=2)),
    ("relu_missing", "layer2.0.relu#0", "relu.missing", {}),
    ("relu_before_add", "layer3.0.relu#2", "relu.before_add", dict(branch="layer3.0.bn3")),
    ("extra_relu", "layer2.0.conv1", "relu.extra", {}),
    ("avgpool", "maxpool", "pool.avg_for_max", {}),
    ("flip", "layer2.0.conv2", "kernel.flipped", {}),
    ("transpose", "layer3.0.conv2", "kernel.transposed", {}),
    ("swap", "layer1.0.conv3", "weights.swapped", dict(other="layer1.0.downsample.0")),
    ("bias", "layer1.0.conv1", "conv.bias", {}),
    ("layout", "conv1", "layout.transposed", dict(theirs="NHWC", ours="NCHW")),
    ("scale_0_255", "conv1", "input.scale_255", dict(key="0..255", own="torchvision")),
    ("scale_0_1", "conv1", "input.missing_mean_std", dict(key="0..1", own="torchvision")),
    ("scale_caffe", "conv1", "input.preset", dict(key="keras-caffe", own="torchvision")),
    ("scale_tf", "conv1", "input.preset", dict(key="keras-tf", own="torchvision")),
]


@pytest.mark.parametrize("name, where, cause_id, detail", CASES)
def test_planted_bug_is_found_at_its_layer_and_named(name, where, cause_id, detail):
    report = bug(name)
    assert report.first_divergence == where, report.summary()
    row = report.layer(where)
    assert row["cause_id"] == cause_id, row["cause"]
    assert report.first_cause_id == cause_id
    assert {k: row["cause_detail"].get(k) for k in detail} == detail, row["cause_detail"]
    assert row["ratio"] > 100 or name == "layout"  # a layout fault's values agree once transposed
    # the named alternative brings the layer back within its budget; most others do not
    assert sum(ev["explains"] for ev in row["evidence"]) >= 1
    assert len(row["evidence"]) == 1 or not all(ev["explains"] for ev in row["evidence"])
    assert f"likely cause: [{cause_id}]" in report.summary()
    assert json.loads(report.to_json())["first_cause_id"] == cause_id


def test_a_named_preset_wins_over_the_fitted_input_map_that_also_explains_it():
    # the fitted affine map fits whatever a preset does (priority 1 against 0)
    row = bug("scale_tf").layer("conv1")
    explains = {ev["cause_id"] for ev in row["evidence"] if ev["explains"]}
    assert {"input.preset", "input.affine_fitted"} <= explains
    assert row["cause_id"] == "input.preset"


def test_every_later_layer_of_a_planted_bug_has_its_own_cause():
    # one bug module reused: each ReLU of the block is missing, each BN in train mode
    assert bug("relu_missing").divergent == ["layer2.0.relu#0", "layer2.0.relu#1"]
    rep = bug("train")
    assert rep.divergent == ["bn1", "layer1.0.bn1"]
    assert all(rep.layer(n)["cause_id"] == "bn.train_mode" for n in rep.divergent)
    # swapped weights show at both layers, each with the other's name
    rep = bug("swap")
    assert rep.divergent == ["layer1.0.conv3", "layer1.0.downsample.0"]
    row = rep.layer("layer1.0.downsample.0")
    assert row["cause_id"] == "weights.swapped" and row["cause_detail"]["other"] == "layer1.0.conv3"


def test_the_layers_around_a_planted_bug_are_rounding():
    rep = bug("flip")
    assert rep.layer("layer2.0.relu#0")["verdict"] == "ok" and rep.layer("layer2.0.bn2")["verdict"] == "ok"
    rep = bug("relu_before_add")
    assert rep.layer("layer3.0.bn3")["verdict"] == "ok" and rep.layer("layer3.1.conv1")["verdict"] == "ok"


def test_resnet_v1_stride_placement_is_a_shape_finding_and_comparison_goes_on():
    report = bug("stride_v1")  # must not raise
    assert report.first_divergence == "layer2.0.conv1"
    row = report.layer("layer2.0.conv1")
    assert row["verdict"] == "shape mismatch"
    assert row["framework_shape"] == [1, 128, 4, 4] and row["oracle_shape"] == [1, 128, 8, 8]
    assert row["cause_id"] == "shape.stride_on_1x1" and row["cause_detail"]["later"] == "layer2.0.conv2"
    assert _named(row)["values_agree"]  # the named alternative gives the framework's values too
    for name in ("layer2.0.bn1", "layer2.0.relu#0"):
        assert report.layer(name)["cause_id"] == "shape.follows"
        assert report.layer(name)["cause_detail"] == dict(root="layer2.0.conv1")
    # shapes agree again from the 3x3 on: compared, and the 3x3 is the other half of the story
    assert report.layer("layer2.0.conv2")["cause_id"] == "conv.stride"
    assert report.layer("layer2.0.conv2")["cause_detail"] == dict(new=1, old=2)
    for name in ("layer2.0.bn2", "layer2.0.relu#1", "layer2.0.conv3", "layer2.0.bn3", "layer2.0.downsample.0",
                 "layer2.0.relu#2"):
        assert report.layer(name)["verdict"] == "ok", name
    assert report.layer("layer3.0.conv1")["cause_id"] == "shape.stride_on_1x1"
    assert "layer2.0.conv1" in report.shape_mismatches and "shape mismatch" in str(report)
    json.loads(report.to_json())


def _named(row):
    """The evidence entry of the alternative a shape row names."""
    [ev] = [ev for ev in row["evidence"] if ev["cause_id"] == row["cause_id"] and ev["detail"] == row["cause_detail"]]
    return ev


@pytest.mark.parametrize("name, cause_id, detail", [("pool_pad", "pool.padding", dict(new=0, old=1)),
                                                    ("ceil_mode", "pool.ceil_mode", dict(new=True, old=False))])
def test_pool_shape_mismatch_is_explained(name, cause_id, detail):
    report = bug(name)
    assert report.first_divergence == "maxpool"
    row = report.layer("maxpool")
    assert row["verdict"] == "shape mismatch" and row["cause_id"] == cause_id, row["cause"]
    assert row["cause_detail"] == detail
    assert _named(row)["values_agree"]
    assert report.layer("layer1.0.conv1")["cause_id"] == "shape.follows"
    assert report.layer("layer1.0.conv1")["cause_detail"] == dict(root="maxpool")


# ---------------------------------------------------------------- precisions

RUNS = [("float16", "float16"), ("bfloat16", "bfloat16"), ("autocast_bfloat16", "bfloat16"),
        ("autocast_float16", "float16")]


@pytest.mark.parametrize("run, precision", RUNS)
def test_clean_low_precision_torch_run_passes_at_its_budget(run, precision):
    model, z, variants = load("precision_resnet18.npz", "resnet18")
    report = compare(model, z["x"], variants[run], precision=precision)
    assert report.ok, report.summary()
    assert len(report.layers) == len(variants[run])
    # not vacuous: the run is far from float64 and would fail a float32 budget
    assert max(r["local"]["rel_l2"] for r in report.layers) > 1e-4
    assert not compare(model, z["x"], variants[run], precision="float32").ok


@pytest.mark.parametrize("run, precision", RUNS)
def test_planted_bug_in_low_precision_torch_run_is_found(run, precision):
    model, z, variants = load("precision_resnet18.npz", "resnet18")
    acts = {k: v for k, v in variants[run].items() if not (k.startswith("layer3") or k.startswith("layer4")
                                                         or k in ("avgpool", "fc"))}
    acts.update(variants[run + "_flip"])
    report = compare(model, z["x"], acts, precision=precision)
    assert report.first_divergence == "layer3.0.conv1"
    assert report.divergent == ["layer3.0.conv1"], report.summary()
    assert report.layer("layer3.0.conv1")["cause_id"] == "kernel.flipped"


# ---------------------------------------------------------------- many images

def many():
    model, z, _ = load("many_resnet18.npz", "resnet18")
    acts = {k: z[k] for k in ("layer3.1.conv1", "layer3.1.bn1", "fc")}
    return model, z, acts


@pytest.mark.slow
def test_a_bug_on_one_image_of_fifty_is_found_on_that_image():
    model, z, acts = many()
    bad = int(z["bad"])
    report = compare(model, z["x"], acts)
    assert len(report.images) == 50
    assert report.first_divergence == "layer3.1.bn1"
    row = report.layer("layer3.1.bn1")
    assert row["images"]["divergent"] == [bad] and row["images"]["worst"] == bad
    assert report.worst_image == bad
    assert [im["index"] for im in report.images if im["first_divergence"]] == [bad]
    assert report.images[bad]["first_divergence"] == "layer3.1.bn1"
    assert row["images"]["ratio"]["median"] < 2 < cmp.BUDGET_FACTOR < row["images"]["ratio"]["max"]
    assert row["images"]["ratio"]["p90"] < cmp.BUDGET_FACTOR
    assert row["cause_id"] == "bn.eps_fitted" and row["cause_detail"]["eps"] == pytest.approx(1.5e-5, rel=5e-3)
    # pooled over the batch the same error is within budget: it would have been averaged away
    pooled = row["local"]["rel_l2"] / max(row["budget"]["local"]["rel_l2"], 2.0**-24)
    assert pooled < cmp.BUDGET_FACTOR
    assert report.layer("layer3.1.conv1")["verdict"] == "ok" and report.layer("fc")["verdict"] == "ok"
    text = str(report)
    assert f"worst image {bad}" in text and f"image {bad}: first divergence layer3.1.bn1" in text


@pytest.mark.slow
def test_cli_compares_a_directory_of_inputs_and_activations(tmp_path, capsys):
    model, z, acts = many()
    for i in range(0, 50, 5):  # ten files of five images each
        np.save(tmp_path / f"img{i:02d}.npy", z["x"][i:i + 5])
        np.savez(tmp_path / f"img{i:02d}.npz", **{k: v[i:i + 5] for k, v in acts.items()})
    parser = argparse.ArgumentParser()
    cli_compare.add_arguments(parser)
    png = tmp_path / "compare.png"
    args = parser.parse_args(["--weights", "synthetic:resnet18:0", "--input", str(tmp_path),
                              "--activations", str(tmp_path), "--json", "--plot", str(png)])
    assert cli_compare.run(args) == 1
    doc = json.loads(capsys.readouterr().out)
    bad = int(z["bad"])
    assert doc["worst_image"] == bad and doc["first_divergence"] == "layer3.1.bn1"
    assert doc["images"][bad]["name"] == "img15[2]"
    assert png.exists() and png.stat().st_size > 1000


def test_cli_directory_errors_exit_2(tmp_path, capsys):
    np.save(tmp_path / "a.npy", np.zeros((1, 3, 32, 32), np.float32))
    parser = argparse.ArgumentParser()
    cli_compare.add_arguments(parser)
    args = parser.parse_args(["--weights", "synthetic:resnet18:0", "--input", str(tmp_path),
                              "--activations", str(tmp_path)])
    assert cli_compare.run(args) == 2
    err = capsys.readouterr().err
    assert "no a.npz" in err and "Traceback" not in err


# ---------------------------------------------------------------- the picture

def test_plot_draws_errors_along_depth(tmp_path):
    pytest.importorskip("matplotlib")
    from PIL import Image

    report = bug("flip")
    path = tmp_path / "compare.png"
    assert report.plot(str(path)) == str(path)
    img = np.asarray(Image.open(path).convert("RGB")).astype(int)
    assert img.shape[0] > 200 and img.shape[1] > 400
    # not a blank canvas: many non-white pixels, and the red of the divergence mark
    assert (img.sum(axis=2) < 700).mean() > 0.01
    red = (img[..., 0] > 180) & (img[..., 1] < 80) & (img[..., 2] < 80)
    assert red.sum() > 50
    # a shape finding draws too
    bug("stride_v1").plot(str(tmp_path / "stride.png"))
    assert os.path.getsize(tmp_path / "stride.png") > 1000


def test_plot_without_matplotlib_says_how_to_install(monkeypatch):
    import builtins

    real = builtins.__import__

    def no_mpl(name, *a, **k):
        if name.startswith("matplotlib"):
            raise ImportError("No module named 'matplotlib'")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_mpl)
    with pytest.raises(MissingExtraError, match=r"pip install 'refresnet\[plot\]'"):
        bug("flip").plot("never.png")
