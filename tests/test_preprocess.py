"""refresnet.preprocess against the frameworks' own pipelines.

Expected values were recorded by tests/fixtures/make_preprocess_fixtures.py running
torchvision's ImageClassification / pil_loader and keras.utils.load_img +
preprocess_input (versions in tests/fixtures/preprocess/versions.json). The uint8
stage must match bit for bit; the float stage (computed by the frameworks in float32)
within FLOAT32_RTOL of our float64. Live tests rerun the frameworks when installed.
"""

import json
import os

import numpy as np
import pytest
from PIL import Image

from fixtures import make_preprocess_fixtures as mk
from refresnet import preprocess as P
from refresnet.families.archs import ARCHS, get_arch
from refresnet.families.registry import preset_for
from tolerances import FLOAT32_RTOL, assert_figure, rel_err

REGEN = "python tests/fixtures/make_preprocess_fixtures.py"


def _fixture(name):
    path = os.path.join(mk.OUT, name)
    if not os.path.exists(path):
        pytest.fail(f"missing fixture {path}; regenerate with: {REGEN}")
    return np.load(path)


TV = _fixture("torchvision.npz")
KE = _fixture("keras.npz")
PIPELINES = [(TV, p) for p in mk.TORCH_PIPELINES] + [(KE, p) for p in mk.KERAS_PIPELINES]
IMAGE_NAMES = list(mk.photos()) + ["grey_L", "palette_P", "rgba", "grey_alpha_LA", "grey16_I16", "wide_strip"]


@pytest.fixture(scope="module")
def image_paths(tmp_path_factory):
    paths = dict(mk.photos())
    paths.update(mk.make_mode_images(str(tmp_path_factory.mktemp("modes"))))
    return paths


def _check_against_fixture(rec, pipe, name, path):
    key = f"{name}/{pipe}"
    img, _ = P.open_rgb(path)
    u8 = P.uint8_stage(img, pipe)
    # uint8 stage: bit-exact (row/column sums say where a mismatch is).
    if mk.sha(u8) != str(rec[f"{key}/u8_sha"]):
        rows = np.nonzero(u8.astype(np.int64).sum(axis=1) != rec[f"{key}/u8_rowsum"])[0]
        cols = np.nonzero(u8.astype(np.int64).sum(axis=0) != rec[f"{key}/u8_colsum"])[0]
        pytest.fail(f"{key}: uint8 image differs from the framework's; rows {rows[:10]}, columns {cols[:10]}")
    # float stage: the framework's float32 array is LUT[u8] (the stage is per pixel);
    # its hash proves the reconstruction is exactly what the framework returned.
    lut = rec[f"lut/{pipe}"]
    src = mk.LUT_SOURCE[pipe]
    ref = np.stack([lut[c][u8[..., src[c]]] for c in range(3)], axis=-1)
    assert mk.sha(ref) == str(rec[f"{key}/f32_sha"]), f"{key}: LUT reconstruction is not the framework's float32 output"
    ours = P.float_stage(u8, pipe)
    ours_hwc = ours.transpose(1, 2, 0) if P.get_preset(pipe).layout == "NCHW" else ours
    assert ours.dtype == np.float64
    err = rel_err(ours_hwc, ref)
    assert err <= FLOAT32_RTOL, f"{key}: float stage rel err {err:.3g}"
    assert_figure("preprocess_float_stage", err, key)  # README "Numbers": within float32 rounding (1.4e-7)
    return err


@pytest.mark.parametrize("name", IMAGE_NAMES)
@pytest.mark.parametrize("rec,pipe", PIPELINES, ids=[p for _, p in PIPELINES])
def test_pipeline_matches_framework_recording(rec, pipe, name, image_paths):
    _check_against_fixture(rec, pipe, name, image_paths[name])


