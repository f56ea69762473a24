"""agree over the generated folder, against outputs recorded from real torch runs of the
same synthetic ResNet-18 weights (tests/fixtures/make_agree_fixtures.py): float32 (no
flips), bfloat16 (flips at small margins: rounding) and a planted bug (every BN eps 1e-2
instead of 1e-5: many flips at large margins). Expected counts are computed here from
the recorded torch logits and the oracle's stored logits with plain numpy.
"""

import json
import os
import sys

import numpy as np
import pytest

from fixtures import make_agree_fixtures as mk
from fixtures.paths import fixture_file
from refresnet.diagnose import agree as ag
from refresnet import cli, datasets as dataset
from refresnet.cli import predict as cli_predict
from refresnet.errors import MissingExtraError, ResultsError
from refresnet.build.synthetic import synthetic_weights
from tolerances import assert_figure


def _recorded(name):
    z = np.load(fixture_file("agree", name + ".npz", mk.REGENERATE))
    arrays = {k: z[k] for k in z.files}
    if "bfloat16" in name:
        arrays = {k: mk.bfloat16_bits_to_float32(v) for k, v in arrays.items()}
    return arrays


@pytest.fixture(scope="module")
def meta():
    with open(fixture_file("agree", "meta.json", mk.REGENERATE)) as f:
        m = json.load(f)
    if mk.weights_sha(synthetic_weights(m["arch"], seed=m["seed"])) != m["weights_sha256"]:
        pytest.fail(f"refresnet.build.synthetic's {m['arch']} weights changed since the torch runs were recorded; "
                    f"regenerate them with: {mk.REGENERATE}", pytrace=False)
    return m


@pytest.fixture(scope="module")
def oracle(meta, tmp_path_factory):
    """The oracle's run over the folder, logits stored: (results path, {relative path: logits})."""
    d = tmp_path_factory.mktemp("folder")
    shas = mk.make_images(str(d))
    if shas != meta["images"]:
        bad = next(k for k in meta["images"] if shas.get(k) != meta["images"][k])
        pytest.fail(f"generated image {bad} differs from the one torch saw; regenerate with: {mk.REGENERATE}", pytrace=False)
    images, _ = cli_predict.collect_images([str(d)])
    out = str(tmp_path_factory.mktemp("oracle") / "results.jsonl")
    dataset.predict_dataset(images, out, weights=f"synthetic:{meta['arch']}:{meta['seed']}", preprocess=meta["preset"], store="logits")
    records, store = dataset.read_results(out), np.load(dataset.store_path(out, "logits"))
    logits = {os.path.relpath(r["image"], str(d)).replace(os.sep, "/"): store[r["row"]] for r in records}
    assert set(logits) == set(meta["images"])
    return out, logits


def _flips(oracle_logits, theirs):
    return {k for k in theirs if np.argmax(theirs[k]) != np.argmax(oracle_logits[k])}


def _errors(oracle_logits, theirs):
    return {k: np.abs(theirs[k].astype(np.float64) - z).max() / np.abs(z).max() for k, z in oracle_logits.items()}


def test_torch_float32_top1_agreement_and_rounding_sized_errors(oracle):
    out, logits = oracle
    theirs = _recorded("torch_float32")
    rep = ag.agree(out, fixture_file("agree", "torch_float32.npz", mk.REGENERATE))
    assert rep.data["images"] == len(theirs) and rep.data["missing"] == 0 and rep.data["unmatched"] == 0
    assert rep.data["space"] == "logits"
    assert rep.data["top1"] == dict(agree=len(theirs) - len(_flips(logits, theirs)), of=len(theirs), why=None)
    errs = _errors(logits, theirs)
    assert rep.data["error"]["max"] == pytest.approx(max(errs.values()), rel=1e-12)
    assert rep.data["error"]["median"] == pytest.approx(np.median(list(errs.values())), rel=1e-12)
    # torch float32 against float64 on a correct model: within the float32 rounding
    # ceiling measured on the deeper networks of benchmarks/PRECISION.md.
    assert rep.data["error"]["max"] <= ag.ROUNDING_CEILING["float32"]
    assert rep.bugs == [] and all(f["verdict"] == "rounding" for f in rep.flips)
    # README "agree": over 240 images float32 agrees on every top-1, errors up to 1.6e-6
    assert_figure("agree_images", len(theirs))
    assert_figure("agree_float32_flips", len(rep.flips))
    assert_figure("agree_float32_max_error", rep.data["error"]["max"])


