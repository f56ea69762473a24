"""predict --out over a generated folder: one line per image, resumable after SIGKILL,
failed images recorded, progress on a terminal only, and the Dask paths (local cluster,
a killed worker) giving every image the serial run's bits.

The folder: 240 PNGs made from the bundled photos by tests/fixtures/make_agree_fixtures.py
(flips, crops, colour changes) on synthetic ResNet-18 at 32x32 (preset cifar-imagenet-stats).
That refresnet's numbers on it are right is tests/test_agree.py's job (against torch);
here the oracle's own serial run is the reference for the other paths, which must
reproduce it bit for bit.
"""

import io
import json
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from fixtures import make_agree_fixtures as mk
from refresnet import cli, datasets as dataset
from refresnet.datasets.results import too_deep
from refresnet.errors import ResultsError

WEIGHTS = "synthetic:resnet18"
PRESET = mk.PRESET
# On 2 cores a batch of 5 runs two rounds of one image per thread and the fifth on the
# lanes (refresnet.model), while a 1-thread Dask worker runs it as one batch: every
# path the determinism promise covers.
BATCH = 5
REPO = mk.REPO


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("images")
    mk.make_images(str(d))
    images, problems = dataset.collect_images([str(d)])
    assert not problems and len(images) == len(mk.image_specs())
    return str(d), images


@pytest.fixture(scope="module")
def small(folder, tmp_path_factory):
    """Six of the images, for the command-line tests."""
    d = tmp_path_factory.mktemp("small")
    for i, p in enumerate(folder[1][:6]):
        (d / f"{i}.png").write_bytes(open(p, "rb").read())
    return str(d)


@pytest.fixture(scope="module")
def loaded():
    model, fp, _ = dataset.open_model(WEIGHTS)
    return model, fp


@pytest.fixture(scope="module")
def serial(folder, loaded, tmp_path_factory):
    """The reference: the serial path, batches of BATCH, logits stored."""
    out = str(tmp_path_factory.mktemp("serial") / "results.jsonl")
    model, fp = loaded
    summary = dataset.predict_dataset(folder[1], out, weights=WEIGHTS, model=model, fingerprint=fp, preprocess=PRESET,
                                      batch_size=BATCH, store="logits")
    assert summary.written == len(folder[1]) and summary.failed == 0
    return read(out)


def read(out, kind="logits"):
    records = dataset.read_results(out)
    path = dataset.store_path(out, kind)
    store = np.load(path) if os.path.exists(path) else None
    return records, store


def by_image(records, store):
    return {r["image"]: store[r["row"]] for r in records if r["status"] == "ok"}


def main(capsys, *argv):
    rc = cli.main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def predict_args(images_dir, out, *extra):
    return ["predict", images_dir, "--weights", WEIGHTS, "--preprocess", PRESET, "--out", out, "--batch-size", str(BATCH), *extra]


# ------------------------------------------------------------------ the file
def test_one_line_per_image_in_input_order_with_its_store_row(folder, serial, loaded):
    records, store = serial
    model, fp = loaded
    assert [r["image"] for r in records] == folder[1]
    assert [r["row"] for r in records] == list(range(len(records)))
    assert store.shape == (len(records), 1000) and store.dtype == np.float64
    for r, z in zip(records, store):
        assert r["status"] == "ok" and r["fingerprint"] == fp and r["weights"] == "synthetic:resnet18:0"
        assert r["arch"] == "resnet18" and r["preprocess"] == PRESET
        # The top-5 are the stored logits' softmax, ranked (independent numpy softmax).
        p = np.exp(z - z.max())
        p /= p.sum()
        assert [q["index"] for q in r["predictions"]] == list(np.argsort(-p, kind="stable")[:5])
        assert np.allclose([q["probability"] for q in r["predictions"]], p[[q["index"] for q in r["predictions"]]], rtol=1e-12)


def test_fingerprint_is_the_one_inspect_prints(loaded, capsys):
    rc, out, _ = main(capsys, "inspect", WEIGHTS, "--json")
    assert rc == 0 and json.loads(out)["fingerprint"] == loaded[1]