@pytest.mark.parametrize("rec,pipe", PIPELINES, ids=[p for _, p in PIPELINES])
def test_float_stage_matches_framework_for_every_uint8_value(rec, pipe):
    lut = rec[f"lut/{pipe}"]  # (3, 256) float32 from the framework
    values = np.broadcast_to(np.arange(256, dtype=np.uint8)[:, None], (256, 3))
    ours = P.float_stage(values[None], pipe)  # a 1 x 256 "image"
    ours = ours[:, 0, :] if P.get_preset(pipe).layout == "NCHW" else ours[0].T
    # output channel c reads input channel LUT_SOURCE[c]; every input channel holds
    # the same ramp here, so the table lines up value by value
    assert ours.shape == lut.shape
    assert rel_err(ours, lut) <= FLOAT32_RTOL
    # and each value within a few float32 rounding steps at the channel's scale (the
    # framework rounds u/255 and x - mean before dividing, so near-zero outputs carry
    # absolute, not relative, float32 error)
    scale = np.spacing(np.abs(lut).max(axis=1, keepdims=True).astype(np.float32)).astype(np.float64)
    assert np.all(np.abs(ours - lut) <= 4 * scale)


def test_float_stage_hand_computed_values():
    # torchvision: value 0 -> -mean/std; 255 -> (1 - mean)/std (red channel).
    u8 = np.zeros((1, 2, 3), np.uint8)
    u8[0, 1] = 255
    x = P.torchvision_float(u8)
    assert x[0, 0, 0] == -0.485 / 0.229 and x[0, 0, 1] == (1 - 0.485) / 0.229
    # caffe: BGR order, minus 103.939 (B), 116.779 (G), 123.68 (R), no scaling.
    u8 = np.array([[[10, 20, 30]]], np.uint8)
    assert P.keras_float(u8, "caffe").tolist() == [[[30 - 103.939, 20 - 116.779, 10 - 123.68]]]
    assert P.keras_float(np.array([[[0, 255, 51]]], np.uint8), "tf").tolist() == [[[-1.0, 1.0, 51 / 127.5 - 1.0]]]


@pytest.mark.parametrize(
    "hw,size,expected",
    [
        ((300, 451), 256, (256, 384)),  # int(256 * 451 / 300) = 384.85 -> 384 (truncated)
        ((241, 161), 256, (383, 256)),  # portrait: width is the shorter side
        ((256, 341), 256, (256, 341)),  # already the size: kept
        ((375, 500), 232, (232, 309)),  # 309.33
        ((224, 224), 256, (256, 256)),
    ],
)
def test_torchvision_resize_size_truncates_like_compute_resized_output_size(hw, size, expected):
    assert P.torchvision_resize_size(*hw, size) == expected


def test_center_crop_rounds_half_to_even_like_torchvision():
    # (225 - 224) / 2 = 0.5 -> round -> 0; (227 - 224) / 2 = 1.5 -> 2; (229-224)/2 = 2.5 -> 2
    assert P.center_crop_box(225, 227, 224) == (0, 2)
    assert P.center_crop_box(229, 224, 224) == (2, 0)


def test_preset_follows_weights_origin():
    assert preset_for(get_arch("resnet50"), "/x/resnet50-0676ba61.pth").name == "torchvision"
    assert preset_for(get_arch("resnet50"), "/x/resnet50-11ad3fa6.pth").name == "torchvision-232"
    assert preset_for(get_arch("resnext101_64x4d"), "resnext101_64x4d-173b62eb.pth").name == "torchvision-232"
    assert preset_for(get_arch("resnet50"), "my_finetune.pth").name == "torchvision"
    assert preset_for(get_arch("keras_resnet50")).name == "keras-caffe"
    assert preset_for(get_arch("keras_resnet50_old")).name == "keras-caffe"
    assert preset_for(get_arch("keras_resnet101v2")).name == "keras-tf"
    assert preset_for(get_arch("cifar_resnet20")).name == "cifar"
    with pytest.raises(ValueError, match="expected one of torchvision, torchvision-232, keras-caffe, keras-tf, cifar"):
        P.get_preset("caffe")