def test_torch_bfloat16_flips_are_rounding_at_margins_below_the_error(oracle):
    out, logits = oracle
    theirs = _recorded("torch_bfloat16")
    rep = ag.agree(ag.read_results_outputs(out), _outputs(theirs, "bf16"), precision="bfloat16")
    expected = _flips(logits, theirs)
    assert_figure("agree_bfloat16_flips", len(expected))  # README "agree": bfloat16 flips 9 images
    assert {_rel(f["image"]) for f in rep.flips} == expected
    for f in rep.flips:
        z, t = logits[_rel(f["image"])], theirs[_rel(f["image"])].astype(np.float64)
        assert f["oracle_class"] == np.argmax(z) and f["framework_class"] == np.argmax(t)
        assert f["margin"] == pytest.approx(z[f["oracle_class"]] - z[f["framework_class"]], rel=1e-12)
        assert f["margin_rel"] <= 2 * f["error"]  # a flip needs half the margin in error
        assert f["verdict"] == "rounding"
    # The same flips judged as float32 are bugs: float32 rounding does not make them.
    as32 = ag.agree(ag.read_results_outputs(out), _outputs(theirs, "bf16"), precision="float32")
    assert len(as32.bugs) == len(expected)


def test_planted_bn_eps_bug_gives_many_flips_with_large_margins(oracle, capsys):
    out, logits = oracle
    theirs = _recorded("torch_float32_bn_eps")
    path = fixture_file("agree", "torch_float32_bn_eps.npz", mk.REGENERATE)
    rc = cli.main(["agree", "--oracle", out, "--framework", path, "--json"])
    rep = json.loads(capsys.readouterr().out)
    assert rc == 1  # some flip is a bug
    expected = _flips(logits, theirs)
    assert len(rep["flips"]) == len(expected) >= 0.1 * len(theirs)
    assert rep["top1"]["agree"] == len(theirs) - len(expected)
    # Its errors are far above float32 rounding, so the threshold is the ceiling's.
    assert rep["error"]["median"] > 100 * ag.ROUNDING_CEILING["float32"]
    assert rep["threshold"] == pytest.approx(ag.BUDGET_FACTOR * ag.ROUNDING_CEILING["float32"])
    bugs = [f for f in rep["flips"] if f["verdict"] == "bug"]
    assert all(f["margin_rel"] > rep["threshold"] for f in bugs)
    # README "agree": a planted BN eps of 1e-2 flips 43, every one at a margin above 2e-4 (bug)
    assert_figure("agree_bn_eps_flips", len(rep["flips"]))
    assert_figure("agree_bn_eps_flips", len(bugs))
    assert_figure("agree_bn_eps_min_margin", min(f["margin_rel"] for f in rep["flips"]))


