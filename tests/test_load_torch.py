"""read_torch_file / extract_state_dict against files written by torch itself.

Fixtures: tests/fixtures/torch_files/*.pth, written by torch.save in
tests/fixtures/make_torch_files.py; expected.npz holds the tensors as NumPy wrote them
from torch (never from refresnet). Comparisons are bit for bit, dtype and shape
included: a reader either gets the bytes right or it is wrong.
"""

import collections
import io
import os
import pickle
import struct
import tarfile
import zipfile

import numpy as np
import pytest

from refresnet.errors import LoadError
from refresnet.io.torch_containers import read_torch_file
from refresnet.io.torch_state_dict import extract_state_dict

FIX = os.path.join(os.path.dirname(__file__), "fixtures", "torch_files")
REGEN = "/work/venv-torch/bin/python tests/fixtures/make_torch_files.py"
SEP = "::"


def fixture(name):
    path = os.path.join(FIX, name)
    if not os.path.exists(path):
        pytest.fail(f"missing fixture {path}; regenerate with: {REGEN}")
    return path


@pytest.fixture(scope="module")
def expected():
    with np.load(fixture("expected.npz")) as z:
        return {k: z[k] for k in z.files}


def expected_for(expected, fname):
    pre = fname + SEP
    out = {k[len(pre):]: v for k, v in expected.items() if k.startswith(pre)}
    assert out, f"expected.npz has nothing for {fname}; regenerate with: {REGEN}"
    return out


def assert_same(ours, ref, name):
    assert isinstance(ours, np.ndarray), name
    assert ours.dtype == ref.dtype, (name, ours.dtype, ref.dtype)
    assert ours.shape == ref.shape, (name, ours.shape, ref.shape)
    # Bit-exact (NaN-safe): compare the bytes.
    assert ours.tobytes() == np.ascontiguousarray(ref).tobytes(), name
    assert ours.flags.c_contiguous and ours.flags.owndata or ours.base is not None, name


def test_fixture_records_the_writer_version(expected):
    assert str(expected["torch_version"]).startswith("2.")


@pytest.mark.parametrize("fname", [
    "tiny_zip.pth", "tiny_legacy.pth", "tiny_fileobj.pt",
    "dtypes_zip.pth", "dtypes_legacy.pth", "views_zip.pth", "views_legacy.pth",
])
def test_reads_torch_written_files_bit_for_bit(expected, fname):
    ref = expected_for(expected, fname)
    got = read_torch_file(fixture(fname))
    assert list(got) == list(ref)  # same keys, same order
    for k, v in ref.items():
        assert_same(got[k], v, k)
        assert got[k].flags.c_contiguous


def test_state_dict_comes_back_as_ordered_dict_with_scalars_and_counters(expected):
    got = read_torch_file(fixture("tiny_zip.pth"))
    assert type(got) is collections.OrderedDict
    assert got["scale"].shape == () and got["scale"] == np.float32(2.5)
    assert got["bn1.num_batches_tracked"].dtype == np.int64 and got["bn1.num_batches_tracked"] == 1
    # Calibrated statistics, not the 0/1 defaults that would hide a mixed-up record.
    assert not np.all(got["bn1.running_mean"] == 0)


def test_zip_root_folder_is_found_not_assumed():
    names = zipfile.ZipFile(fixture("tiny_zip.pth")).namelist()
    assert names[0].startswith("tiny_zip/")
    names = zipfile.ZipFile(fixture("tiny_fileobj.pt")).namelist()
    assert names[0].startswith("archive/")


def test_zip_with_renamed_root_folder_reads_the_same(tmp_path, expected):
    src = zipfile.ZipFile(fixture("tiny_zip.pth"))
    path = tmp_path / "renamed.pth"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            dst.writestr("some.other-root/" + info.filename.split("/", 1)[1], src.read(info))
    got = read_torch_file(path)
    for k, v in expected_for(expected, "tiny_zip.pth").items():
        assert_same(got[k], v, k)


