"""python -m refresnet: predictions against torchvision, output schema, exit codes, bad inputs.

Expected probabilities: torchvision resnet18/resnet50 in float64 (model.double()) on
refresnet's seeded synthetic weights, fed torchvision's own pipeline run in float64,
recorded by tests/fixtures/make_preprocess_fixtures.py.
"""

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from fixtures import make_preprocess_fixtures as mk
from refresnet import cli, weights
from refresnet.families.labels import imagenet_labels
from tolerances import PROB_ATOL as PREDICT_ATOL

TV = np.load(os.path.join(mk.OUT, "torchvision.npz"))
REPO = mk.REPO
PHOTO = mk.SHIPPED_PHOTO


def run_main(capsys, *argv):
    rc = cli.main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def subprocess_cli(*argv, env=None):
    e = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "refresnet", *argv], capture_output=True, text=True, env=e, cwd=REPO, timeout=600)


def test_labels_are_torchvisions_imagenet_categories():
    names = imagenet_labels()
    assert len(names) == 1000 and names[0] == "tench" and names[999] == "toilet tissue"
    assert hashlib.sha256("".join(n + "\n" for n in names).encode()).hexdigest() == str(TV["labels_sha"])


@pytest.mark.slow
@pytest.mark.parametrize("arch", mk.PREDICT_ARCHS)
def test_predict_json_matches_torchvision_float64(arch, capsys):
    photos = mk.photos()
    rc, out, err = run_main(capsys, "predict", *photos.values(), "--weights", f"synthetic:{arch}", "--json", "--top", "10", "--batch-size", "2")
    assert rc == 0, err
    assert "SYNTHETIC" in err
    lines = out.strip().splitlines()
    assert len(lines) == len(photos)
    worst = 0.0
    for (name, path), line in zip(photos.items(), lines):
        obj = json.loads(line)
        assert set(obj) == {"image", "weights", "arch", "preprocess", "predictions"}
        assert obj["image"] == path and obj["weights"] == f"synthetic:{arch}:0"
        assert obj["arch"] == arch and obj["preprocess"] == "torchvision"
        ref = TV[f"predict/{arch}/{name}/probs"]
        preds = obj["predictions"]
        assert len(preds) == 10
        assert [p["index"] for p in preds] == list(np.argsort(-ref, kind="stable")[:10])
        for p in preds:
            assert set(p) == {"index", "label", "probability"}
            assert p["label"] == imagenet_labels()[p["index"]]
            worst = max(worst, abs(p["probability"] - ref[p["index"]]))
        probs = [p["probability"] for p in preds]
        assert probs == sorted(probs, reverse=True)
    assert worst <= PREDICT_ATOL, worst


def test_predict_table_says_synthetic_loudly_and_lists_ranks(capsys):
    rc, out, err = run_main(capsys, "predict", PHOTO, "--weights", "synthetic:resnet18:0", "--top", "3")
    assert rc == 0
    assert out.startswith("*** SYNTHETIC WEIGHTS") and "WARNING: SYNTHETIC WEIGHTS" in err
    ref = TV["predict/resnet18/chelsea/probs"]
    top = np.argsort(-ref)[:3]
    rows = [l.split() for l in out.splitlines() if l.strip()[:1].isdigit()]
    assert [int(r[1]) for r in rows] == list(top)
    assert [r[0] for r in rows] == ["1", "2", "3"]
    assert abs(float(rows[0][2]) - ref[top[0]]) <= 5e-7


@pytest.mark.slow
def test_keras_synthetic_uses_keras_preprocessing_and_model_softmax(capsys):
    rc, out, _ = run_main(capsys, "predict", PHOTO, "--weights", "synthetic:keras_resnet50", "--json", "--top", "1000")
    assert rc == 0
    obj = json.loads(out)
    assert obj["preprocess"] == "keras-caffe"
    total = sum(p["probability"] for p in obj["predictions"])
    assert abs(total - 1.0) < 1e-12  # the model's own softmax over all 1000 classes


