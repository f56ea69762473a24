"""predict / inspect on Hub files: the preset read from the weights' own files is
named, a config.json's class names are printed, and without --weights the Hub
cache is searched like the torch and Keras caches. The files are the libraries'
own (tests/fixtures/make_hub_fixtures.py tiny)."""

import json
import os
import shutil

import pytest

from fixtures import hub_fixture as hf
from fixtures import make_preprocess_fixtures as mk
from fixtures.paths import fixture_file
from refresnet import cli, weights
from refresnet.families import labels
from refresnet.families.archs import get_arch

PHOTO = mk.SHIPPED_PHOTO
HF_NAMES = ["cat", "dog", "fish", "owl", "yak"]  # hf_tiny's id2label (hub_fixture.HF_TINY_CONFIG)


def _dir(name):
    return os.path.dirname(fixture_file(os.path.join("hub", name), "config.json", hf.REGEN_COMMAND + " tiny"))


def run_main(capsys, *argv):
    rc = cli.main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_predict_prints_id2label_names_and_the_processor_preset(capsys):
    rc, out, err = run_main(capsys, "predict", PHOTO, "--weights", _dir("hf_tiny"), "--json", "--top", "5")
    assert rc == 0, err
    obj = json.loads(out)
    assert obj["preprocess"] == "transformers-bicubic-224-crop0.875"
    assert sorted(p["index"] for p in obj["predictions"]) == list(range(5))
    assert all(p["label"] == HF_NAMES[p["index"]] for p in obj["predictions"])
    rc, out, err = run_main(capsys, "predict", PHOTO, "--weights", _dir("hf_tiny"), "--top", "2")
    assert rc == 0, err
    head = out.splitlines()[0]
    assert "preprocess: transformers-bicubic-224-crop0.875 [" in head
    assert os.path.join("hf_tiny", "preprocessor_config.json") in head


def test_predict_hf_backend_torchvision_uses_the_files_values_through_torchs_resize(capsys):
    rc, out, err = run_main(capsys, "predict", PHOTO, "--weights", _dir("hf_tiny"), "--top", "2",
                            "--hf-backend", "torchvision")
    assert rc == 0, err
    head = out.splitlines()[0]
    assert "preprocess: transformers-bicubic-224-crop0.875-torchvision [" in head
    assert "torchvision backend" in head and "torch's uint8 antialiased kernel bicubic" in head
    rc, out, err = run_main(capsys, "predict", PHOTO, "--weights", _dir("hf_tiny"), "--top", "2", "--hf-backend", "pil")
    assert rc == 0 and "preprocess: transformers-bicubic-224-crop0.875 [" in out and "PIL backend" in out


def test_predict_to_a_results_file_keeps_the_files_preset_and_names(tmp_path, capsys):
    out_file = tmp_path / "results.jsonl"
    rc, out, err = run_main(capsys, "predict", PHOTO, "--weights", _dir("hf_tiny"), "--out", str(out_file), "--top", "3")
    assert rc == 0, err
    rows = [json.loads(line) for line in out_file.read_text().splitlines()]
    done = [r for r in rows if r.get("status") == "ok"]
    assert len(done) == 1 and done[0]["preprocess"] == "transformers-bicubic-224-crop0.875"
    assert all(p["label"] == HF_NAMES[p["index"]] for p in done[0]["predictions"])


def _timm_copy(tmp_path, **top_level):
    d = tmp_path / "timm_tiny"
    shutil.copytree(_dir("timm_tiny"), d)
    cfg = json.loads((d / "config.json").read_text())
    cfg.update(top_level)
    (d / "config.json").write_text(json.dumps(cfg))
    return d


@pytest.mark.parametrize("descriptions", [False, True])
def test_timm_label_names_are_the_labels(tmp_path, descriptions):
    # timm save_config_for_hf writes label_names (WordNet ids for ImageNet) and label_descriptions at the top level.
    ids = [f"n{i:08d}" for i in range(10)]
    extra = {"label_descriptions": {n: f"thing {i}" for i, n in enumerate(ids)}} if descriptions else {}
    d = _timm_copy(tmp_path, label_names=ids, **extra)
    names = labels.class_names(get_arch("timm_resnet10t"), 10, str(d / "model.safetensors"))
    assert names == (tuple(f"thing {i}" for i in range(10)) if descriptions else tuple(ids))