def test_sixteen_bit_png_is_clipped_not_scaled_like_pillow_convert(tmp_path):
    a = np.array([[0, 100, 255, 256, 6000, 65535]], dtype=np.uint16)
    p = tmp_path / "g16.png"
    Image.fromarray(a).save(p)
    img, mode = P.open_rgb(p)
    assert mode.startswith("I")
    assert np.asarray(img)[..., 0].tolist() == [[0, 100, 255, 255, 255, 255]]


def test_exif_orientation_is_not_applied_like_both_frameworks(tmp_path):
    a = np.zeros((20, 40, 3), np.uint8)
    a[:, :20] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    p = tmp_path / "rotated.jpg"
    Image.fromarray(a).save(p, exif=exif.tobytes())
    img, _ = P.open_rgb(p)
    assert img.size == (40, 20)  # stored orientation kept


def test_truncated_image_is_a_clear_error(tmp_path):
    data = open(mk.SHIPPED_PHOTO, "rb").read()
    p = tmp_path / "cut.jpg"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(P.ImageError, match=r"cut\.jpg: damaged or truncated image"):
        P.open_rgb(p)


def test_non_image_and_missing_are_clear_errors(tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("hello")
    with pytest.raises(P.ImageError, match=r"notes\.txt: not an image Pillow can read"):
        P.open_rgb(p)
    with pytest.raises(P.ImageError, match=r"nothere\.png: no such file"):
        P.open_rgb(tmp_path / "nothere.png")
    with pytest.raises(P.ImageError, match="is a directory"):
        P.open_rgb(tmp_path)


def test_decompression_bomb_is_refused(tmp_path, monkeypatch):
    p = tmp_path / "big.png"
    Image.new("RGB", (100, 100)).save(p)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 10000 > 2 x 1000: Pillow raises
    with pytest.raises(P.ImageError, match=r"big\.png: refused as a possible decompression bomb"):
        P.open_rgb(p)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 6000)  # between 1x and 2x: Pillow warns
    with pytest.warns(Image.DecompressionBombWarning, match="big.png"):
        img, _ = P.open_rgb(p)
    assert img.size == (100, 100)


# ----------------------------------------------------------------- live frameworks
def _random_image(seed, h, w):
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB")


