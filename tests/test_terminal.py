"""What reaches the terminal (issue 21 item 4): strings taken from files (labels from
a config.json's id2label, tensor names, image file names, paths) are printed with
their control characters escaped as ``repr`` escapes them, in the text output and in
the one-line errors; ``--json`` output stays exact JSON.

The hostile files are made here at test time: a copy of the hf_tiny Hub fixture with
an id2label of escape sequences, a safetensors file (written by hand: the format is an
8-byte header length, a JSON header, the bytes) with a tensor named with one, and image
files whose names hold a newline and an ESC.
"""

import json
import os
import shutil
import struct
import subprocess
import sys

import numpy as np

from fixtures import hub_fixture as hf
from fixtures import make_preprocess_fixtures as mk
from fixtures.paths import fixture_file
from refresnet import cli
from refresnet.build.synthetic import synthetic_weights
from refresnet.text import printable

PHOTO = mk.SHIPPED_PHOTO
REPO = mk.REPO
TITLE = "\x1b]0;pwned\x07"  # OSC 0: sets the terminal's title
ERASE = "\x1b[2K"  # CSI 2 K: erases the line
HOSTILE_LABELS = [TITLE, ERASE + "all files verified OK", "two\nlines", "\u202eevil", "\x9b31mred"]
# What must never reach a terminal raw: ESC, BEL, CR, the C1 CSI and the bidi override.
RAW = ("\x1b", "\x07", "\r", "\x9b", "\u202e")


def run_main(capsys, *argv):
    rc = cli.main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def assert_no_raw_controls(*texts):
    for text in texts:
        for c in RAW:
            assert c not in text, (c, text)


def error_lines(err):
    return [line for line in err.splitlines() if not line.startswith("refresnet: WARNING")]


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, value in tensors.items():
        data = np.ascontiguousarray(value, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(np.shape(value)), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)) + head + b"".join(blobs))


# ------------------------------------------------------------------ printable itself
def test_printable_escapes_controls_as_repr_writes_them():
    # Expected values written by hand from Python's repr rules (Objects/unicodeobject.c:
    # \t \n \r, other controls below 0x100 as \xNN, others as \uNNNN).
    cases = {
        "\x1b]0;pwned\x07": "\\x1b]0;pwned\\x07",
        "a\nb.jpg": "a\\nb.jpg",
        "x\ry\tz": "x\\ry\\tz",
        "\x00\x7f": "\\x00\\x7f",
        "\x80\x9b\x9f": "\\x80\\x9b\\x9f",
        "\u202aA\u202bB\u202cC\u202dD\u202eE": "\\u202aA\\u202bB\\u202cC\\u202dD\\u202eE",
        "\u2066\u2067\u2068\u2069": "\\u2066\\u2067\\u2068\\u2069",
        "\u2028\u2029": "\\u2028\\u2029",
        "bad\udcffname": "bad\\udcffname",  # os.fsdecode's surrogate for an undecodable byte
    }
    for raw, shown in cases.items():
        assert printable(raw) == shown


def test_printable_keeps_ordinary_names_unchanged():
    for s in ("conv1.weight", "layer4.2.bn3.running_var", "tabby, tabby cat", "café 猫.jpg", "C:\\data\\x.png",
              "great white shark", ""):
        assert printable(s) == s
    assert printable(3) == "3"


def test_printable_leaves_no_control_character_at_all():
    everything = "".join(map(chr, range(0x00, 0xA0))) + "".join(map(chr, range(0x2000, 0x2070))) + "\ufeff\u061c"
    shown = printable(everything)
    assert all(c.isprintable() or c == " " for c in shown)
    assert "\n" not in shown and "\x1b" not in shown


# ------------------------------------------------------------------ labels from id2label
def _hostile_hub_dir(tmp_path):
    src = os.path.dirname(fixture_file(os.path.join("hub", "hf_tiny"), "config.json", hf.REGEN_COMMAND + " tiny"))
    dst = tmp_path / "hf_hostile"
    shutil.copytree(src, dst)
    cfg = json.loads((dst / "config.json").read_text())
    assert len(cfg["id2label"]) == len(HOSTILE_LABELS)
    cfg["id2label"] = {str(i): name for i, name in enumerate(HOSTILE_LABELS)}
    cfg["label2id"] = {name: i for i, name in enumerate(HOSTILE_LABELS)}
    (dst / "config.json").write_text(json.dumps(cfg))
    return str(dst)