def test_store_is_a_plain_npy_at_every_moment(tmp_path):
    s = dataset.NpyStore(str(tmp_path / "x.npy"), 3)
    assert np.load(s.path).shape == (0, 3)
    s.append(np.arange(6.0).reshape(2, 3))
    assert np.array_equal(np.load(s.path), np.arange(6.0).reshape(2, 3))
    s.append(np.full((1, 3), 7.0))
    s.close()
    assert np.array_equal(np.load(str(tmp_path / "x.npy"))[2], [7.0, 7.0, 7.0])


def test_unreadable_images_are_recorded_as_failed_and_the_run_goes_on(folder, tmp_path, capsys):
    d = tmp_path / "imgs"
    d.mkdir()
    good = folder[1][:3]
    for i, p in enumerate(good):
        (d / f"{i}.png").write_bytes(open(p, "rb").read())
    (d / "1b_broken.png").write_bytes(b"not an image")
    (d / "2b_truncated.png").write_bytes(open(good[0], "rb").read()[:300])
    out = str(tmp_path / "r.jsonl")
    rc, stdout, err = main(capsys, *predict_args(str(d), out))
    assert rc == 2 and "images/s" not in err  # stderr is not a terminal: no progress bar
    records = dataset.read_results(out)
    assert [os.path.basename(r["image"]) for r in records] == ["0.png", "1.png", "1b_broken.png", "2.png", "2b_truncated.png"]
    failed = {os.path.basename(r["image"]): r for r in records if r["status"] == "failed"}
    assert set(failed) == {"1b_broken.png", "2b_truncated.png"}
    for r in failed.values():
        # The same one-line message as on stderr, naming the file.
        assert r["error"].startswith(r["image"] + ": ") and f"refresnet: {r['error']}\n" in err
    assert "3 written, 2 failed, 0 already there" in stdout
    # Resuming does not retry them, and still reports the run as not clean.
    rc, stdout, err = main(capsys, *predict_args(str(d), out))
    assert rc == 2 and "0 written, 0 failed, 5 already there" in stdout and "2 images recorded as failed" in err


# ------------------------------------------------------------------ resuming
def test_resume_after_sigkill_at_a_random_point_loses_and_duplicates_nothing(folder, serial, tmp_path, capsys):
    images_dir, images = folder
    out = str(tmp_path / "r.jsonl")
    kill_at = random.randint(1, len(images) - 20)
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-m", "refresnet", *predict_args(images_dir, out, "--store", "logits")],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if os.path.exists(out) and open(out, "rb").read().count(b"\n") >= kill_at:
                break
            time.sleep(0.002)
        assert proc.poll() is None, f"the run ended before the kill point {kill_at}"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    done = len(dataset.read_results(out))
    assert kill_at <= done < len(images), (kill_at, done)
    rc, stdout, err = main(capsys, *predict_args(images_dir, out, "--store", "logits"))
    assert rc == 0, err
    assert "already there" in stdout
    records, store = read(out)
    assert [r["image"] for r in records] == images, f"killed after {done} lines"
    assert [r["row"] for r in records] == list(range(len(images)))
    assert store.shape == (len(images), 1000)
    ref = by_image(*serial)
    assert all(np.array_equal(by_image(records, store)[p], ref[p]) for p in images), f"killed after {done} lines"


def test_resume_cuts_a_partial_line_and_rows_without_lines(folder, serial, tmp_path, loaded, capsys):
    images_dir, images = folder
    out = str(tmp_path / "r.jsonl")
    records, store = serial
    keep = 12 * BATCH  # a batch boundary: the resumed run forms the serial run's batches
    lines = [json.dumps(r) + "\n" for r in records[: keep + 1]]
    # A run killed while writing line keep + 1, after writing 7 more rows of the store.
    with open(out, "w") as f:
        f.write("".join(lines[:keep]) + lines[keep][:37])
    s = dataset.NpyStore(dataset.store_path(out, "logits"), 1000)
    s.append(store[: keep + 7])
    s.close()
    model, fp = loaded
    summary = dataset.predict_dataset(images, out, weights=WEIGHTS, model=model, fingerprint=fp, preprocess=PRESET,
                                      batch_size=BATCH, store="logits")
    assert summary.skipped == keep and summary.written == len(images) - keep
    got, got_store = read(out)
    assert got == records
    assert np.array_equal(got_store, store)