@pytest.mark.torch
@pytest.mark.parametrize("hw", [(224, 224), (225, 300), (301, 233), (500, 999), (57, 80), (256, 256), (231, 1000)])
@pytest.mark.parametrize("size", [256, 232])
def test_live_torchvision_transform(hw, size, tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("torchvision")
    from torchvision.transforms import functional as F
    from torchvision.transforms._presets import ImageClassification

    img = _random_image(hw[0] * 7 + hw[1], *hw)
    pipe = "torchvision" if size == 256 else "torchvision-232"
    ref_u8 = np.asarray(F.center_crop(F.resize(img, [size], antialias=True), [224]))
    assert np.array_equal(P.uint8_stage(img, pipe), ref_u8)
    ref = ImageClassification(crop_size=224, resize_size=size)(img).numpy()
    assert rel_err(P.float_stage(P.uint8_stage(img, pipe), pipe), ref) <= FLOAT32_RTOL
    del torch


@pytest.mark.keras
@pytest.mark.parametrize("hw", [(224, 224), (225, 300), (301, 233), (57, 80)])
def test_live_keras_load_img_and_preprocess_input(hw, tmp_path):
    keras = pytest.importorskip("keras")
    from keras.applications import resnet, resnet_v2

    img = _random_image(hw[0] * 5 + hw[1], *hw)
    p = tmp_path / "x.png"
    img.save(p)
    arr = keras.utils.img_to_array(keras.utils.load_img(str(p), target_size=(224, 224)))
    u8 = P.uint8_stage(P.open_rgb(p)[0], "keras-caffe")
    assert np.array_equal(u8, arr.astype(np.uint8)) and np.array_equal(u8, arr)
    assert rel_err(P.float_stage(u8, "keras-caffe"), resnet.preprocess_input(arr.copy())) <= FLOAT32_RTOL
    assert rel_err(P.float_stage(u8, "keras-tf"), resnet_v2.preprocess_input(arr.copy())) <= FLOAT32_RTOL


# ---------------------------------------------------------------- timm
# timm 1.0.31's own eval transform (tests/fixtures/make_hub_fixtures.py preprocess).
@pytest.mark.parametrize("key", ["default", "tcfg", "rsb_a1", "inception"])
def test_timm_pretrained_cfg_uint8_bit_exact_and_float_within_float32(key):
    from fixtures import hub_fixture as hf

    rec = _hub_rec("timm_preprocess", "preprocess")
    preset = P.timm_preset(hf.TIMM_PREPROCESS[key])
    images = {n: os.path.join(os.path.dirname(__file__), "fixtures", "preprocess", "images", n)
              for n in hf.PREPROCESS_IMAGES}
    _check_against_record(rec, key, preset, images)


def test_timm_preset_uses_train_size_as_resolve_data_config_does():
    # resolve_data_config's default (use_test_size=False): input_size 224 and crop_pct 0.95
    # of the RSB a1 tag, not its test_input_size 288 / test_crop_pct 1.0.
    from fixtures import hub_fixture as hf

    p = P.timm_preset(hf.TIMM_PREPROCESS["rsb_a1"])
    assert (p.resize, p.crop, p.interpolation) == (235, 224, "bicubic")
    t = P.timm_preset(hf.TIMM_PREPROCESS["rsb_a1"], use_test_size=True)
    assert (t.resize, t.crop) == (288, 288)
    assert json.loads(str(_hub_rec("timm_preprocess", "preprocess")["rsb_a1/data_config"]))["crop_pct"] == 0.95


# ---------------------------------------------------------------- transformers
# transformers 5.24.0's own ConvNextImageProcessor pipeline, PIL backend
# (tests/fixtures/make_hub_fixtures.py hf_preprocess), on the photos and mode images.
def _hub_rec(file, target):
    """A preprocessing record tests/fixtures/make_hub_fixtures.py ``target`` wrote
    from the library itself (tests/fixtures/hub/``file``.npz)."""
    from fixtures import hub_fixture as hf
    from fixtures.paths import fixture_file

    with np.load(fixture_file("hub", f"{file}.npz", f"{hf.REGEN_COMMAND} {target}")) as z:
        return {k: z[k] for k in z.files}


def _hf_rec(target="hf_preprocess"):
    # hf_preprocess: transformers' PIL backend; hf_preprocess_tv: its torchvision backend.
    return _hub_rec(target, target)


def _check_against_record(rec, key, preset, image_paths):
    """Every image's uint8 stage bit for bit (SHA-256, shape, row and column sums)
    and the recorded float values (at positions per image, or one set per key)
    within float32 rounding."""
    import hashlib

    for name, path in image_paths.items():
        r = f"{key}/{name}/"
        pos = rec[r + "float32_pos"] if r + "float32_pos" in rec else rec[f"{key}/float32_pos"]
        u8 = P.uint8_stage(P.open_rgb(path)[0], preset)
        assert u8.shape == tuple(rec[r + "uint8_shape"]), (key, name)
        assert np.array_equal(u8.astype(np.int64).sum(axis=(1, 2)), rec[r + "row_sums"]), f"{key} {name}: rows differ"
        assert np.array_equal(u8.astype(np.int64).sum(axis=(0, 2)), rec[r + "col_sums"]), f"{key} {name}: columns differ"
        assert hashlib.sha256(u8.tobytes()).hexdigest() == str(rec[r + "uint8_sha256"])
        x = P.float_stage(u8, preset).ravel()[pos]
        ref = rec[r + "float32_values"]
        assert np.max(np.abs(x - ref)) <= FLOAT32_RTOL * np.max(np.abs(ref)), (key, name)


def _hf_cfgs():
    from fixtures import hub_fixture as hf

    cfgs = dict(hf.HF_PREPROCESS)
    with open(os.path.join(hf.HUB_DIR, "hf_tiny", "preprocessor_config.json"), encoding="utf-8") as f:
        cfgs["hf_tiny"] = json.load(f)
    return cfgs


def _beside_weights(tmp_path, cfg):
    """A weights path whose directory holds ``cfg`` as preprocessor_config.json
    (preset_for reads the directory, not the weights)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "preprocessor_config.json").write_text(cfg if isinstance(cfg, str) else json.dumps(cfg))
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"")
    return str(weights)


@pytest.mark.parametrize("key", ["resnet50", "saved", "pad", "warp384", "rescale", "hf_tiny"])
def test_transformers_processor_uint8_bit_exact_and_float_within_float32(key, image_paths, tmp_path):
    rec = _hf_rec()
    preset = preset_for(get_arch("transformers_resnet-50"), _beside_weights(tmp_path, _hf_cfgs()[key]))
    assert preset.kind == "transformers" and preset.source.endswith("preprocessor_config.json")
    _check_against_record(rec, key, preset, image_paths)


# The torchvision backend (ConvNextImageProcessor, AutoImageProcessor's default when
# torchvision is installed): tests/fixtures/make_hub_fixtures.py hf_preprocess_tv.
@pytest.mark.parametrize("key", ["resnet50", "saved", "pad", "warp384", "rescale", "hf_tiny",
                                 "bilinear_up", "bicubic288", "bilinear_warp384"])
def test_transformers_torchvision_backend_uint8_bit_exact_and_float_within_float32(key, image_paths, tmp_path):
    from fixtures import hub_fixture as hf

    rec = _hf_rec("hf_preprocess_tv")
    cfgs = {**_hf_cfgs(), **hf.HF_PREPROCESS_TV}
    preset = P.with_backend(preset_for(get_arch("transformers_resnet-50"), _beside_weights(tmp_path, cfgs[key])),
                            "torchvision")
    assert preset.backend == "torchvision" and preset.name.endswith("-torchvision")
    assert preset == P.transformers_preset(cfgs[key], source=preset.source, backend="torchvision")
    _check_against_record(rec, key, preset, image_paths)


def test_transformers_backends_differ_where_the_fixtures_say(image_paths):
    # The PIL and torchvision backends disagree on some photo (hf_preprocess.npz measured
    # it from transformers itself); refresnet's two presets must disagree there too.
    rec = _hf_rec()
    name = max((n for n in image_paths), key=lambda n: int(rec[f"resnet50/{n}/torchvision_backend_max_diff"]))
    assert int(rec[f"resnet50/{name}/torchvision_backend_max_diff"]) > 0
    img = P.open_rgb(image_paths[name])[0]
    pil, tv = P.uint8_stage(img, "transformers"), P.uint8_stage(img, "transformers-torchvision")
    d = np.abs(pil.astype(np.int64) - tv)
    assert d.max() == int(rec[f"resnet50/{name}/torchvision_backend_max_diff"])


def test_torch_int16_weights_by_hand():
    # 4 -> 2 bilinear: scale 2, support 2, centres 1 and 3; output 0 takes inputs 0..2 with
    # triangle((j - 1 + 0.5) / 2) = 0.75, 0.75, 0.25 -> / 1.75 = 3/7, 3/7, 1/7 (output 1: inputs
    # 1..3, 1/7, 3/7, 3/7); w_max = 3/7, and round(3/7 * 2**16) = 28087 < 2**15 while
    # round(3/7 * 2**17) >= 2**15, so 16 bits: 28087 and round(1/7 * 2**16) = 9362.
    first, k, prec = P.torch_aa_int16_weights(4, 2, "bilinear")
    assert prec == 16 and list(first) == [0, 1]
    assert k[0].tolist()[:3] == [28087, 28087, 9362] and k[1].tolist()[:3] == [9362, 28087, 28087]
    a = np.array([[[0], [100], [200], [255]]], dtype=np.uint8)
    # (2**15 + 100 * 28087 + 200 * 9362) >> 16 = 4713868 >> 16 = 71;
    # (2**15 + 100 * 9362 + 200 * 28087 + 255 * 28087) >> 16 = 13748553 >> 16 = 209
    # (torch 2.14.1 gives 71, 209; exactly 500/7 = 71.4 and 1465/7 = 209.3).
    assert P.torch_uint8_resize(a, 1, 2, "bilinear")[0, :, 0].tolist() == [71, 209]


def test_transformers_tv_center_crop_pads_floor_first():
    a = np.arange(3 * 5, dtype=np.uint8).reshape(3, 5, 1) + 1
    out = P.transformers_tv_center_crop(a, 6)
    # height 3 -> 6: 1 row before, 2 after (the PIL backend puts 2 before); width 5 -> 6: 0 before, 1 after.
    assert out[0].max() == 0 and out[1, :5, 0].tolist() == [1, 2, 3, 4, 5] and out[4:].max() == 0
    assert out[:, 5].max() == 0


def test_transformers_crop_offset_floors_where_torchvision_rounds(image_paths):
    # rocket 161x241: shorter side to 256, longer int(256 * 241 / 161) = 383; (383 - 224) / 2 = 79.5:
    # transformers' center_crop takes 79, torchvision's F.center_crop round(79.5) = 80.
    img = P.open_rgb(image_paths["rocket_161x241"])[0]
    resized = np.asarray(img.resize((256, 383), Image.BICUBIC))
    ours = P.uint8_stage(img, "transformers")
    assert np.array_equal(ours, resized[79:303, 16:240])
    assert not np.array_equal(ours, resized[80:304, 16:240])


def test_transformers_preset_without_processor_file_is_microsoft_resnets(tmp_path):
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"")
    p = preset_for(get_arch("transformers_resnet-50"), str(weights))
    assert (p.name, p.resize, p.crop, p.interpolation, p.mean, p.std) == (
        "transformers", 256, 224, "bicubic", P.IMAGENET_MEAN, P.IMAGENET_STD)
    assert "microsoft/resnet" in p.describe()


@pytest.mark.parametrize("text, words", [
    ("{not json", ["not valid JSON"]),
    ("[" * 100000, ["nested too deeply"]),
    ("[1, 2]", ["JSON object"]),
    (json.dumps({"image_processor_type": "ViTImageProcessor"}), ["'image_processor_type'", "ViTImageProcessor"]),
    (json.dumps({"size": {"height": 224, "width": 224}}), ["'size'"]),
    (json.dumps({"size": 10 ** 9}), ["'size'", "8192"]),
    (json.dumps({"size": 224, "crop_pct": 0.001}), ["'size / crop_pct'"]),
    ('{"size": 224, "crop_pct": NaN}', ["'crop_pct'", "finite"]),
    (json.dumps({"size": 224, "crop_pct": "0.875"}), ["'crop_pct'"]),
    (json.dumps({"resample": 7}), ["'resample'", "3 (bicubic)"]),
    (json.dumps({"image_std": [0.2, 0.0, 0.2]}), ["'image_std'", "nonzero"]),
    (json.dumps({"image_mean": [0.5, 0.5]}), ["'image_mean'"]),
    (json.dumps({"do_resize": False}), ["'do_resize' false"]),
    (json.dumps({"do_center_crop": True, "crop_size": {"height": 200, "width": 200}}), ["'do_center_crop' true"]),
    (json.dumps({"do_normalize": "yes"}), ["'do_normalize'"]),
])
def test_broken_preprocessor_config_is_a_load_error_naming_the_file(tmp_path, text, words):
    from refresnet import LoadError

    with pytest.raises(LoadError) as info:
        preset_for(get_arch("transformers_resnet-50"), _beside_weights(tmp_path, text))
    msg = str(info.value)
    assert "preprocessor_config.json" in msg and all(w in msg for w in words), msg


# ---------------------------------------------------------------- timm default tags
def _timm_cfgs():
    from fixtures import hub_fixture as hf
    from fixtures.paths import fixture_file

    with open(fixture_file("hub", "timm_default_cfgs.json", hf.REGEN_COMMAND + " timm_cfgs"), encoding="utf-8") as f:
        return json.load(f)


def _as_timm_eval(data_config):
    """(resize, crop, interpolation, mean, std) of timm's eval transform for a data config
    (transforms_factory.transforms_imagenet_eval: Resize(floor(size / crop_pct)), CenterCrop(size))."""
    import math

    size = data_config["input_size"][-1]
    return (math.floor(size / data_config["crop_pct"]), size, data_config["interpolation"],
            tuple(data_config["mean"]), tuple(data_config["std"]))


def test_timm_default_tag_table_is_timms_default_cfgs():
    from refresnet.families import timm as timm_cfgs

    rec = _timm_cfgs()
    assert rec["timm_version"] == timm_cfgs.TIMM_VERSION
    rows = {a.name[len("timm_"):] for a in ARCHS.values() if a.naming == "timm"}
    assert set(timm_cfgs.DEFAULT_TAGS) == set(rec["rows"]) == rows
    for model, r in rec["rows"].items():
        tag = timm_cfgs.DEFAULT_TAGS[model][0]
        assert tag == r["tag"], model
        hub = r["pretrained_cfg"]["hf_hub_id"]
        assert timm_cfgs.hub_repo(model) == (None if hub is None else hub + (f"{model}.{tag}" if hub == "timm/" else "")), model
        for test_size, key in ((False, "data_config"), (True, "data_config_test_size")):
            p = timm_cfgs.default_preset(model, use_test_size=test_size)
            assert (p.resize, p.crop, p.interpolation, p.mean, p.std) == _as_timm_eval(r[key]), (model, key)
        cfg, _ = timm_cfgs.default_pretrained_cfg(model)
        for k, v in cfg.items():
            assert (list(v) if isinstance(v, tuple) else v) == r["pretrained_cfg"][k], (model, k)


def test_timm_weights_without_config_take_the_default_tag(tmp_path):
    weights = tmp_path / "resnet50_state_dict.safetensors"
    weights.write_bytes(b"")
    p = preset_for(get_arch("timm_resnet50"), str(weights))
    # resnet50.a1_in1k at resolve_data_config's train size: 224, crop_pct 0.95 -> resize 235, bicubic.
    assert (p.name, p.resize, p.crop, p.interpolation) == ("timm-resnet50.a1_in1k", 235, 224, "bicubic")
    assert "resnet50.a1_in1k" in p.describe() and "no config.json" in p.describe()


@pytest.mark.parametrize("key", ["no_preprocessing_fields", "no_interpolation", "test_crop_only"])
def test_timm_preset_takes_resolve_data_config_defaults(key):
    from fixtures import hub_fixture as hf

    rec = _timm_cfgs()["partial"][key]
    for test_size, k in ((False, "data_config"), (True, "data_config_test_size")):
        p = P.timm_preset(hf.TIMM_PARTIAL_CFGS[key], use_test_size=test_size)
        assert (p.resize, p.crop, p.interpolation, p.mean, p.std) == _as_timm_eval(rec[k]), (key, k)


@pytest.mark.parametrize("cfg, words", [
    (dict(input_size=(3, 224, 224), crop_pct="0.9"), ["'crop_pct'"]),
    (dict(input_size=(3, 224, 10 ** 6)), ["'input_size'"]),
    (dict(input_size=224), ["input_size"]),
    (dict(interpolation="area"), ["interpolation 'area'"]),
    (dict(mean=[0.5, 0.5]), ["'mean'"]),
    (dict(std=[0.5, 0.0, 0.5]), ["'std'"]),
    (dict(crop_mode="squash"), ["crop_mode"]),
])
def test_broken_timm_pretrained_cfg_is_a_load_error_naming_the_file(tmp_path, cfg, words):
    from refresnet import LoadError

    (tmp_path / "config.json").write_text(json.dumps({"architecture": "resnet50", "pretrained_cfg": cfg}))
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(LoadError) as info:
        preset_for(get_arch("timm_resnet50"), str(tmp_path / "model.safetensors"))
    msg = str(info.value)
    assert "config.json" in msg and all(w in msg for w in words), msg