def test_hand_computed_margins_and_verdicts():
    # Oracle logits (max |z| = 4): a near tie (margin 1e-6), a clear winner, a third
    # image. The framework flips the tie with an error of 1e-6 everywhere else (its
    # median error), keeps image b, and flips c across a margin of 2.
    ora = ag.Outputs("oracle", {"a": np.array([4.0, 4.0 - 4e-6, 0.0]), "b": np.array([1.0, 4.0, 0.0]), "c": np.array([4.0, 2.0, 1.0])},
                     {"a": [0, 1, 2], "b": [1, 0, 2], "c": [0, 1, 2]}, "logits")
    fw_full = {"a": np.array([4.0 - 4e-6, 4.0, 0.0]), "b": np.array([1.0, 4.0 + 4e-6, 0.0]), "c": np.array([1.0, 4.0 + 4e-6, 1.0])}
    fw = ag.Outputs("theirs", fw_full, {k: list(ag._order(v)) for k, v in fw_full.items()}, "logits")
    rep = ag.agree(ora, fw, precision="float32")
    assert rep.data["top1"]["agree"] == 1
    e = rep.data["error"]
    assert e["median"] == pytest.approx(1e-6) and e["max"] == pytest.approx(3.0 / 4.0)
    flips = {f["image"]: f for f in rep.flips}
    assert flips["a"]["margin"] == pytest.approx(4e-6) and flips["a"]["margin_rel"] == pytest.approx(1e-6)
    assert flips["c"]["margin"] == pytest.approx(2.0) and flips["c"]["margin_rel"] == pytest.approx(0.5)
    assert rep.data["threshold"] == pytest.approx(10 * 1e-6)
    assert flips["a"]["verdict"] == "rounding" and flips["c"]["verdict"] == "bug"
    text = str(rep)
    assert "top-1 agreement: 1/3" in text and "bug" in text


def _rel(image):
    return "/".join(image.replace(os.sep, "/").split("/")[-2:])


def _outputs(arrays, source):
    full = {k: np.asarray(v, dtype=np.float64) for k, v in arrays.items()}
    return ag.Outputs(source, full, {k: list(ag._order(v)[:5]) for k, v in full.items()}, "logits")


def test_npz_directory_and_topk_jsonl_give_the_same_agreement(oracle, tmp_path):
    out, logits = oracle
    theirs = _recorded("torch_float32_bn_eps")
    d = tmp_path / "npy"
    for k, v in theirs.items():
        (d / os.path.dirname(k)).mkdir(parents=True, exist_ok=True)
        np.save(d / (os.path.splitext(k)[0] + ".npy"), v)  # keyed without the image's extension
    lines = tmp_path / "theirs.jsonl"
    with open(lines, "w") as f:
        for k, v in theirs.items():
            top = ag._order(v.astype(np.float64))[:5]
            f.write(json.dumps({"image": k, "predictions": [{"index": int(i), "label": "x", "probability": 0.0} for i in top]}) + "\n")
    npz = ag.agree(out, fixture_file("agree", "torch_float32_bn_eps.npz", mk.REGENERATE))
    npy = ag.agree(out, str(d))
    topk = ag.agree(out, str(lines))
    for rep in (npy, topk):
        assert rep.data["top1"] == npz.data["top1"] and rep.data["top5"] == npz.data["top5"]
        assert [f["image"] for f in rep.flips] == [f["image"] for f in npz.flips]
        assert [f["margin"] for f in rep.flips] == [f["margin"] for f in npz.flips]
    assert npy.data["error"] == npz.data["error"]
    # Top-k alone: no error, and the threshold is the float32 ceiling's.
    assert topk.data["error"] is None and topk.data["threshold"] == pytest.approx(ag.BUDGET_FACTOR * ag.ROUNDING_CEILING["float32"])
    assert [f["verdict"] for f in topk.flips] == [f["verdict"] for f in npz.flips]


def test_probabilities_are_compared_as_log_probabilities(oracle, tmp_path):
    out, logits = oracle
    theirs = _recorded("torch_float32")
    probs = {}
    for k, v in theirs.items():
        e = np.exp(v.astype(np.float64) - v.max())
        probs[k] = e / e.sum()
    path = tmp_path / "probs.npz"
    np.savez(path, **probs)
    rep = ag.agree(out, str(path))
    assert rep.data["space"] == "log-probabilities"
    assert rep.data["top1"]["agree"] == len(theirs) - len(_flips(logits, theirs))
    assert rep.data["error"]["max"] <= ag.ROUNDING_CEILING["float32"]