def test_predict_without_out_gives_the_results_files_bits_and_every_image_named(tmp_path, capsys):
    """One path: the terminal output and the results file come from the same run of
    refresnet.datasets (same batches, same softmax), so their probabilities are equal
    to the bit; an image named twice is reported twice on the terminal, once in a file."""
    argv = ["predict", PHOTO, PHOTO, "--weights", "synthetic:cifar_resnet20", "--top", "10", "--batch-size", "2"]
    rc, out, err = run_main(capsys, *argv, "--json")
    assert rc == 0, err
    shown = [json.loads(line)["predictions"] for line in out.splitlines()]
    assert len(shown) == 2 and shown[0] == shown[1]
    results = tmp_path / "r.jsonl"
    rc, out, err = run_main(capsys, *argv, "--out", str(results))
    assert rc == 0, err
    assert out.splitlines()[-1].endswith("1 written, 0 failed, 1 already there")
    lines = results.read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["predictions"] == shown[0]


def test_preprocess_override(capsys):
    rc, out, _ = run_main(capsys, "predict", PHOTO, "--weights", "synthetic:resnet18", "--json", "--preprocess", "torchvision-232")
    assert rc == 0 and json.loads(out)["preprocess"] == "torchvision-232"


def test_one_bad_image_among_many_is_reported_and_the_rest_run(tmp_path, capsys):
    bad = tmp_path / "cut.jpg"
    bad.write_bytes(open(PHOTO, "rb").read()[:3000])
    txt = tmp_path / "notes.png"
    txt.write_text("not a png")
    d = tmp_path / "dir"
    d.mkdir()
    (d / "a.jpg").write_bytes(open(PHOTO, "rb").read())
    (d / "readme.txt").write_text("skipped: not an image extension")
    rc, out, err = run_main(capsys, "predict", str(bad), PHOTO, str(tmp_path / "missing.jpg"), str(txt), str(d), "--weights", "synthetic:resnet18", "--json")
    assert rc == 2
    images = [json.loads(l)["image"] for l in out.strip().splitlines()]
    assert images == [PHOTO, str(d / "a.jpg")]
    assert f"{bad}: damaged or truncated image" in err
    assert f"{tmp_path / 'missing.jpg'}: no such file" in err
    assert f"{txt}: not an image Pillow can read" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["predict", PHOTO, "--weights", "synthetic:resnet51"], "synthetic:resnet51: unknown architecture 'resnet51'; expected one of resnet18"),
        (["predict", PHOTO, "--weights", "synthetic:resnet18:x"], "the seed must be a non-negative integer"),
        (["predict", PHOTO, "--weights", "/nonexistent/w.pth"], "/nonexistent/w.pth: no such file"),
        (["predict", PHOTO, "--weights", PHOTO], "chelsea.jpg: not a recognised weight file"),
        (["predict", PHOTO, "--weights", "synthetic:resnet18", "--arch", "resnet51"], "unknown architecture 'resnet51'"),
        (["inspect", "/nonexistent/w.h5"], "/nonexistent/w.h5: no such file"),
    ],
)
def test_bad_inputs_give_one_line_and_status_2(argv, needle, capsys):
    rc, out, err = run_main(capsys, *argv)
    assert rc == 2
    lines = [l for l in err.splitlines() if not l.startswith("refresnet: WARNING")]
    assert len(lines) == 1 and needle in lines[0], err
    assert "Traceback" not in err


def test_no_weights_and_empty_caches_says_which_file_and_where(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))  # an empty Hub cache too
    rc, _, err = run_main(capsys, "predict", PHOTO)
    assert rc == 2
    assert "resnet50-11ad3fa6.pth into " + str(tmp_path / "torch" / "hub" / "checkpoints") in err
    rc, _, err = run_main(capsys, "predict", PHOTO, "--arch", "keras_resnet50v2")
    assert "resnet50v2_weights_tf_dim_ordering_tf_kernels.h5 into " + str(tmp_path / "keras" / "models") in err


def test_weights_found_in_torch_cache_are_named(tmp_path, monkeypatch, capsys):
    from refresnet.build.synthetic import synthetic_weights
    from test_load import write_safetensors  # the format written by hand: no safetensors package

    ckpt = tmp_path / "torch" / "hub" / "checkpoints"
    ckpt.mkdir(parents=True)
    # An official V1 name (format is sniffed from bytes, so safetensors bytes are fine).
    path = ckpt / "resnet18-f37072fd.pth"
    write_safetensors(path, synthetic_weights("resnet18"), dtype=None)  # each tensor in its own dtype
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    rc, out, err = run_main(capsys, "predict", PHOTO, "--json", "--top", "3")
    if rc != 0 and "reader this file needs is missing" in err:
        pytest.fail("safetensors reader missing: " + err)
    assert rc == 0, err
    assert f"using weights found in the cache: {path}" in err
    obj = json.loads(out)
    assert obj["weights"] == str(path) and obj["arch"] == "resnet18"
    ref = TV["predict/resnet18/chelsea/probs"]
    assert max(abs(p["probability"] - ref[p["index"]]) for p in obj["predictions"]) <= PREDICT_ATOL