def test_a_file_of_other_weights_preprocessing_or_store_is_refused(folder, serial, tmp_path, capsys):
    images_dir, images = folder
    out = str(tmp_path / "r.jsonl")
    with open(out, "w") as f:
        f.write(json.dumps(serial[0][0]) + "\n")
    rc, _, err = main(capsys, "predict", images_dir, "--weights", "synthetic:resnet18:1", "--preprocess", PRESET, "--out", out)
    assert rc == 2 and "fingerprint" in err and out in err and "Traceback" not in err
    identity = {"fingerprint": serial[0][0]["fingerprint"], "preprocess": PRESET}
    with pytest.raises(ResultsError, match="written with preprocess 'cifar-imagenet-stats', this run has 'cifar'"):
        dataset.ResultsFile(out, dict(identity, preprocess="cifar"))
    with pytest.raises(ResultsError, match="written with a --store"):
        dataset.ResultsFile(out, identity)
    with pytest.raises(ResultsError, match=r"r.probabilities.npy does not exist; it was written with --store logits"):
        np.save(dataset.store_path(out, "logits"), np.zeros((1, 1000)))
        dataset.ResultsFile(out, identity, "probabilities", 1000)
    assert len(dataset.read_results(out)) == 1  # nothing was cut
    with pytest.raises(ResultsError, match="expected a float64 store of 1000 columns"):
        np.save(dataset.store_path(out, "logits"), np.zeros((1, 10)))
        dataset.ResultsFile(out, identity, "logits", 1000)


def test_a_file_another_run_holds_is_refused(tmp_path):
    out = str(tmp_path / "r.jsonl")
    first = dataset.ResultsFile(out, {})
    try:
        with pytest.raises(ResultsError, match="another run is writing"):
            dataset.ResultsFile(out, {})
    finally:
        first.close()
    dataset.ResultsFile(out, {}).close()


def test_a_damaged_line_is_reported_with_its_number(tmp_path):
    out = tmp_path / "r.jsonl"
    out.write_text('{"image": "a.png", "status": "ok"}\nnot json\n{"image": "b.png"}\n')
    with pytest.raises(ResultsError, match=r"r.jsonl: line 2 is not JSON"):
        dataset.read_results(str(out))


def test_an_existing_file_that_is_not_a_results_file_is_refused_and_left_as_it_is(small, serial, tmp_path, capsys):
    """--out on someone's file: refused before a byte changes, whatever it holds (issue 21)."""
    record = json.dumps(serial[0][0]).encode()
    contents = {
        "notes.txt": b"precious notes, no newline at the end",
        "lines.txt": b"first line\nsecond line\n",
        "other.jsonl": b'{"a": 1}\n{"a": 2}\n',
        "tail.jsonl": record + b"\n" + b"precious bytes after the last newline",
        "deep.jsonl": b"[" * 100_000 + b"]" * 100_000 + b"\n",
        "deep_tail.jsonl": b"[" * 100_000,
    }
    for name, data in contents.items():
        path = tmp_path / name
        path.write_bytes(data)
        rc, out, err = main(capsys, *predict_args(small, str(path)))
        lines = [line for line in err.splitlines() if not line.startswith("refresnet: WARNING")]
        assert rc == 2 and len(lines) == 1 and lines[0].startswith(f"refresnet: {path}: "), (name, err)
        assert "Traceback" not in err and "written" not in out, name
        assert path.read_bytes() == data, name
        assert not os.path.exists(dataset.store_path(str(path), "logits")), name


def test_a_partial_first_line_of_a_killed_run_is_still_cut(small, tmp_path, capsys):
    for partial in (b'{"im', b'{"image": "/x/0.png", "sta'):
        out = tmp_path / "r.jsonl"
        out.write_bytes(partial)
        rc, stdout, err = main(capsys, *predict_args(small, str(out)))
        assert rc == 0, err
        assert [r["image"] for r in dataset.read_results(str(out))] == sorted(os.path.join(small, f) for f in os.listdir(small))
        out.unlink()