def test_keys_that_match_several_images_or_none_are_reported(oracle, tmp_path):
    out, logits = oracle
    theirs = _recorded("torch_float32")
    some = dict(list(theirs.items())[:10])
    some["not/an/image.png"] = next(iter(theirs.values()))
    path = tmp_path / "some.npz"
    np.savez(path, **some)
    rep = ag.agree(out, str(path))
    assert rep.data["images"] == 10 and rep.data["missing"] == len(theirs) - 10 and rep.data["unmatched"] == 1
    ambiguous = tmp_path / "amb.npz"
    np.savez(ambiguous, **{"full_none_none.png": next(iter(theirs.values()))})  # in chelsea/, coffee/ and rocket/
    with pytest.raises(ResultsError, match="matches 3 oracle images"):
        ag.agree(out, str(ambiguous))
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, **{"chelsea/full_none_none.png": np.zeros(10)})
    with pytest.raises(ResultsError, match="10 classes"):
        ag.agree(out, str(wrong))


def test_bad_framework_input_is_one_line_exit_2(oracle, tmp_path, capsys):
    out, _ = oracle
    for args in (["--oracle", out, "--framework", str(tmp_path / "missing.npz")], ["--oracle", out, "--framework", str(tmp_path)],
                 ["--oracle", str(tmp_path / "missing.jsonl"), "--framework", out]):
        bad = args[1] if "missing.jsonl" in args[1] else args[3]
        rc = cli.main(["agree", *args])
        err = capsys.readouterr().err
        assert rc == 2 and bad in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_plot_marks_the_flips(oracle, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out, _ = oracle
    png = tmp_path / "agree.png"
    rc = cli.main(["agree", "--oracle", out, "--framework", fixture_file("agree", "torch_float32_bn_eps.npz", mk.REGENERATE),
                   "--plot", str(png)])
    assert rc == 1 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib_says_how_to_install_it(oracle, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    out, _ = oracle
    rc = cli.main(["agree", "--oracle", out, "--framework", fixture_file("agree", "torch_float32.npz", mk.REGENERATE),
                   "--plot", str(tmp_path / "a.png")])
    err = capsys.readouterr().err
    assert rc == 2 and "pip install 'refresnet[plot]'" in err and not (tmp_path / "a.png").exists()


def test_agree_and_compare_plots_share_one_matplotlib_guard(monkeypatch):
    from refresnet.diagnose import plot
    from refresnet.diagnose.report import Report

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    for draw in (ag.AgreeReport({"points": []}).plot, Report("resnet18", "float32", [], None, None, [], [], (1, 3, 8, 8)).plot):
        with pytest.raises(MissingExtraError, match=r"needs matplotlib, which is not installed: pip install 'refresnet\[plot\]'"):
            draw("never.png")
    with pytest.raises(MissingExtraError):
        plot.pyplot()


# ---------------------------------------------------------------- hostile --framework files (issue 21)

def test_framework_deflate_bomb_exits_2_in_bounded_time_and_memory(oracle, tmp_path):
    from test_compare_arrays import MEMORY_MB, SECONDS, make_bomb, run_cli

    out, _ = oracle
    bomb = str(make_bomb(tmp_path / "bomb.npz"))
    rc, err, seconds, mb = run_cli(["agree", "--oracle", out, "--framework", bomb])
    assert rc == 2 and len(err.splitlines()) == 1, err
    assert f"{bomb}: member 'x.npy': declares 2147479552 bytes uncompressed" in err
    assert seconds < SECONDS and mb < MEMORY_MB + 4 * os.path.getsize(bomb) / 2**20, (seconds, mb)


def test_framework_directory_with_a_fifo_named_like_an_array_exits_2_at_once(oracle, tmp_path):
    from test_compare_arrays import SECONDS, run_cli

    out, logits = oracle
    d = tmp_path / "outputs"
    d.mkdir()
    key = sorted(logits)[0]
    np.save(d / "a.npy", logits[key])
    os.mkfifo(d / "x.npy")  # nobody writes to it: opening it for reading would wait forever
    rc, err, seconds, _ = run_cli(["agree", "--oracle", out, "--framework", str(d)])
    assert rc == 2 and f"{d / 'x.npy'}: a FIFO (named pipe), not a regular file" in err, err
    assert seconds < SECONDS