def test_id2label_escape_sequences_are_escaped_in_the_table_and_exact_in_json(tmp_path, capsys):
    weights = _hostile_hub_dir(tmp_path)
    rc, out, err = run_main(capsys, "predict", PHOTO, "--weights", weights, "--top", "5")
    assert rc == 0, err
    assert_no_raw_controls(out, err)
    rows = [line for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert len(rows) == 5  # "two\nlines" did not split its row
    shown = {row.split(None, 3)[3] for row in rows}
    assert shown == {"\\x1b]0;pwned\\x07", "\\x1b[2Kall files verified OK", "two\\nlines", "\\u202eevil", "\\x9b31mred"}
    rc, out, err = run_main(capsys, "predict", PHOTO, "--weights", weights, "--top", "5", "--json")
    assert rc == 0, err
    assert_no_raw_controls(out)
    assert len(out.splitlines()) == 1
    assert {p["label"] for p in json.loads(out)["predictions"]} == set(HOSTILE_LABELS)


# ------------------------------------------------------------------ tensor names
def test_a_tensor_name_with_an_escape_sequence_gives_one_escaped_line(tmp_path, capsys):
    w = dict(synthetic_weights("resnet18", num_classes=10))
    w["fc.weight" + ERASE] = np.zeros(3)
    w["evil" + TITLE + "\nrefresnet: all files verified OK"] = np.zeros(2)
    path = str(tmp_path / "names.safetensors")
    write_safetensors(path, w)
    for argv in (["predict", PHOTO, "--weights", path], ["inspect", path]):
        rc, out, err = run_main(capsys, *argv)
        assert rc == 2
        assert_no_raw_controls(out, err)
        lines = error_lines(err)
        assert len(lines) == 1, err
        assert lines[0].startswith(f"refresnet: {path}: ")
        assert "fc.weight\\x1b[2K" in lines[0] or "evil\\x1b]0;pwned\\x07\\nrefresnet" in lines[0], lines[0]


# ------------------------------------------------------------------ image file names and paths
def test_an_image_named_with_a_newline_is_one_line_in_text_exact_in_json(tmp_path, capsys):
    img = tmp_path / "a\nb.jpg"
    shutil.copyfile(PHOTO, img)
    rc, out, err = run_main(capsys, "predict", str(img), "--weights", "synthetic:resnet18", "--top", "1")
    assert rc == 0, err
    assert printable(str(img)) in out.splitlines()
    assert "b.jpg" not in [line.strip() for line in out.splitlines()]
    rc, out, err = run_main(capsys, "predict", str(img), "--weights", "synthetic:resnet18", "--top", "1", "--json")
    assert rc == 0, err
    assert json.loads(out)["image"] == str(img)


def test_a_bad_image_named_with_controls_is_one_escaped_error_line(tmp_path, capsys):
    bad = tmp_path / ("c" + ERASE + "\nrefresnet: all files verified OK\n.jpg")
    bad.write_bytes(b"not an image")
    for extra in ([], ["--json"], ["--out", str(tmp_path / "r.jsonl")]):
        rc, out, err = run_main(capsys, "predict", str(bad), PHOTO, "--weights", "synthetic:resnet18", "--top", "1", *extra)
        assert rc == 2
        assert_no_raw_controls(out, err)
        lines = error_lines(err)
        assert len(lines) == 1, err
        assert lines[0].startswith("refresnet: " + printable(str(bad)) + ": not an image Pillow can read")
    # The results file keeps the exact name (JSON escapes it).
    recs = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert {r["image"] for r in recs} == {str(bad), PHOTO}


def test_a_weights_path_with_a_newline_is_one_escaped_error_line(tmp_path, capsys):
    missing = str(tmp_path / "x\nrefresnet: all files verified OK\x1b[2K.pth")
    rc, out, err = run_main(capsys, "predict", PHOTO, "--weights", missing)
    assert rc == 2 and out == ""
    assert_no_raw_controls(err)
    assert error_lines(err) == [f"refresnet: {printable(missing)}: no such file"]


def test_the_results_file_name_in_the_summary_line_is_escaped(tmp_path, capsys):
    out_file = str(tmp_path / "r\x1b[2K.jsonl")
    rc, out, err = run_main(capsys, "predict", PHOTO, "--weights", "synthetic:resnet18", "--out", out_file)
    assert rc == 0, err
    assert_no_raw_controls(out, err)
    assert out.splitlines()[-1] == f"{printable(out_file)}: 1 written, 0 failed, 0 already there"


def test_the_real_streams_of_a_child_process_carry_no_raw_escape(tmp_path):
    """The bytes a terminal would get, from ``python -m refresnet`` in a child."""
    img = tmp_path / ("d" + TITLE + "\n.jpg")
    shutil.copyfile(PHOTO, img)
    bad = tmp_path / ("e" + ERASE + "\n.jpg")
    bad.write_bytes(b"GIF89a but not really")
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-m", "refresnet", "predict", str(img), str(bad), "--weights", "synthetic:resnet18",
                        "--top", "1"], capture_output=True, env=env, cwd=REPO, timeout=600)
    assert r.returncode == 2, r.stderr
    for stream in (r.stdout, r.stderr):
        for raw in (b"\x1b", b"\x07", b"\r", b"\xc2\x9b"):
            assert raw not in stream, (raw, stream)
    errors = [line for line in r.stderr.decode().splitlines() if not line.startswith("refresnet: WARNING")]
    assert len(errors) == 1 and errors[0].startswith("refresnet: " + printable(str(bad)) + ": "), r.stderr
    assert printable(str(img)).encode() in r.stdout.splitlines()