def test_a_results_file_that_is_not_a_regular_file_is_refused(small, tmp_path, capsys):
    fifo = tmp_path / "r.jsonl"
    os.mkfifo(fifo)
    rc, _, err = main(capsys, *predict_args(small, str(fifo)))
    assert rc == 2 and f"{fifo}: not a regular file" in err
    with pytest.raises(ResultsError, match="r.jsonl: is a FIFO"):
        dataset.read_results(str(fifo))


def test_a_line_nested_100000_deep_is_a_results_error_naming_file_and_line(tmp_path):
    out = tmp_path / "r.jsonl"
    out.write_bytes(b'{"image": "a.png", "status": "ok"}\n' + b"[" * 100_000 + b"]" * 100_000 + b"\n")
    with pytest.raises(ResultsError, match=r"r.jsonl: line 2 nests deeper than 32 arrays or objects"):
        dataset.read_results(str(out))
    out.write_bytes(b'{"image": "a.png", "x": ' + b"{" * 50_000 + b"\n")  # unbalanced: damaged, and deep
    with pytest.raises(ResultsError, match=r"r.jsonl: line 1 nests deeper"):
        dataset.read_results(str(out))


def test_a_line_not_utf8_or_not_a_record_names_file_and_line(tmp_path):
    out = tmp_path / "r.jsonl"
    for line, why in ((b'{"image": "\xff"}', "is not JSON"), (b'["image"]', 'has no "image"'), (b'{"image": 3}', 'has no "image"'),
                      (b'{"image": "a", "n": ' + b"1" * 5000 + b"}", "is not JSON")):
        out.write_bytes(b'{"image": "a.png"}\n\n' + line + b"\n")
        with pytest.raises(ResultsError, match=f"r.jsonl: line 3 {why}"):
            dataset.read_results(str(out))


def test_nesting_is_counted_outside_strings_only():
    # Hand-counted depths: [[[]]] is 3, the brackets inside strings are text.
    assert too_deep(b"[[[]]]", limit=2) and not too_deep(b"[[[]]]", limit=3)
    assert not too_deep(b'["[[[[[[", {"a": "{{{{{{"}, "\\"[[[[[["]', limit=2)
    assert too_deep(b'["]]]]]]", [[["x"]]]]', limit=3)
    assert not too_deep(b'{"image": "' + b"[" * 10_000 + b'"}', limit=2)
    assert not too_deep(b'["\\\\", "[[[[[[[["]', limit=2)  # an escaped backslash, then a closing quote
    # A record of 1000 predictions has thousands of brackets but nests three deep.
    record = json.dumps({"image": "a", "predictions": [{"index": i, "label": "x"} for i in range(1000)]}).encode()
    assert not too_deep(record) and too_deep(record, limit=2)
    # Deeper than one scan piece: the depth, and whether a string is open, carry across pieces.
    assert too_deep(b"[" * (2**20 + 40) + b"]" * (2**20 + 40))
    across = b'["' + b"x" * (2**20 - 5) + b'[[[[[[[[[[", ' + b"[" * 5 + b"]" * 5 + b"]"
    assert not too_deep(across, limit=6) and too_deep(across, limit=5)


def test_bad_options_are_one_line_errors(folder, capsys):
    rc, _, err = main(capsys, "predict", folder[0], "--weights", WEIGHTS, "--store", "logits")
    assert rc == 2 and "--store needs --out" in err
    rc, _, err = main(capsys, "predict", folder[0], "--weights", WEIGHTS, "--out", folder[0])
    assert rc == 2 and f"{folder[0]}: cannot open the results file" in err and len(err.strip().splitlines()) == 2  # + SYNTHETIC
    rc, _, err = main(capsys, "predict", folder[0], "--weights", WEIGHTS, "--workers", "0")
    assert rc == 2 and "--workers must be at least 1" in err
    rc, _, err = main(capsys, "predict", folder[0], "--weights", WEIGHTS, "--workers", "2", "--scheduler", "tcp://x:1")
    assert rc == 2 and "give one of them" in err