def test_big_endian_byteorder_record_is_honoured(tmp_path, expected):
    # views_zip.pth holds only float32 storages: byteswap every record in 4-byte words
    # and mark the archive big-endian, as torch writes it on a big-endian machine.
    src = zipfile.ZipFile(fixture("views_zip.pth"))
    path = tmp_path / "big.pth"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if "/data/" in info.filename:
                data = np.frombuffer(data, "<f4").astype(">f4").tobytes()
            elif info.filename.endswith("/byteorder"):
                data = b"big"
            dst.writestr(info.filename, data)
    got = read_torch_file(path)
    for k, v in expected_for(expected, "views_zip.pth").items():
        assert_same(got[k], v, k)


@pytest.mark.parametrize("fmt", ["zip", "legacy"])
def test_views_and_shared_storages(expected, fmt):
    got = read_torch_file(fixture(f"views_{fmt}.pth"))
    assert np.array_equal(got["transposed"], got["base"].T)
    assert np.array_equal(got["strided"], got["base"][1:, ::2])
    assert got["expanded"].shape == (3, 4) and np.all(got["expanded"] == got["expanded"][:, :1])
    # Each array owns its memory: writing one never changes a tensor that shared its storage.
    before = got["base"].copy()
    got["transposed"][...] = 0
    assert np.array_equal(got["base"], before)


def test_neg_bit_metadata_negates_values(expected):
    # torch._neg_view stores the un-negated data and sets metadata {'neg': True}.
    raw = zipfile.ZipFile(fixture("views_zip.pth"))
    assert any(b"neg" in raw.read(n) for n in raw.namelist() if n.endswith("data.pkl"))
    got = read_torch_file(fixture("views_zip.pth"))
    assert_same(got["negview"], expected["views_zip.pth::negview"], "negview")


def test_bfloat16_widens_exactly_and_float16_stays(expected):
    got = read_torch_file(fixture("dtypes_zip.pth"))
    assert got["bf16"].dtype == np.float32
    # Every bfloat16 value is a float32 whose low 16 bits are zero.
    assert np.all(got["bf16"].view(np.uint32) & 0xFFFF == 0)
    assert got["f16"].dtype == np.float16
    assert got["empty"].shape == (0, 3)


def test_parameters_are_plain_arrays(expected):
    got = read_torch_file(fixture("params_zip.pth"))
    assert_same(got["w"], expected["params_zip.pth::w"], "w")
    assert isinstance(got["list"], list)
    assert_same(got["list"][0], expected["params_zip.pth::list.0"], "list.0")


def test_training_checkpoint_structure_is_preserved(expected):
    got = read_torch_file(fixture("checkpoint.pth.tar"))
    assert got["epoch"] == 3 and got["arch"] == "tiny" and got["best_acc1"] == 12.5
    opt = got["optimizer"]
    assert isinstance(opt["param_groups"], list) and opt["param_groups"][0]["lr"] == 0.1
    assert_same(opt["state"][0]["momentum_buffer"],
                expected["checkpoint.pth.tar::optimizer.state.0.momentum_buffer"], "momentum")
    assert all(k.startswith("module.") for k in got["state_dict"])


def test_extract_state_dict_unwraps_checkpoint_and_strips_module(expected):
    path = fixture("checkpoint.pth.tar")
    sd = extract_state_dict(read_torch_file(path), path)
    ref = expected_for(expected, "checkpoint.pth.tar")
    ref.pop("optimizer.state.0.momentum_buffer")
    assert list(sd) == list(ref)
    for k, v in ref.items():
        assert_same(sd[k], v, k)


def test_extract_state_dict_of_a_plain_state_dict_is_itself(expected):
    path = fixture("tiny_zip.pth")
    obj = read_torch_file(path)
    sd = extract_state_dict(obj, path)
    assert list(sd) == list(obj) and all(sd[k] is obj[k] for k in obj)


A = np.zeros(2)


