"""Hostile, damaged and forged weight files: each must raise LoadError naming the file,
and nothing from the file may run.

Hostile pickles are assembled here opcode by opcode (``P``), with plain ``pickle``,
``zipfile`` and ``struct``; no torch needed. Where a payload is meant to run code,
the test first proves with plain ``pickle.loads`` that it really does (it creates a
marker file), so "the marker was not created" is a meaningful assertion.
"""

import json
import os
import pickle
import struct
import zipfile

import numpy as np
import pytest

from refresnet.errors import LoadError
from refresnet.io import safetensors_file, torch_pickle
from refresnet.io.safetensors_file import read_safetensors
from refresnet.io.torch_containers import LEGACY_MAGIC, LEGACY_PROTOCOL, read_torch_file

from fixtures.paths import fixture_file  # noqa: E402

FIX = os.path.join(os.path.dirname(__file__), "fixtures", "torch_files")
REGEN = "/work/venv-torch/bin/python tests/fixtures/make_torch_files.py"


def fixture(name):
    return fixture_file("torch_files", name, REGEN)


# ---------------------------------------------------------------------------------
# A tiny pickle assembler (protocol 2 opcodes, as torch writes them).
# ---------------------------------------------------------------------------------
class P:
    PROTO = b"\x80\x02"
    STOP = b"."
    MARK = b"("
    TUPLE = b"t"
    EMPTY_TUPLE = b")"
    EMPTY_DICT = b"}"
    EMPTY_LIST = b"]"
    SETITEM = b"s"
    SETITEMS = b"u"
    APPEND = b"a"
    REDUCE = b"R"
    BUILD = b"b"
    BINPERSID = b"Q"
    NEWFALSE = b"\x89"

    @staticmethod
    def str(s):
        b = s.encode()
        return b"X" + struct.pack("<I", len(b)) + b

    @staticmethod
    def int(i):
        return b"J" + struct.pack("<i", i)

    @staticmethod
    def long(i):
        b = i.to_bytes((i.bit_length() + 8) // 8, "little", signed=True)
        return b"\x8a" + bytes([len(b)]) + b

    @staticmethod
    def glob(module, name):
        return b"c" + module.encode() + b"\n" + name.encode() + b"\n"

    @staticmethod
    def tuple(*items):
        return P.MARK + b"".join(items) + P.TUPLE

    @staticmethod
    def call(module, name, *args):
        return P.glob(module, name) + P.tuple(*args) + P.REDUCE

    @staticmethod
    def dict(**items):
        return P.EMPTY_DICT + P.MARK + b"".join(P.str(k) + v for k, v in items.items()) + P.SETITEMS

    @staticmethod
    def pickle(body):
        return P.PROTO + body + P.STOP


def storage_pid(stype="FloatStorage", key="0", numel=4, legacy_view=False):
    items = [P.str("storage"), P.glob("torch", stype), P.str(key), P.str("cpu"), P.int(numel)]
    if legacy_view is not False:
        items.append(b"N" if legacy_view is None else legacy_view)
    return P.tuple(*items) + P.BINPERSID


def tensor_v2(pid, offset, size, stride):
    return P.call(
        "torch._utils", "_rebuild_tensor_v2",
        pid, P.int(offset), P.tuple(*map(P.int, size)), P.tuple(*map(P.int, stride)),
        P.NEWFALSE, P.call("collections", "OrderedDict"),
    )


def write_torch_zip(path, data_pkl, records=None, prefix="archive"):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"{prefix}/data.pkl", data_pkl)
        z.writestr(f"{prefix}/byteorder", b"little")
        for k, v in (records or {}).items():
            z.writestr(f"{prefix}/data/{k}", v)
        z.writestr(f"{prefix}/version", b"3\n")
    return str(path)