def test_without_dask_workers_and_scheduler_say_how_to_install_it(folder, small, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    for opt in (["--workers", "2"], ["--scheduler", "tcp://127.0.0.1:8786"]):
        rc, _, err = main(capsys, "predict", folder[0], "--weights", WEIGHTS, *opt)
        assert rc == 2 and "pip install 'refresnet[dask]'" in err and "Traceback" not in err
    # A plain run needs nothing extra.
    rc, _, err = main(capsys, *predict_args(small, str(tmp_path / "r.jsonl")))
    assert rc == 0, err


# ------------------------------------------------------------------ progress
class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_shows_rate_and_eta():
    t = iter([0.0, 10.0])
    stream = FakeTerminal()
    bar = dataset.Progress(240, True, stream=stream, clock=lambda: next(t))
    bar.step(120)
    assert stream.getvalue() == "\r[###############...............] 120/240 images  12.0 images/s  ETA 0:00:10"


def test_progress_on_a_terminal_and_never_with_json(small, tmp_path, monkeypatch, capsys):
    for json_mode, shown in ((False, True), (True, False)):
        term = FakeTerminal()
        monkeypatch.setattr(sys, "stderr", term)
        argv = predict_args(small, str(tmp_path / f"b{json_mode}.jsonl")) + (["--json"] if json_mode else [])
        assert cli.main(argv) == 0
        monkeypatch.undo()
        assert ("6/6 images" in term.getvalue() and "images/s" in term.getvalue()) == shown, term.getvalue()
    out = capsys.readouterr().out
    assert json.loads(out.strip().splitlines()[-1])["written"] == 6


# ------------------------------------------------------------------ Dask
def _worker_pids(client):
    return client.run(os.getpid)


@pytest.mark.slow
def test_two_worker_local_cluster_gives_the_serial_runs_bits(folder, serial, tmp_path, capsys):
    """The determinism promise across processes: the same batches, the same bits,
    whatever the threads (each worker computes with one)."""
    pytest.importorskip("distributed")
    out = str(tmp_path / "r.jsonl")
    rc, _, err = main(capsys, *predict_args(folder[0], out, "--store", "logits", "--workers", "2"))
    assert rc == 0, err
    records, store = read(out)
    ref_records, ref_store = serial
    assert records == ref_records  # same images, order, rows and top-5 probabilities
    assert np.array_equal(store, ref_store), f"max difference {np.abs(store - ref_store).max():.3g}"


@pytest.mark.slow
def test_a_killed_worker_is_survived_with_nothing_lost_or_duplicated(folder, loaded, tmp_path):
    pytest.importorskip("distributed")
    from distributed import Client

    images = folder[1][:120]
    model, fp = loaded
    run = dict(weights=WEIGHTS, model=model, fingerprint=fp, preprocess=PRESET, batch_size=BATCH, store="logits")
    with dataset.local_cluster(2) as cluster, Client(cluster) as client:
        first = str(tmp_path / "first.jsonl")
        dataset.predict_dataset(images, first, client=client, **run)
        # Each worker loaded the model once for its many tasks.
        assert sorted(client.run(dataset.model_loads).values()) == [1, 1]
        pids = _worker_pids(client)
        victim = sorted(pids.items())[0]
        seen = []

        def kill_midway(image, probs):
            seen.append(image)
            if len(seen) == 30:
                os.kill(victim[1], signal.SIGKILL)

        second = str(tmp_path / "second.jsonl")
        summary = dataset.predict_dataset(images, second, client=client, on_result=kill_midway, **run)
        assert summary.written == len(images) and seen == images
        assert victim[0] not in client.scheduler_info()["workers"]
        assert victim[1] not in _worker_pids(client).values()
        # A worker that finds other weights under the same spec stops the run, saying so.
        with pytest.raises(ResultsError, match="every worker must see the same weight file"):
            dataset.predict_dataset(images[:5], str(tmp_path / "third.jsonl"), client=client, **dict(run, fingerprint="0" * 16))
    a, b = read(first), read(second)
    assert [r["image"] for r in b[0]] == images and [r["row"] for r in b[0]] == list(range(len(images)))
    assert a[0] == b[0] and np.array_equal(a[1], b[1])