def test_agree_prints_image_names_from_the_files_escaped(tmp_path, capsys):
    """agree's report names images taken from two files; no escape sequence in them
    reaches the terminal (cli/agree.py escapes the report line by line)."""
    name = "x" + ERASE + TITLE + ".png"

    def record(image, top):
        return json.dumps({"image": image, "status": "ok", "predictions": [
            {"index": i, "label": "c", "probability": 0.0} for i in top]}) + "\n"

    oracle, theirs = tmp_path / "oracle.jsonl", tmp_path / "theirs.jsonl"
    oracle.write_text(record(name, [1, 2, 3, 4, 5]) + record("y.png", [0, 1, 2, 3, 4]))
    theirs.write_text(record(name, [2, 1, 3, 4, 5]) + record("y.png", [0, 1, 2, 3, 4]))
    rc = cli.main(["agree", "--oracle", str(oracle), "--framework", str(theirs)])
    out, err = capsys.readouterr()
    assert rc in (0, 1), err
    assert_no_raw_controls(out, err)
    assert printable(name) in out  # the flip's row names the image, escaped
    rc = cli.main(["agree", "--oracle", str(oracle), "--framework", str(theirs), "--json"])
    out, err = capsys.readouterr()
    assert_no_raw_controls(out)
    assert [f["image"] for f in json.loads(out)["flips"]] == [name]


def test_a_warning_naming_an_image_is_one_escaped_line(tmp_path, monkeypatch, capsys):
    """Pillow's decompression-bomb warning (between Image.MAX_IMAGE_PIXELS and twice
    it), which refresnet re-issues with the image's path: one escaped line on stderr."""
    from PIL import Image

    img = tmp_path / ("big" + TITLE + "\n.png")
    Image.new("RGB", (40, 40), (10, 20, 30)).save(img, format="PNG")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 1600 pixels: a warning, not an error
    rc, out, err = run_main(capsys, "predict", str(img), "--weights", "synthetic:resnet18", "--top", "1")
    assert rc == 0, err
    assert_no_raw_controls(out, err)
    warned = [line for line in err.splitlines() if "DecompressionBombWarning" in line]
    assert len(warned) == 1 and warned[0].startswith("refresnet: warning: DecompressionBombWarning: " + printable(str(img)))
