"""read_safetensors against a file written by the `safetensors` package (through torch,
in tests/fixtures/make_torch_files.py), a hand-written byte string, and the reference
NumPy binding on random files (skipped when `safetensors` is absent)."""

import json
import os
import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refresnet.io.safetensors_file import read_safetensors

from fixtures.paths import fixture_file  # noqa: E402

FIX = os.path.join(os.path.dirname(__file__), "fixtures", "torch_files")
REGEN = "/work/venv-torch/bin/python tests/fixtures/make_torch_files.py"


def fixture(name):
    return fixture_file("torch_files", name, REGEN)


def test_reads_file_written_by_safetensors_torch_bit_for_bit():
    with np.load(fixture("expected.npz")) as z:
        ref = {k.split("::", 1)[1]: z[k] for k in z.files if k.startswith("tiny.safetensors::")}
    assert len(ref) == 12
    got = read_safetensors(fixture("tiny.safetensors"))
    assert set(got) == set(ref)
    for k, v in ref.items():
        assert got[k].dtype == v.dtype and got[k].shape == v.shape, k
        assert got[k].tobytes() == v.tobytes(), k
        assert got[k].flags.c_contiguous and got[k].flags.writeable, k


def test_hand_written_bytes():
    # Two tensors, data deliberately not in name order; metadata present; header
    # padded with spaces as the reference writer does.
    header = {
        "__metadata__": {"format": "pt"},
        "b": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]},
        "a": {"dtype": "I16", "shape": [1, 2], "data_offsets": [4, 8]},
        "s": {"dtype": "F64", "shape": [], "data_offsets": [8, 16]},
        "z": {"dtype": "F32", "shape": [0, 5], "data_offsets": [16, 16]},
    }
    h = json.dumps(header).encode()
    h += b" " * (-(8 + len(h)) % 8)
    # bf16 0x3FC0 = 1.5, 0xC000 = -2.0; int16 -3, 7; float64 0.1
    data = bytes.fromhex("c03f00c0") + struct.pack("<hh", -3, 7) + struct.pack("<d", 0.1)
    blob = struct.pack("<Q", len(h)) + h + data
    path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"refresnet_hand_{os.getpid()}.safetensors")
    try:
        with open(path, "wb") as f:
            f.write(blob)
        got = read_safetensors(path)
    finally:
        os.remove(path)
    assert got["b"].dtype == np.float32 and got["b"].tolist() == [1.5, -2.0]
    assert got["a"].dtype == np.int16 and got["a"].tolist() == [[-3, 7]]
    assert got["s"].dtype == np.float64 and got["s"].shape == () and float(got["s"]) == 0.1
    assert got["z"].shape == (0, 5)


def test_header_only_file_has_no_tensors(tmp_path):
    path = tmp_path / "empty.safetensors"
    path.write_bytes(struct.pack("<Q", 2) + b"{}")
    assert read_safetensors(path) == {}


_DT = ["float64", "float32", "float16", "int64", "int32", "int16", "int8", "uint8", "bool"]


@given(st.lists(st.tuples(st.sampled_from(_DT), st.lists(st.integers(0, 4), max_size=3)),
                min_size=0, max_size=6),
       st.integers(0, 2**32 - 1))
def test_round_trip_against_reference_writer_and_reader(tmp_path_factory, specs, seed):
    stn = pytest.importorskip("safetensors.numpy")
    rng = np.random.default_rng(seed)
    tensors = {}
    for i, (dt, shape) in enumerate(specs):
        x = np.asarray(rng.standard_normal(shape) * 1000)
        tensors[f"t{i}"] = np.asarray((x > 0) if dt == "bool" else x.astype(dt))
    path = str(tmp_path_factory.mktemp("st") / "r.safetensors")
    stn.save_file(tensors, path)
    ours = read_safetensors(path)
    ref = stn.load_file(path)
    assert set(ours) == set(ref) == set(tensors)
    for k in ref:
        assert ours[k].dtype == ref[k].dtype and ours[k].shape == ref[k].shape, k
        assert ours[k].tobytes() == ref[k].tobytes(), k
