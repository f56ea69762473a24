"""Hub files as timm and transformers save them: snapshot directories, config.json
deciding the architecture, model.safetensors / pytorch_model.bin, the Hub cache
layout, and broken configs or shapes (LoadError naming the file and the field
or tensor). The files are the libraries' own (tests/fixtures/make_hub_fixtures.py)."""

import json
import os
import shutil

import numpy as np
import pytest

import refresnet
from refresnet.families import hub
from refresnet.io import hub as hub_files
from fixtures import hub_fixture as hf
from fixtures import tv_fixture as tv
from fixtures.paths import fixture_file
from tolerances import NET_RTOL, rel_err

TINY = ("timm_tiny", "hf_tiny")


def _dir(name):
    return os.path.dirname(fixture_file(os.path.join("hub", name), "config.json", hf.REGEN_COMMAND + " tiny"))


def _expected(name):
    with np.load(fixture_file("hub", "tiny_expected.npz", hf.REGEN_COMMAND + " tiny")) as z:
        return z[f"{name}/logits"]


@pytest.mark.parametrize("name", TINY)
@pytest.mark.parametrize("member", ["", "model.safetensors", "pytorch_model.bin"])
def test_saved_files_load_and_match_the_library(name, member):
    model = refresnet.load(os.path.join(_dir(name), member) if member else _dir(name))
    x = tv.image_batch(hf.TINY_INPUT_SHAPE, hf.TINY_INPUT_SEED)
    assert rel_err(model(x), _expected(name)) <= NET_RTOL
    assert model.arch.framework == ("timm" if name == "timm_tiny" else "transformers")


def test_timm_config_model_args_change_the_row():
    row = refresnet.load(_dir("timm_tiny")).arch
    assert row.widths == (8, 16, 32, 64) and row.deep_stem == (6, 8, 16) and row.variant == "t" and row.avg_down


def test_transformers_id2label_are_the_labels():
    cfg, _ = hub_files.read_config(os.path.join(_dir("hf_tiny"), "model.safetensors"))
    assert hub.config_labels(cfg) == ("cat", "dog", "fish", "owl", "yak")


def _snapshot(tmp_path, name, commit="0123abcd" * 5):
    # huggingface_hub's layout: blobs/<hash>, snapshots/<commit>/<file> -> ../../blobs/<hash>, refs/main.
    return hf.hub_snapshot(tmp_path / "hub", f"timm/{name}", _dir(name), commit)


@pytest.mark.parametrize("var", ["HF_HOME", "HF_HUB_CACHE"])
def test_hub_cache_layout_found_through_the_environment(tmp_path, monkeypatch, var):
    snap = _snapshot(tmp_path, "timm_tiny")
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv(var, str(tmp_path if var == "HF_HOME" else tmp_path / "hub"))
    found = hub_files.cached_snapshots("timm/timm_tiny")
    assert found == [str(snap)]
    x = tv.image_batch(hf.TINY_INPUT_SHAPE, hf.TINY_INPUT_SEED)
    assert rel_err(refresnet.load(found[0])(x), _expected("timm_tiny")) <= NET_RTOL


def _broken(tmp_path, name, edit):
    d = tmp_path / name
    shutil.copytree(_dir(name), d)
    cfg = json.loads((d / "config.json").read_text())
    text = edit(cfg)
    (d / "config.json").write_text(text if isinstance(text, str) else json.dumps(cfg))
    return d


@pytest.mark.parametrize("name, edit, words", [
    ("hf_tiny", lambda c: "{not json", ["config.json", "not valid JSON"]),
    ("hf_tiny", lambda c: "[1, 2]", ["config.json", "JSON object"]),
    ("hf_tiny", lambda c: c.update(depths=[1, 1, "x", 1]), ["config.json", "'depths'"]),
    ("hf_tiny", lambda c: c.update(layer_type="preact"), ["config.json", "layer_type"]),
    ("hf_tiny", lambda c: c.update(hidden_act="gelu"), ["config.json", "hidden_act"]),
    ("hf_tiny", lambda c: c.update(model_type="vit"), ["config.json", "neither a timm config"]),
    ("timm_tiny", lambda c: c.update(architecture="vit_base_patch16_224"), ["config.json", "vit_base_patch16_224"]),
    ("timm_tiny", lambda c: c["model_args"].update(output_stride=8), ["config.json", "model_args.output_stride"]),
    # the config says bottleneck blocks, the file holds basic ones: the tensor is named
    ("hf_tiny", lambda c: c.update(layer_type="bottleneck", hidden_sizes=[32, 64, 128, 256]),
     ["model.safetensors", "resnet.encoder.stages.0.layers.0"]),
    ("timm_tiny", lambda c: c["model_args"].update(channels=[8, 16, 32, 128]), ["model.safetensors", "layer4.0"]),
])
def test_broken_config_or_shapes_raise_load_error_naming_file(tmp_path, name, edit, words):
    d = _broken(tmp_path, name, edit)
    with pytest.raises(refresnet.LoadError) as info:
        refresnet.load(d)
    msg = str(info.value)
    assert all(w in msg for w in words), msg


def test_directory_without_weights_is_a_load_error(tmp_path):
    with pytest.raises(refresnet.LoadError, match="none of model.safetensors"):
        refresnet.load(tmp_path)