@pytest.mark.parametrize("wrapper", ["state_dict", "model", "model_state_dict", "net", "anything"])
def test_extract_state_dict_wrappers(wrapper):
    ck = {"epoch": 1, wrapper: {"conv1.weight": A, "fc.bias": A}, "optimizer": {"state": {}, "param_groups": []}}
    assert list(extract_state_dict(ck, "ck.pth")) == ["conv1.weight", "fc.bias"]


def test_extract_state_dict_prefers_model_over_ema_and_strips_prefixes():
    ck = {"model_ema": {"a": A}, "model": {"module._orig_mod.a": A, "module._orig_mod.b": A}}
    assert list(extract_state_dict(ck, "ck.pth")) == ["a", "b"]


def test_extract_state_dict_strips_module_only_when_every_key_has_it():
    sd = extract_state_dict({"module.a": A, "b": A}, "x.pth")
    assert list(sd) == ["module.a", "b"]


def test_extract_state_dict_drops_only_plain_metadata():
    sd = extract_state_dict({"a": A, "b": A, "epoch": 3, "note": "x", "c": A}, "x.pth")
    assert list(sd) == ["a", "b", "c"]
    with pytest.raises(LoadError, match=r"x\.pth: tensor 'd'"):
        extract_state_dict({"a": A, "b": A, "d": [1, 2]}, "x.pth")


@pytest.mark.parametrize("obj,needle", [
    ({"epoch": 3, "optimizer": {"state": {}}}, "no state dict found"),
    ({"a": {"w": A}, "b": {"w": A}}, "several dicts of tensors"),
    ([A, A], "list"),
    (A, "single tensor"),
    ({1: A, 2: A}, "not a string"),
])
def test_extract_state_dict_errors_name_the_file(obj, needle):
    with pytest.raises(LoadError, match=needle) as info:
        extract_state_dict(obj, "/some/dir/ckpt.pth")
    assert "ckpt.pth" in str(info.value)


# ---------------------------------------------------------------------------------
# Pre-0.4 tar layout, assembled here from torch serialization.py's reader
# (legacy_load, tar branch): no torch >= 0.4 can write it.
# ---------------------------------------------------------------------------------
def _pickle_with_global(obj, placeholder, module, name):
    data = pickle.dumps(obj, 2)
    enc = placeholder.encode()
    op = b"X" + struct.pack("<I", len(enc)) + enc
    assert data.count(op) == 1
    return data.replace(op, b"c" + module.encode() + b"\n" + name.encode() + b"\n")