def test_names_that_do_not_fit_the_head_are_not_used(tmp_path):
    d = _timm_copy(tmp_path, label_names=["a", "b", "c"])  # 3 names, 10 classes
    assert labels.class_names(get_arch("timm_resnet10t"), 10, str(d / "model.safetensors")) is None
    assert labels.label(4, 10, get_arch("timm_resnet10t"), str(d / "model.safetensors")) == "class_4"


def test_scheme_label_sources():
    assert labels.class_names(get_arch("cifar_resnet20"), 10) == labels.CIFAR10_LABELS
    assert labels.class_names(get_arch("resnet18"), 1000) == labels.imagenet_labels()
    assert labels.class_names(get_arch("resnet18"), 10) is None
    assert labels.class_names(get_arch("transformers_resnet-50"), 1000) == labels.imagenet_labels()  # no config.json


def test_inspect_shows_the_processor_preset(capsys):
    rc, out, err = run_main(capsys, "inspect", _dir("hf_tiny"), "--json")
    assert rc == 0, err
    rep = json.loads(out)
    assert rep["preprocess"]["name"] == "transformers-bicubic-224-crop0.875"
    assert "ConvNextImageProcessor" in rep["preprocess"]["description"]
    assert rep["family"] == "transformers"


# ---------------------------------------------------------------- the Hub cache, without --weights
@pytest.fixture
def caches(tmp_path, monkeypatch):
    """Empty torch and Keras caches and a Hub cache at $HF_HUB_CACHE (or $HF_HOME/hub)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.delenv("HF_HOME", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    return tmp_path


def test_predict_without_weights_finds_a_timm_snapshot_in_the_hub_cache(caches, capsys):
    # What timm.create_model("resnet10t.c3_in1k", pretrained=True) leaves in the cache (here the tiny model's files).
    snap = hf.hub_snapshot(caches / "hf", "timm/resnet10t.c3_in1k", _dir("timm_tiny"))
    rc, out, err = run_main(capsys, "predict", PHOTO, "--json", "--top", "3")
    assert rc == 0, err
    assert f"using weights found in the cache: {snap}" in err
    obj = json.loads(out)
    assert obj["weights"] == os.path.join(snap, "model.safetensors") and obj["arch"] == "timm_resnet10t(custom)"
    assert obj["preprocess"] == "timm-bicubic-176-crop0.875"  # the snapshot's own pretrained_cfg


def test_refs_main_names_the_snapshot_and_one_without_weights_is_passed_over(caches, monkeypatch, capsys):
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.setenv("HF_HOME", str(caches / "home"))
    cache = caches / "home" / "hub"
    repo = "microsoft/resnet-18"
    hf.hub_snapshot(cache, repo, _dir("hf_tiny"), commit="a" * 40, main=False)
    main = hf.hub_snapshot(cache, repo, _dir("hf_tiny"), commit="b" * 40)
    assert weights.find_cached_weights() == (main, "transformers_resnet-18")
    # A download stopped before the weights: its snapshot has only config.json.
    partial = hf.hub_snapshot(cache, "timm/resnet10t.c3_in1k", _dir("timm_tiny"), files=["config.json"])
    assert weights.find_cached_weights("timm_resnet10t") == (None, None)
    assert weights.find_cached_weights() == (main, "transformers_resnet-18")
    rc, out, err = run_main(capsys, "predict", PHOTO, "--json", "--top", "5")
    assert rc == 0, err
    assert all(p["label"] == HF_NAMES[p["index"]] for p in json.loads(out)["predictions"])
    assert os.path.isdir(partial)


def test_no_weights_anywhere_names_the_hub_repository_and_cache(caches, capsys):
    rc, _, err = run_main(capsys, "predict", PHOTO, "--arch", "timm_resnet50")
    assert rc == 2
    assert "timm/resnet50.a1_in1k into " + str(caches / "hf" / "models--timm--resnet50.a1_in1k") in err
    assert "timm.create_model('resnet50.a1_in1k', pretrained=True)" in err
    rc, _, err = run_main(capsys, "predict", PHOTO, "--arch", "transformers_resnet-50")
    assert rc == 2 and "microsoft/resnet-50 into " in err
    rc, _, err = run_main(capsys, "predict", PHOTO)
    assert rc == 2 and str(caches / "hf") in err


def test_the_legacy_cache_variable_is_read(caches, monkeypatch):
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.setenv("HUGGINGFACE_HUB_CACHE", str(caches / "legacy"))
    snap = hf.hub_snapshot(caches / "legacy", "microsoft/resnet-18", _dir("hf_tiny"))
    assert weights.find_cached_weights("transformers_resnet-18") == (snap, "transformers_resnet-18")