def write_legacy(path, main_pickle, keys=(), storages=(), magic=LEGACY_MAGIC):
    sys_info = {"protocol_version": LEGACY_PROTOCOL, "little_endian": True,
                "type_sizes": {"short": 2, "int": 4, "long": 4}}
    parts = [pickle.dumps(magic, 2), pickle.dumps(LEGACY_PROTOCOL, 2), pickle.dumps(sys_info, 2),
             main_pickle, pickle.dumps(list(keys), 2)]
    parts += list(storages)
    with open(path, "wb") as f:
        f.write(b"".join(parts))
    return str(path)


def assert_load_error(fn, path, *needles):
    with pytest.raises(LoadError) as info:
        fn(path)
    msg = str(info.value)
    assert os.path.basename(str(path)) in msg, msg
    for n in needles:
        assert n in msg, msg
    return msg


# ---------------------------------------------------------------------------------
# Code-execution payloads.
# ---------------------------------------------------------------------------------
def exec_payloads(marker):
    """(label, pickle body, global named in the error) that would create ``marker``."""
    code = f"open({str(marker)!r}, 'w').close()"
    return [
        ("os_system", P.call("os", "system", P.str(f"touch '{marker}'")), "os.system"),
        ("posix_system", P.call("posix", "system", P.str(f"touch '{marker}'")), "posix.system"),
        ("builtins_exec", P.call("builtins", "exec", P.str(code)), "builtins.exec"),
        ("builtins_eval", P.call("builtins", "eval", P.str(code)), "builtins.eval"),
        ("py2_builtin_eval", P.call("__builtin__", "eval", P.str(code)), "__builtin__.eval"),
        ("subprocess", P.call("subprocess", "call", P.tuple(P.str("touch"), P.str(str(marker)))),
         "subprocess.call"),
    ]