def _tar_file(path, values):
    """values: 1-D float32 array stored as storage 'S1'; tensors 'T1' = values[1:5]
    viewed 2x2 and 'T2' = values[::2] (a strided view)."""
    storages = pickle.dumps(1, 2)
    storages += _pickle_with_global(("S1", "cpu", "@ST"), "@ST", "torch", "FloatStorage")
    storages += struct.pack("<q", values.size) + values.astype("<f4").tobytes()
    storages += pickle.dumps([], 2)
    tensors = pickle.dumps(2, 2)
    for key, size, stride, off in (("T1", (2, 2), (2, 1), 1), ("T2", ((values.size + 1) // 2,), (2,), 0)):
        tensors += _pickle_with_global((key, "S1", "@TT"), "@TT", "torch", "FloatTensor")
        tensors += struct.pack("<i", len(size)) + b"\0" * 4
        tensors += struct.pack(f"<{len(size)}q", *size) + struct.pack(f"<{len(size)}q", *stride)
        tensors += struct.pack("<q", off)
    # The main pickle refers to tensors by persistent id = their key.
    main = pickle.dumps(collections.OrderedDict(a="@T1", b="@T2"), 2)
    for key in ("T1", "T2"):
        enc = f"@{key}".encode()
        main = main.replace(b"X" + struct.pack("<I", len(enc)) + enc, b"X" + struct.pack("<I", 2) + key.encode() + b"Q")
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in (("sys_info", pickle.dumps({}, 2)), ("pickle", main), ("storages", storages),
                           ("tensors", tensors)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return str(path)


def test_pre_0_4_tar_layout(tmp_path):
    values = np.arange(7, dtype=np.float32) * 1.5
    got = read_torch_file(_tar_file(tmp_path / "old.pth", values))
    assert type(got) is collections.OrderedDict
    assert_same(got["a"], values[1:5].reshape(2, 2), "a")
    assert_same(got["b"], values[::2], "b")


def test_pre_0_4_tar_layout_truncated(tmp_path):
    path = _tar_file(tmp_path / "old.pth", np.arange(7, dtype=np.float32))
    data = open(path, "rb").read()
    with tarfile.open(path) as tar:  # cut inside each member's header and data
        members = tar.getmembers()
    cuts = [m.offset + 100 for m in members] + [m.offset_data + m.size // 2 for m in members]
    for cut in cuts:
        p = tmp_path / f"cut{cut}.pth"
        p.write_bytes(data[:cut])
        with pytest.raises(LoadError, match=f"cut{cut}.pth"):
            read_torch_file(p)


# ---------------------------------------------------------------------------------
# Live: random files written by the installed torch (skipped without torch).
# ---------------------------------------------------------------------------------
LIVE_DTYPES = ["float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool"]


def _torch_random_state(torch, seed):
    g = torch.Generator().manual_seed(seed)
    out = collections.OrderedDict()
    for i, name in enumerate(LIVE_DTYPES):
        dt = getattr(torch, name)
        shape = tuple(torch.randint(0, 5, (i % 4,), generator=g).tolist())
        x = torch.randn(shape, generator=g) * 100
        out[f"t{i}.{name}"] = x.to(dt) if dt.is_floating_point else (x > 0 if dt == torch.bool else x.to(dt))
    base = torch.randn(5, 7, generator=g)
    out["view.t"] = base.t()
    out["view.slice"] = base[1:4, 2::3]
    out["view.base"] = base
    return out


@pytest.mark.torch
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("legacy", [False, True])
def test_live_random_files_match_torch_bit_for_bit(tmp_path, seed, legacy):
    torch = pytest.importorskip("torch")
    sd = _torch_random_state(torch, seed)
    path = tmp_path / "r.pth"
    torch.save(sd, path, _use_new_zipfile_serialization=not legacy)
    got = read_torch_file(path)
    back = torch.load(path, weights_only=True)
    for k, t in back.items():
        ref = t.float().numpy() if t.dtype == torch.bfloat16 else t.contiguous().numpy()
        assert_same(got[k], ref, k)


@pytest.mark.torch
def test_live_torchvision_resnet18_state_dict(tmp_path):
    torch = pytest.importorskip("torch")
    tv = pytest.importorskip("torchvision")
    sd = tv.models.resnet18(weights=None).state_dict()
    path = tmp_path / "resnet18.pth"
    torch.save(sd, path)
    got = extract_state_dict(read_torch_file(path), path)
    assert list(got) == list(sd)
    for k, t in sd.items():
        assert_same(got[k], t.numpy(), k)


@pytest.mark.parametrize("fname", ["views_zip.pth", "views_legacy.pth", "tiny_zip.pth", "tiny_legacy.pth"])
def test_no_two_returned_arrays_share_memory(fname):
    # Whole-storage tensors keep the buffer their storage was read into; every other
    # tensor is a copy, so no two results may alias.
    got = list(read_torch_file(fixture(fname)).values())
    for i in range(len(got)):
        for j in range(i + 1, len(got)):
            assert not np.shares_memory(got[i], got[j]), (i, j)


@pytest.mark.parametrize("protocol", [0, 1, 2, 4, 5])
def test_plain_containers_in_any_pickle_protocol(tmp_path, protocol):
    # torch.save(pickle_protocol=...) may use any protocol; text opcodes included.
    obj = {"epoch": 3, "name": "r", "nested": [1.5, (2, None)], "flag": True}
    path = tmp_path / "plain.pth"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps(obj, protocol=protocol))
    assert read_torch_file(path) == obj
