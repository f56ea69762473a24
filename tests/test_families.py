"""The weight families (refresnet/families/): one record each, and what every one of
them must do alike. Parametrised over FAMILIES, as test_archs.py is over the rows."""

import hashlib

import numpy as np
import pytest

import refresnet
from refresnet.cli.inspect import inspect_report
from refresnet.families.family import KERAS_KEYS, TORCH_KEYS
from refresnet.families.registry import FAMILIES, WEIGHT_FILES, get_family, official_files, preset_for
from refresnet.preprocess import KINDS, PIPELINES, PRESETS

# The smallest row of each family (the inspect test builds and calibrates it).
SMALLEST = {
    "transformers": "transformers_resnet-18",
    "cifar": "cifar_resnet20",
    "timm": "timm_resnet10t",
    "torchvision": "resnet18",
    "keras": "keras_resnet50",
    "keras-old": "keras_resnet50_old",
    "keras-cifar": "keras_cifar_resnet20",
}


def test_every_family_has_a_row_here_and_every_row_one_family():
    assert set(SMALLEST) == set(FAMILIES)
    named = [row.name for f in FAMILIES.values() for row in f.rows]
    assert sorted(named) == sorted(refresnet.ARCHS)  # each row in exactly one family's ROWS
    for f in FAMILIES.values():
        assert all(row.naming == f.name for row in f.rows), f.name
        assert SMALLEST[f.name] in {row.name for row in f.rows}


def test_unknown_family_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown weight family 'caffe'; expected one of transformers, cifar"):
        get_family("caffe")


def _torch_layout_by_hand(name, value, keras_layout):
    # Written out here, independently of refresnet's KeyStyle: a Keras Conv2D kernel
    # is (kh, kw, in, out), torch's (out, in, kh, kw); a Keras Dense kernel is
    # (in, out), torch's Linear weight (out, in). Everything else is stored alike.
    a = np.asarray(value, dtype=np.float64)
    if keras_layout and name.endswith("/kernel"):
        a = a.transpose(3, 2, 0, 1) if a.ndim == 4 else a.T
    return np.ascontiguousarray(a)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_inspect_hashes_every_family_in_torch_layout(family):
    # inspect's hash of a tensor is SHA-256 over repr(shape) and the float64 bytes
    # of the tensor in torch layout, so one tensor hashes alike in every format
    # (it once hashed keras-cifar tensors in Keras layout).
    row = SMALLEST[family]
    spec = f"synthetic:{row}:3"
    rep = inspect_report(spec)
    assert rep["arch"] == row
    keras_layout = "/" in rep["tensors"][0]["name"]
    assert keras_layout == (FAMILIES[family].framework == "keras")
    weights, *_ = refresnet.weights.read_weight_dict(spec)
    assert [t["name"] for t in rep["tensors"]] == sorted(weights)
    whole = hashlib.sha256()
    transposed = 0
    for t in rep["tensors"]:
        c = _torch_layout_by_hand(t["name"], weights[t["name"]], keras_layout)
        h = hashlib.sha256(repr(c.shape).encode())
        h.update(c.tobytes())
        assert t["hash"] == h.hexdigest()[:16], t["name"]
        assert t["l2"] == pytest.approx(float(np.sqrt(np.sum(c * c))), rel=1e-12)
        whole.update(f"{t['name']}={t['hash']};".encode())
        transposed += c.shape != np.shape(weights[t["name"]])
    assert rep["fingerprint"] == whole.hexdigest()[:16]
    # Keras files really were transposed (a square 1x1 or 3x3 conv alone would not show it).
    assert (transposed > 0) == keras_layout


@pytest.mark.parametrize("keys", [TORCH_KEYS, KERAS_KEYS], ids=lambda k: k.name)
def test_key_style_shapes_go_both_ways(keys):
    for torch_shape in [(64, 3, 7, 5), (10, 64), (1, 1, 5), (7,)]:
        stored = keys.file_shape(torch_shape)
        assert keys.torch_shape(stored) == torch_shape
        a = np.arange(np.prod(stored), dtype=np.float64).reshape(stored)
        assert keys.to_torch(a).shape == torch_shape
    assert KERAS_KEYS.file_shape((64, 3, 7, 5)) == (7, 5, 3, 64)
    assert KERAS_KEYS.key("conv1_conv", "weight") == "conv1_conv/kernel"
    assert TORCH_KEYS.key("layer1.0.bn1", "var") == "layer1.0.bn1.running_var"