class _Evil:
    """An object whose __reduce__ runs a command: what a malicious pickle.dumps writes."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


PAYLOAD_LABELS = [p[0] for p in exec_payloads("x")]


@pytest.mark.parametrize("label", PAYLOAD_LABELS)
def test_payloads_really_execute_under_plain_pickle(tmp_path, label):
    # Proves the hostile files below are live: without the safe unpickler they run.
    marker = tmp_path / "ran"
    body = dict((p[0], p[1]) for p in exec_payloads(marker))[label]
    pickle.loads(P.pickle(body))
    assert marker.exists()


@pytest.mark.parametrize("label", PAYLOAD_LABELS)
def test_zip_data_pkl_with_code_global_is_refused_before_running(tmp_path, label):
    marker = tmp_path / "ran"
    _, body, name = dict((p[0], p) for p in exec_payloads(marker))[label]
    path = write_torch_zip(tmp_path / f"{label}.pth", P.pickle(body))
    assert_load_error(read_torch_file, path, name)
    assert not marker.exists()


@pytest.mark.parametrize("label", PAYLOAD_LABELS)
def test_payload_hidden_after_a_real_tensor_is_refused_before_running(tmp_path, label):
    # A valid tensor first, the payload as the second dict value.
    marker = tmp_path / "ran"
    _, evil, name = dict((p[0], p) for p in exec_payloads(marker))[label]
    body = P.dict(w=tensor_v2(storage_pid(numel=4), 0, (4,), (1,)), evil=evil)
    path = write_torch_zip(tmp_path / "hidden.pth", P.pickle(body), {"0": b"\0" * 16})
    assert_load_error(read_torch_file, path, name)
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_reduce_trick_written_by_pickle_dumps_is_refused(tmp_path, protocol):
    # pickle.dumps of an object with a malicious __reduce__; protocol 4+ uses
    # STACK_GLOBAL, which only find_class (not the opcode pre-scan) can see.
    marker = tmp_path / "ran"
    data = pickle.dumps({"conv1.weight": _Evil(marker)}, protocol=protocol)
    pickle.loads(data)
    assert marker.exists()
    marker.unlink()
    path = write_torch_zip(tmp_path / "reduce.pth", data)
    msg = assert_load_error(read_torch_file, path, "system")
    assert "refusing global" in msg
    assert not marker.exists()


@pytest.mark.parametrize("where", ["main", "magic", "keys"])
def test_legacy_file_with_malicious_pickle_is_refused(tmp_path, where):
    marker = tmp_path / "ran"
    evil = P.pickle(P.call("os", "system", P.str(f"touch '{marker}'")))
    good_main = pickle.dumps({}, 2)
    if where == "main":
        path = write_legacy(tmp_path / "legacy.pth", evil)
    elif where == "keys":
        path = str(tmp_path / "legacy.pth")
        write_legacy(path, good_main)
        head = open(path, "rb").read()
        with open(path, "wb") as f:  # replace the trailing key-list pickle
            f.write(head[: -len(pickle.dumps([], 2))] + evil)
    else:
        path = str(tmp_path / "legacy.pth")
        with open(path, "wb") as f:
            f.write(evil + pickle.dumps(LEGACY_PROTOCOL, 2))
    assert_load_error(read_torch_file, path, "os.system")
    assert not marker.exists()


def test_real_torch_save_of_a_module_is_refused_with_advice():
    # whole_model.pth = torch.save(torch.nn.Linear(2, 2)), written by the fixture script.
    msg = assert_load_error(read_torch_file, fixture("whole_model.pth"),
                            "torch.nn.modules.linear.Linear", "model.state_dict()")
    assert "not a state dict" in msg


def test_hand_built_module_pickle_is_refused_with_advice(tmp_path):
    body = P.glob("torch.nn.modules.conv", "Conv2d") + P.EMPTY_TUPLE + b"\x81" + P.EMPTY_DICT + P.BUILD
    path = write_torch_zip(tmp_path / "model.pt", P.pickle(body))
    assert_load_error(read_torch_file, path, "torch.nn.modules.conv.Conv2d", "state_dict()")


def test_legacy_module_persistent_id_is_refused(tmp_path):
    # Legacy torch.save(model) also writes ('module', cls, file, source) ids.
    body = P.tuple(P.str("module"), P.str("Net"), P.str("net.py"), P.str("")) + P.BINPERSID
    path = write_legacy(tmp_path / "m.pth", P.pickle(body))
    assert_load_error(read_torch_file, path, "model.state_dict()")


@pytest.mark.parametrize("module,name", [
    ("argparse", "Namespace"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy", "dtype"),
    ("torch", "load"),
    ("torch._utils", "_rebuild_qtensor"),
    ("torch.serialization", "_get_layout"),
    ("collections", "OrderedDict.fromkeys"),
    ("builtins", "getattr"),
    ("copyreg", "_reconstructor"),
])
def test_other_globals_are_refused_by_name(tmp_path, module, name):
    body = P.dict(args=P.glob(module, name) + P.EMPTY_TUPLE + P.REDUCE)
    path = write_torch_zip(tmp_path / "g.pth", P.pickle(body))
    assert_load_error(read_torch_file, path, f"{module}.{name}")


def test_build_on_an_allowed_function_is_refused(tmp_path):
    # BUILD with slot state would setattr() on our rebuild function (e.g. __defaults__).
    state = P.tuple(b"N", P.dict(__defaults__=P.tuple(P.int(1))))
    body = P.glob("torch._utils", "_rebuild_tensor_v2") + state + P.BUILD
    path = write_torch_zip(tmp_path / "b.pth", P.pickle(body))
    assert_load_error(read_torch_file, path)
    assert torch_pickle._rebuild_tensor_v2.__defaults__ == (None,)


def test_huge_memo_index_is_refused_without_allocating(tmp_path):
    body = P.EMPTY_DICT + b"r" + struct.pack("<I", 0xFFFFFFF0)  # LONG_BINPUT 4e9
    path = write_torch_zip(tmp_path / "memo.pth", P.pickle(body))
    assert_load_error(read_torch_file, path, "memo index")


def test_deeply_nested_containers_are_refused(tmp_path):
    n = 100_000
    path = write_torch_zip(tmp_path / "deep.pth", P.pickle(P.EMPTY_LIST * n + P.APPEND * (n - 1)))
    assert_load_error(read_torch_file, path, "nest")


def test_stride_zero_expansion_bomb_is_refused(tmp_path):
    body = P.dict(w=tensor_v2(storage_pid(numel=1), 0, (10**6, 10**6), (0, 0)))
    path = write_torch_zip(tmp_path / "bomb.pth", P.pickle(body), {"0": b"\0" * 4})
    assert_load_error(read_torch_file, path, "MAX_TENSOR_BYTES", "'w'")


# ---------------------------------------------------------------------------------
# Damaged and forged torch files.
# ---------------------------------------------------------------------------------
def test_missing_and_empty_and_directory(tmp_path):
    assert_load_error(read_torch_file, tmp_path / "nope.pth", "no such file")
    (tmp_path / "empty.pth").write_bytes(b"")
    assert_load_error(read_torch_file, tmp_path / "empty.pth", "empty")
    (tmp_path / "d.pth").mkdir()
    assert_load_error(read_torch_file, tmp_path / "d.pth", "directory")


@pytest.mark.parametrize("name", ["tiny_zip.pth", "tiny_legacy.pth", "dtypes_legacy.pth", "checkpoint.pth.tar"])
def test_truncated_real_files(tmp_path, name):
    data = open(fixture(name), "rb").read()
    cuts = sorted({1, 2, 7, 30, 100, len(data) // 3, len(data) // 2, len(data) - 100, len(data) - 22,
                   len(data) - 9, len(data) - 1})
    for cut in cuts:
        path = tmp_path / f"cut{cut}_{name}"
        path.write_bytes(data[:cut])
        assert_load_error(read_torch_file, path)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("head", [b"", b"\x80\x02", b"PK\x03\x04"])
def test_random_bytes(tmp_path, seed, head):
    data = head + np.random.default_rng(seed).bytes(3000)
    path = tmp_path / f"random{seed}.pth"
    path.write_bytes(data)
    assert_load_error(read_torch_file, path)


def test_zip_without_data_pkl(tmp_path):
    path = tmp_path / "nopkl.pth"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/version", b"3\n")
    assert_load_error(read_torch_file, path, "data.pkl")


def test_zip_with_two_data_pkl_is_ambiguous(tmp_path):
    path = tmp_path / "two.pth"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("a/data.pkl", pickle.dumps({}, 2))
        z.writestr("b/data.pkl", pickle.dumps({}, 2))
    assert_load_error(read_torch_file, path, "several data.pkl")


def test_storage_shorter_than_tensor_names_the_tensor(tmp_path):
    body = P.dict(**{"layer1.0.conv1.weight": tensor_v2(storage_pid(numel=4), 0, (10,), (1,))})
    path = write_torch_zip(tmp_path / "short.pth", P.pickle(body), {"0": b"\0" * 16})
    assert_load_error(read_torch_file, path, "'layer1.0.conv1.weight'", "4 elements", "needs 10")


def test_storage_offset_past_the_end(tmp_path):
    body = P.dict(w=tensor_v2(storage_pid(numel=4), 3, (2,), (1,)))
    path = write_torch_zip(tmp_path / "off.pth", P.pickle(body), {"0": b"\0" * 16})
    assert_load_error(read_torch_file, path, "'w'", "needs 5")


def test_record_shorter_than_declared_storage(tmp_path):
    body = P.dict(w=tensor_v2(storage_pid(numel=4), 0, (4,), (1,)))
    path = write_torch_zip(tmp_path / "rec.pth", P.pickle(body), {"0": b"\0" * 10})
    assert_load_error(read_torch_file, path, "10 bytes", "needs 16")


def test_missing_storage_record(tmp_path):
    body = P.dict(w=tensor_v2(storage_pid(numel=4), 0, (4,), (1,)))
    path = write_torch_zip(tmp_path / "norec.pth", P.pickle(body), {})
    assert_load_error(read_torch_file, path, "data/0", "missing")


def test_negative_stride_is_refused(tmp_path):
    body = P.dict(w=tensor_v2(storage_pid(numel=4), 3, (4,), (-1,)))
    path = write_torch_zip(tmp_path / "neg.pth", P.pickle(body), {"0": b"\0" * 16})
    assert_load_error(read_torch_file, path, "negative")


@pytest.mark.parametrize("stype", ["QInt8Storage", "ComplexFloatStorage", "NoSuchStorage"])
def test_unknown_storage_type(tmp_path, stype):
    body = P.dict(w=tensor_v2(storage_pid(stype=stype, numel=4), 0, (4,), (1,)))
    path = write_torch_zip(tmp_path / "st.pth", P.pickle(body), {"0": b"\0" * 16})
    assert_load_error(read_torch_file, path, f"torch.{stype}")


def test_same_key_declared_with_two_types(tmp_path):
    body = P.dict(a=tensor_v2(storage_pid("FloatStorage", numel=4), 0, (4,), (1,)),
                  b=tensor_v2(storage_pid("LongStorage", numel=2), 0, (2,), (1,)))
    path = write_torch_zip(tmp_path / "k.pth", P.pickle(body), {"0": b"\0" * 16})
    assert_load_error(read_torch_file, path, "declared both")


def test_bad_byteorder_record(tmp_path):
    path = tmp_path / "bo.pth"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("x/data.pkl", pickle.dumps({}, 2))
        z.writestr("x/byteorder", b"middle")
    assert_load_error(read_torch_file, path, "byteorder")


def test_malformed_pickle(tmp_path):
    path = write_torch_zip(tmp_path / "bad.pth", b"\x80\x02}q\x00(X\x05\x00\x00\x00ab")
    assert_load_error(read_torch_file, path)
    path = write_torch_zip(tmp_path / "bad2.pth", P.pickle(P.call("torch._utils", "_rebuild_tensor_v2", P.int(1))))
    assert_load_error(read_torch_file, path, "_rebuild_tensor_v2")


def test_legacy_bad_magic_and_protocol(tmp_path):
    path = write_legacy(tmp_path / "magic.pth", pickle.dumps({}, 2), magic=12345)
    assert_load_error(read_torch_file, path, "magic")
    path = tmp_path / "proto.pth"
    path.write_bytes(pickle.dumps(LEGACY_MAGIC, 2) + pickle.dumps(999, 2))
    assert_load_error(read_torch_file, path, "protocol")


def _legacy_one_tensor(tmp_path, count, nbytes, keys=("k0",)):
    main = P.pickle(P.dict(w=tensor_v2(storage_pid(key="k0", numel=4, legacy_view=None), 0, (4,), (1,))))
    return write_legacy(tmp_path / "l.pth", main, keys, [struct.pack("<q", count), b"\0" * nbytes])


def test_legacy_hand_built_file_reads(tmp_path):
    # The well-formed variant of the forged files below (guards against a test that
    # only ever sees failures).
    out = read_torch_file(_legacy_one_tensor(tmp_path, 4, 16))
    assert out["w"].dtype == np.float32 and out["w"].tolist() == [0, 0, 0, 0]


def test_legacy_truncated_storage(tmp_path):
    assert_load_error(read_torch_file, _legacy_one_tensor(tmp_path, 4, 10), "truncated inside storage")


def test_legacy_storage_count_mismatch(tmp_path):
    assert_load_error(read_torch_file, _legacy_one_tensor(tmp_path, 3, 16), "holds 3 elements")


def test_legacy_key_list_mismatch(tmp_path):
    assert_load_error(read_torch_file, _legacy_one_tensor(tmp_path, 4, 16, keys=("k9",)), "key list")


# ---------------------------------------------------------------------------------
# safetensors.
# ---------------------------------------------------------------------------------
def write_st(path, header, data, raw_len=None):
    h = header if isinstance(header, bytes) else json.dumps(header).encode()
    n = len(h) if raw_len is None else raw_len
    path.write_bytes(struct.pack("<Q", n) + h + data)
    return str(path)


def _f32(name, shape, begin, end):
    return {name: {"dtype": "F32", "shape": shape, "data_offsets": [begin, end]}}


SAFETENSORS_CASES = {
    # name: (header, data, expected text in the message)
    "huge_header_size": (b"{}", b"", "MAX_HEADER_SIZE", 2**62),
    "header_past_eof": (b"{}", b"", "truncated", 1000),
    "not_json": (b"{not json", b"", "JSON", None),
    "not_object_start": (b"[1, 2]", b"", "start with", None),
    "bad_utf8": (b"{\xff\xfe}", b"", "UTF-8", None),
    "overlap": ({**_f32("a", [2], 0, 8), **_f32("b", [2], 4, 12)}, b"\0" * 12, "'b'", None),
    "gap": ({**_f32("a", [2], 0, 8), **_f32("b", [2], 12, 20)}, b"\0" * 20, "contiguous", None),
    "out_of_bounds": (_f32("a", [4], 0, 16), b"\0" * 8, "16 bytes of data", None),
    "trailing_bytes": (_f32("a", [2], 0, 8), b"\0" * 12, "holds 12", None),
    "shape_bytes_mismatch": (_f32("w", [3], 0, 8), b"\0" * 8, "needs 12", None),
    "overflowing_shape": (_f32("w", [2**40, 2**40, 2**40], 0, 8), b"\0" * 8, "'w'", None),
    "reversed_offsets": (_f32("w", [0], 8, 0), b"\0" * 8, "'w'", None),
    "negative_dim": (_f32("w", [-2], 0, 8), b"\0" * 8, "shape", None),
    "bool_dim": ({"w": {"dtype": "F32", "shape": [True], "data_offsets": [0, 4]}}, b"\0" * 4, "shape", None),
    "unknown_dtype": ({"w": {"dtype": "F7", "shape": [1], "data_offsets": [0, 8]}}, b"\0" * 8, "'F7'", None),
    "complex_dtype": ({"w": {"dtype": "C64", "shape": [1], "data_offsets": [0, 8]}}, b"\0" * 8, "'C64'", None),
    "missing_field": ({"w": {"dtype": "F32", "shape": [1]}}, b"\0" * 4, "data_offsets", None),
    "bad_metadata": ({"__metadata__": {"a": 1}}, b"", "__metadata__", None),
    "duplicate_key": (b'{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, '
                      b'"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}', b"\0" * 4,
                      "duplicate", None),
}


@pytest.mark.parametrize("case", sorted(SAFETENSORS_CASES))
def test_hostile_safetensors(tmp_path, case):
    header, data, needle, raw_len = SAFETENSORS_CASES[case]
    path = write_st(tmp_path / f"{case}.safetensors", header, data, raw_len)
    assert_load_error(read_safetensors, path, needle)


@pytest.mark.parametrize("case", sorted(set(SAFETENSORS_CASES) - {"duplicate_key", "complex_dtype"}))
def test_reference_safetensors_also_refuses_our_hostile_cases(tmp_path, case):
    # The reference implementation agrees that each of these files is invalid. Ours
    # alone: duplicate keys (its JSON parser keeps the last) and complex dtypes (valid
    # safetensors, but no ResNet weight is complex).
    st = pytest.importorskip("safetensors.numpy")
    header, data, _, raw_len = SAFETENSORS_CASES[case]
    path = write_st(tmp_path / f"{case}.safetensors", header, data, raw_len)
    with pytest.raises(Exception):
        st.load_file(path)


def test_safetensors_too_small_and_empty_and_missing(tmp_path):
    (tmp_path / "e.safetensors").write_bytes(b"")
    assert_load_error(read_safetensors, tmp_path / "e.safetensors", "too small")
    (tmp_path / "s.safetensors").write_bytes(b"\x02\0\0")
    assert_load_error(read_safetensors, tmp_path / "s.safetensors", "too small")
    assert_load_error(read_safetensors, tmp_path / "none.safetensors", "no such file")


def test_truncated_real_safetensors(tmp_path):
    data = open(fixture("tiny.safetensors"), "rb").read()
    for cut in (1, 8, 9, 50, len(data) // 2, len(data) - 1):
        path = tmp_path / f"cut{cut}.safetensors"
        path.write_bytes(data[:cut])
        assert_load_error(read_safetensors, path)


def test_header_limit_is_the_reference_value():
    assert safetensors_file.MAX_HEADER_SIZE == 100_000_000
