"""The array files compare and agree read (compare --input / --activations, agree
--framework) under hostile input (issue 21): refresnet.io.arrays reads regular files
only, checks an .npz's declared sizes against its budget before inflating, and an
.npy header against the bytes that follow it.

The crafted files are made here at test time: a deflate bomb (~2 MB inflating to
2 GiB), a FIFO named like an array, headers that lie. The CLI runs on them in a
child process with a timeout, which reports its peak resident memory.
"""

import io
import os
import struct
import subprocess
import sys
import time
import zipfile
import zlib

import numpy as np
import pytest

from refresnet.errors import ArrayFileError
from refresnet.io import arrays

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECONDS = 15  # the most a refusal may take (issue 21), measured inside the child
MEMORY_MB = 700  # plus 4x the file's size (issue 21)

_LOCAL = struct.Struct("<4s5H3L2H")  # zip local file header (APPNOTE 4.3.7)
_CENTRAL = struct.Struct("<4s6H3L5H2L")  # central directory header (4.3.12)
_END = struct.Struct("<4s4H2LH")  # end of central directory record (4.3.16)


def npy_header(shape, descr="<f8"):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def write_zip(path, members):
    """A zip of ``members``: (name, raw deflate stream, crc32, uncompressed size,
    declared uncompressed size), written by hand so that the deflate stream need
    not be produced by compressing the whole payload, and sizes can lie."""
    with open(path, "wb") as f:
        central = []
        for name, data, crc, _, declared in members:
            offset = f.tell()
            n = name.encode()
            f.write(_LOCAL.pack(b"PK\x03\x04", 20, 0, 8, 0, 0x21, crc, len(data), declared, len(n), 0) + n)
            f.write(data)
            central.append(_CENTRAL.pack(b"PK\x01\x02", 20, 20, 0, 8, 0, 0x21, crc, len(data), declared, len(n),
                                         0, 0, 0, 0, 0, offset) + n)
        start = f.tell()
        for c in central:
            f.write(c)
        f.write(_END.pack(b"PK\x05\x06", 0, 0, len(central), len(central), f.tell() - start, start, 0))


def deflate_zeros(header, total):
    """(raw deflate stream, crc32) of ``header`` followed by zeros up to ``total``
    bytes. Each 1 MiB block of zeros ends with a full flush, which resets the
    compressor, so every block compresses to the same bytes: compressed once,
    repeated (~1 kB per MiB: a deflate bomb's ratio)."""
    chunk = 1 << 20
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = c.compress(header) + c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(bytes(chunk)) + c.flush(zlib.Z_FULL_FLUSH)
    again = c.compress(bytes(chunk)) + c.flush(zlib.Z_FULL_FLUSH)
    assert block == again  # the trick holds
    n, rest = divmod(total - len(header), chunk)
    tail = c.compress(bytes(rest)) + c.flush()
    crc = zlib.crc32(header)
    zeros = bytes(chunk)
    for _ in range(n):
        crc = zlib.crc32(zeros, crc)
    crc = zlib.crc32(bytes(rest), crc)
    return first + block * n + tail, crc


