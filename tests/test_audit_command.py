"""The command-line glue refresnet.cli.audit, called directly through argparse (the
lead wires it into ``python -m refresnet``): exit 0 matches, 1 departs, 2 bad input with
one line on stderr."""

import argparse
import json
import textwrap

import numpy as np
import pytest

from refresnet.cli import audit as command


def run(argv, capsys):
    parser = argparse.ArgumentParser(prog="refresnet")
    sub = parser.add_subparsers(dest="command")
    command.add_arguments(sub)
    args = parser.parse_args(argv)
    assert args.func is command.run and args.debug is False  # what cli.main() calls and reads
    code = args.func(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_schedule_exit_codes_and_json(capsys):
    code, out, err = run(["audit", "schedule", "--milestones", "100", "150", "--epochs", "200"], capsys)
    assert code == 1 and "DEPARTS [schedule.milestones]" in out and err == ""
    code, out, _ = run(["audit", "schedule", "--milestones", "91", "136", "--epochs", "182", "--json"], capsys)
    d = json.loads(out)
    assert code == 0 and d["ok"] and d["iterations_per_epoch"] == 352


def test_schedule_bad_value_exits_2_with_one_line(capsys):
    code, out, err = run(["audit", "schedule", "--lr", "-0.1"], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1 and "lr must be positive" in err


def _weights_file(tmp_path, scale):
    """A safetensors file of fan-in-normal convs (or scaled ones), written by hand."""
    import struct

    rng = np.random.default_rng(0)
    tensors = {}
    for name, (o, i) in {"conv1.weight": (16, 3), "layer2.0.conv1.weight": (32, 16),
                         "layer3.0.conv1.weight": (64, 32)}.items():
        tensors[name] = (rng.standard_normal((o, i, 3, 3)) * np.sqrt(2 / (i * 9)) * scale).astype("<f4")
    header, blobs, off = {}, [], 0
    for name, a in tensors.items():
        data = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    text = json.dumps(header).encode()
    text += b" " * (-(8 + len(text)) % 8)
    path = tmp_path / f"w{scale}.safetensors"
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))
    return str(path)


def test_init_exit_codes(tmp_path, capsys):
    path = _weights_file(tmp_path, 1.0)
    code, out, _ = run(["audit", "init", path, "--expect", "fan-in-normal"], capsys)
    assert code == 0 and "verdict: matches fan-in-normal" in out
    code, out, _ = run(["audit", "init", path, "--expect", "torchvision-fan-out"], capsys)
    assert code == 1 and "DEPARTS [init.scheme]" in out
    code, out, _ = run(["audit", "init", path, "--json"], capsys)
    d = json.loads(out)  # strict JSON: an impossible scheme's -inf log-likelihood is null
    assert code == 0 and d["scheme"] == "fan-in-normal" and d["log_likelihood"]["keras-he-normal"] is None


def test_init_bad_files_exit_2(tmp_path, capsys):
    code, _, err = run(["audit", "init", str(tmp_path / "missing.pth")], capsys)
    assert code == 2 and "missing.pth: no such file" in err and err.count("\n") == 1
    bad = tmp_path / "junk.pth"
    bad.write_bytes(b"junk")
    code, _, err = run(["audit", "init", str(bad)], capsys)
    assert code == 2 and "junk.pth" in err and err.count("\n") == 1


def test_augment_module_callable(tmp_path, capsys):
    mod = tmp_path / "mytrain.py"
    mod.write_text(textwrap.dedent("""
        import numpy as np
        rng = np.random.default_rng(0)
        M = np.array((0.4914, 0.4822, 0.4465), np.float32)
        S = np.array((0.2470, 0.2435, 0.2616), np.float32)
        def train(img):
            a = np.pad(np.asarray(img).astype(np.float32) / np.float32(255), ((4, 4), (4, 4), (0, 0)))
            dy, dx = rng.integers(0, 9, 2)
            a = a[dy:dy + 32, dx:dx + 32]
            if rng.random() < 0.5:
                a = a[:, ::-1]
            return (a - M) / S
        def test(img):
            return (np.asarray(img).astype(np.float32) / np.float32(255) - M) / S
    """))
    code, out, _ = run(["audit", "augment", f"{mod}:train", "--n", "2000", "--input", "array"], capsys)
    assert code == 0 and "verdict: matches torchvision-cifar" in out
    code, out, _ = run(["audit", "augment", f"{mod}:test", "--n", "500", "--json"], capsys)
    d = json.loads(out)
    assert code == 1 and "augment.not_random" in [x["id"] for x in d["departures"]]
    code, out, _ = run(["audit", "augment", f"{mod}:test", "--n", "500", "--expect", "none"], capsys)
    assert code == 0


@pytest.mark.parametrize("spec,msg", [
    ("nocolon", "expected MODULE:CALLABLE"),
    ("/nonexistent/x.py:f", "/nonexistent/x.py: no such file"),
    ("refresnet_no_such_module:f", "cannot import it"),
    ("json:no_such_attr", "json has no attribute 'no_such_attr'"),
    ("json:__doc__", "is not callable"),
])
def test_augment_bad_spec_exits_2(spec, msg, capsys):
    code, out, err = run(["audit", "augment", spec], capsys)
    assert code == 2 and msg in err and err.count("\n") == 1