def test_hostile_pickle_is_refused_without_running_code(tmp_path, capsys):
    marker = tmp_path / "pwned"
    # A legacy-format .pth whose first pickle calls os.system (GLOBAL + REDUCE).
    payload = b"\x80\x02cos\nsystem\nq\x00X" + len(f"touch {marker}").to_bytes(4, "little") + f"touch {marker}".encode() + b"q\x01\x85q\x02Rq\x03."
    path = tmp_path / "evil.pth"
    path.write_bytes(payload)
    rc, out, err = run_main(capsys, "predict", PHOTO, "--weights", str(path))
    assert rc == 2
    assert not marker.exists()
    assert str(path) in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_inspect_json_schema_and_published_parameter_count(capsys):
    rc, out, _ = run_main(capsys, "inspect", "synthetic:resnet18", "--json")
    assert rc == 0
    rep = json.loads(out)
    for key in ("format", "arch", "variant", "bn_eps", "stride_at", "conv_bias", "pool_pad_value", "include_top",
                "pooling", "num_classes", "parameter_count", "preprocess", "fingerprint", "tensors"):
        assert key in rep
    assert rep["arch"] == "resnet18" and rep["bn_eps"] == 1e-5 and rep["pool_pad_value"] == "-inf"
    assert rep["parameter_count"] == 11_689_512  # torchvision resnet18 meta "num_params"
    assert rep["num_classes"] == 1000 and rep["preprocess"]["name"] == "torchvision"
    assert len(rep["tensors"]) == 102
    t = {x["name"]: x for x in rep["tensors"]}["conv1.weight"]
    assert t["shape"] == [64, 3, 7, 7] and len(t["hash"]) == 16 and t["l2"] > 0


def test_inspect_fingerprint_ignores_storage_dtype_and_layout(tmp_path, capsys):
    w32 = np.random.default_rng(0).normal(size=(8, 3, 7, 7)).astype(np.float32)
    a = weights.canonical("conv1.weight", w32, "torchvision")
    b = weights.canonical("conv1_conv/kernel", w32.astype(np.float64).transpose(2, 3, 1, 0), "keras")
    assert weights.fingerprint(a) == weights.fingerprint(b)
    assert weights.fingerprint(a) != weights.fingerprint(a * (1 + 2**-40))


def test_inspect_keras_synthetic_table(capsys):
    rc, out, _ = run_main(capsys, "inspect", "synthetic:keras_resnet50v2")
    assert rc == 0
    assert "keras-tf" in out and "1.001e-05" in out and "ZeroPadding2D" in out


def test_compare_subcommand_is_registered_and_reports_a_missing_input(tmp_path, capsys):
    rc = cli.main(["compare", "--weights", "synthetic:resnet18", "--input", str(tmp_path / "none.npy"),
                   "--activations", str(tmp_path / "none.npz")])
    assert rc == 2 and "none.npy" in capsys.readouterr().err


@pytest.mark.slow
def test_subprocess_readme_command_and_exit_status():
    r = subprocess_cli("predict", PHOTO, "--weights", "synthetic:resnet50", "--top", "1")
    assert r.returncode == 0, r.stderr
    assert "SYNTHETIC" in r.stdout and "SYNTHETIC" in r.stderr
    top = int(np.argmax(TV["predict/resnet50/chelsea/probs"]))
    assert f" {top} " in r.stdout
    r = subprocess_cli("predict", "/nonexistent.jpg", "--weights", "synthetic:resnet18")
    assert r.returncode == 2 and "Traceback" not in r.stderr and "/nonexistent.jpg: no such file" in r.stderr
    r = subprocess_cli("predict", PHOTO, "--weights", "/nonexistent/w.pth", "--debug")
    assert r.returncode == 2 and "Traceback" in r.stderr