def make_bomb(path, gib=2):
    """An .npz whose one member, x.npy, inflates to ``gib`` GiB of float64 zeros
    (a valid archive: sizes and CRC true), from a file of ~1 MB per GiB."""
    total = (gib << 30) - 4096
    header = npy_header(((total - 128) // 8,))
    header = npy_header(((total - len(header)) // 8,))
    data, crc = deflate_zeros(header, total)
    write_zip(path, [("x.npy", data, crc, total, total)])
    return path


@pytest.fixture(scope="module")
def bomb(tmp_path_factory):
    return str(make_bomb(tmp_path_factory.mktemp("bomb") / "bomb.npz"))


def run_cli(args, timeout=120):
    """Run ``python -m refresnet ARGS`` in a child: (exit status, stderr, seconds
    inside cli.main, peak resident MB). A hang is the timeout's failure."""
    # Peak memory from /proc's VmHWM, which belongs to the child's own address
    # space: Linux carries ru_maxrss across exec, so the child's getrusage would
    # report the test process's peak at the fork.
    code = ("import sys, time\n"
            "from refresnet import cli\n"
            "t = time.monotonic()\n"
            "rc = cli.main(sys.argv[1:])\n"
            "t = time.monotonic() - t\n"
            "kb = next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:'))\n"
            "print(f'CHILD {t} {kb}', file=sys.stderr)\n"
            "sys.exit(rc)\n")
    if not os.path.exists("/proc/self/status"):
        pytest.skip("the child's peak memory is read from /proc/self/status (Linux)")
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=timeout, env=env)
    lines = r.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("CHILD "), r.stderr
    _, seconds, kb = lines[-1].split()
    return r.returncode, "\n".join(lines[:-1]), float(seconds), int(kb) / 1024


def test_the_bomb_is_real(bomb):
    # a valid archive declaring 2 GiB from ~2 MB, which zipfile would inflate whole
    size = os.path.getsize(bomb)
    with zipfile.ZipFile(bomb) as z:
        [info] = z.infolist()
        assert info.file_size == (2 << 30) - 4096 and info.compress_size == size - 30 - 5 - 46 - 5 - 22
        with z.open(info) as m:
            head = m.read(1 << 20)  # the start inflates (the CRC is checked only at the end)
    assert head.startswith(b"\x93NUMPY") and size < 4 << 20


def test_a_deflate_bomb_npz_is_refused_before_inflating(bomb):
    t = time.monotonic()
    with pytest.raises(ArrayFileError, match=r"bomb\.npz: member 'x\.npy': declares 2147479552 bytes uncompressed.*"
                                             r"refusing to inflate it"):
        arrays.read_npz(bomb)
    assert time.monotonic() - t < 1.0


def test_compare_activations_bomb_exits_2_in_bounded_time_and_memory(bomb, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((1, 3, 32, 32), np.float32))
    rc, err, seconds, mb = run_cli(["compare", "--weights", "synthetic:resnet18", "--input", str(tmp_path / "x.npy"),
                                    "--activations", bomb])
    assert rc == 2 and len(err.splitlines()) == 1, err
    assert f"--activations {bomb}: member 'x.npy': declares" in err
    assert seconds < SECONDS and mb < MEMORY_MB + 4 * os.path.getsize(bomb) / 2**20, (seconds, mb)


def test_compare_input_fifo_is_refused_at_once(tmp_path):
    fifo = tmp_path / "x.npy"
    os.mkfifo(fifo)  # nobody writes to it: opening it for reading would wait forever
    np.savez(tmp_path / "a.npz", conv1=np.zeros((1, 64, 16, 16), np.float32))
    rc, err, seconds, _ = run_cli(["compare", "--weights", "synthetic:resnet18", "--input", str(fifo),
                                   "--activations", str(tmp_path / "a.npz")])
    assert rc == 2 and f"--input {fifo}: a FIFO (named pipe), not a regular file" in err, err
    assert seconds < SECONDS


def test_fifo_and_directory_and_device_are_not_regular_files(tmp_path):
    os.mkfifo(tmp_path / "p.npz")
    t = time.monotonic()
    with pytest.raises(ArrayFileError, match="p.npz: a FIFO"):
        arrays.read_npz(tmp_path / "p.npz")
    with pytest.raises(ArrayFileError, match="a directory, not a regular file"):
        arrays.read_npy(tmp_path)
    if os.path.exists("/dev/zero"):
        with pytest.raises(ArrayFileError, match="/dev/zero: a device, not a regular file"):
            arrays.read_npy("/dev/zero")  # would otherwise read forever
    assert time.monotonic() - t < 1.0


def test_a_member_whose_npy_header_announces_more_than_its_size_is_refused(tmp_path):
    # a 1 kB member whose header announces 8 GB: NumPy would allocate from the header
    header = npy_header((1 << 30,))
    payload = header + bytes(1024)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = c.compress(payload) + c.flush()
    write_zip(tmp_path / "liar.npz", [("x.npy", data, zlib.crc32(payload), len(payload), len(payload))])
    with pytest.raises(ArrayFileError, match=r"liar\.npz: member 'x\.npy': header announces float64 \(1073741824,\) "
                                             r"\(8589934592 bytes\), but 1024 bytes of data follow it"):
        arrays.read_npz(tmp_path / "liar.npz")
    # the same in a plain .npy
    (tmp_path / "liar.npy").write_bytes(payload)
    with pytest.raises(ArrayFileError, match=r"liar\.npy: header announces"):
        arrays.read_npy(tmp_path / "liar.npy")


def test_a_member_declaring_less_than_it_inflates_to_is_stopped_at_its_declared_size(tmp_path):
    # declared 1,000 bytes (within budget) but the stream inflates to 64 MiB: zipfile
    # stops inflating at the declared size, where the CRC of what it got fails
    total = 64 << 20
    header = npy_header(((total - 128) // 8,))
    data, crc = deflate_zeros(header, total)
    write_zip(tmp_path / "short.npz", [("x.npy", data, crc, total, 1000)])
    t = time.monotonic()
    with pytest.raises(ArrayFileError, match=r"short\.npz: member 'x\.npy': cannot read the array \(Bad CRC-32"):
        arrays.read_npz(tmp_path / "short.npz")
    assert time.monotonic() - t < 1.0


def test_object_arrays_and_other_members_are_refused(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ArrayFileError, match="holds Python objects, which would need pickle"):
        arrays.read_npy(tmp_path / "obj.npy")
    with zipfile.ZipFile(tmp_path / "extra.npz", "w") as z:
        z.writestr("notes.txt", "hello")
    with pytest.raises(ArrayFileError, match="member 'notes.txt': not a .npy array"):
        arrays.read_npz(tmp_path / "extra.npz")


def test_too_many_members_are_refused_from_the_directory_record(tmp_path, monkeypatch):
    monkeypatch.setattr(arrays, "MAX_MEMBERS", 3)
    np.savez(tmp_path / "many.npz", **{f"a{i}": np.zeros(2) for i in range(4)})
    with pytest.raises(ArrayFileError, match="lists 4 members"):
        arrays.read_npz(tmp_path / "many.npz")


def test_ordinary_files_read_as_numpy_reads_them(tmp_path):
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.save(tmp_path / "a.npy", a)
    np.savez(tmp_path / "s.npz", a=a, b=np.float64(2.5))
    np.savez_compressed(tmp_path / "c.npz", a=a, z=np.zeros((0, 3)))
    np.save(tmp_path / "f.npy", np.asfortranarray(a))
    assert np.array_equal(arrays.read_npy(tmp_path / "a.npy"), a) and arrays.read_npy(tmp_path / "a.npy").dtype == a.dtype
    assert np.array_equal(arrays.read_npy(tmp_path / "f.npy"), a)
    for name in ("s.npz", "c.npz"):
        got = arrays.read_npz(tmp_path / name)
        with np.load(tmp_path / name) as want:
            assert sorted(got) == sorted(want.files)
            for k in want.files:
                assert np.array_equal(got[k], want[k]) and got[k].dtype == want[k].dtype
    with pytest.raises(ArrayFileError, match="a single .npy array, not an .npz"):
        arrays.read_npz(tmp_path / "a.npy")
    with pytest.raises(ArrayFileError, match=r"s\.npz: not a \.npy array"):
        arrays.read_npy(tmp_path / "s.npz")