def test_official_files_are_records_with_their_preprocessing():
    names = {(f.arch, f.name) for f in WEIGHT_FILES}
    assert len(names) == len(WEIGHT_FILES)
    for f in WEIGHT_FILES:
        assert f.arch in refresnet.ARCHS and f.cache in ("torch", "keras", "hub")
        assert f.preset.kind in KINDS and f.downloaded_by
        # the preset of a file found by its name is the record's own
        if f.cache == "torch":
            assert preset_for(refresnet.ARCHS[f.arch], "/cache/" + f.name) == f.preset
    # torchvision's Weights: every IMAGENET1K_V2 file and resnext101_64x4d's V1 resize to 232.
    assert {f.name for f in WEIGHT_FILES if f.preset.name == "torchvision-232"} == {
        "resnet50-11ad3fa6.pth", "resnet101-cd907fc2.pth", "resnet152-f82ba261.pth", "resnext50_32x4d-1a0047aa.pth",
        "resnext101_32x8d-110c445d.pth", "resnext101_64x4d-173b62eb.pth", "wide_resnet50_2-9ba9bcbe.pth",
        "wide_resnet101_2-d733dc28.pth"}
    assert [f.hash_prefix for f in official_files("resnet50")] == ["11ad3fa6", "0676ba61", "19c8e357"]
    assert official_files("keras_resnet50")[0].hash_prefix is None
    assert [f.name for f in official_files("transformers_resnet-50")] == ["microsoft/resnet-50"]
    assert [f.name for f in official_files("timm_resnet50")] == ["timm/resnet50.a1_in1k"]
    assert official_files("timm_resnet50t") == ()  # its default tag is untrained


def test_every_preset_kind_has_a_pipeline_and_an_input_map():
    assert set(KINDS) == set(PIPELINES) == {p.kind for p in PRESETS.values()}


# ---------------------------------------------------------------- Preset.input_map
@pytest.mark.parametrize("name", sorted(PRESETS))
def test_input_map_is_what_the_float_stage_does_to_each_pixel(name):
    # Every uint8 value in every channel, through the preset's own float stage
    # (which test_preprocess.py checks against the frameworks' recorded outputs).
    from refresnet.preprocess import float_stage

    p = PRESETS[name]
    u8 = np.stack([np.arange(256, dtype=np.uint8), np.arange(256, dtype=np.uint8)[::-1],
                   (np.arange(256) * 7 % 256).astype(np.uint8)], axis=-1)[None]  # 1 x 256 x 3
    x = float_stage(u8, p)
    x = x if p.layout == "NHWC" else x.transpose(1, 2, 0)  # H x W x C
    m = p.input_map()
    for j in range(3):
        want = m.scale[j] * u8[..., m.order[j]].astype(np.float64) + m.offset[j]
        np.testing.assert_allclose(x[..., j], want, rtol=1e-13, atol=1e-13)


def test_input_map_hand_checked_values():
    # torchvision: pixel 0 of the red channel -> -0.485 / 0.229; 255 -> (1 - 0.485) / 0.229
    m = PRESETS["torchvision"].input_map()
    assert m.order == (0, 1, 2)
    assert m.scale[0] * 0 + m.offset[0] == pytest.approx(-2.1179039301310043, rel=1e-15)
    assert m.scale[0] * 255 + m.offset[0] == pytest.approx(2.2489082969432315, rel=1e-15)
    # keras caffe: channel 0 is blue, minus 103.939
    m = PRESETS["keras-caffe"].input_map()
    assert m.order == (2, 1, 0) and list(m.scale) == [1, 1, 1] and list(m.offset) == [-103.939, -116.779, -123.68]
    m = PRESETS["keras-tf"].input_map()
    assert m.scale[1] * 255 + m.offset[1] == pytest.approx(1.0, rel=1e-15)
    m = PRESETS["cifar-0-1"].input_map()
    assert list(m.offset) == [0, 0, 0] and m.scale[2] == pytest.approx(1 / 255, rel=1e-15)
