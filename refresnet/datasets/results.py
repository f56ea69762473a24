"""The results file of a run: one JSON line per image (resumable, locked while a
run appends) and the optional .npy store of every image's full output."""

import json
import os
import stat
import struct

import numpy as np

from ..errors import ResultsError
from ..io import open_regular

STORE_KINDS = ("logits", "probabilities")
# The store's .npy header is written at this fixed length (a multiple of 64, as
# numpy/lib/format.py aligns its own headers) so that it can be rewritten in place
# with the new row count after every batch.
NPY_HEADER_BYTES = 128

# Every line refresnet writes begins so (json.dumps of a dict whose first key is
# "image"): an existing --out that does not is some other file, and is left alone.
RECORD_START = b'{"image": '
# Results lines nest three deep ({"predictions": [{...}]}); a line nested deeper than
# this is refused before json.loads, whose C scanner recurses once per level (a line
# of 100,000 "[" would end in RecursionError).
MAX_JSON_DEPTH = 32
# The depth scan works through a long line in pieces of this many bytes.
DEPTH_SCAN_CHUNK = 2**20

try:  # POSIX advisory lock against two runs appending to one file
    import fcntl
except ImportError:  # pragma: no cover (Windows)
    fcntl = None


# ------------------------------------------------------------------ the store
def store_path(out, kind):
    """results.jsonl -> results.<kind>.npy"""
    base = out[: -len(".jsonl")] if out.endswith(".jsonl") else out
    return f"{base}.{kind}.npy"


def _npy_header(rows, width):
    d = "{'descr': '<f8', 'fortran_order': False, 'shape': (%d, %d), }" % (rows, width)
    body = d.encode("latin1")
    pad = NPY_HEADER_BYTES - 10 - len(body) - 1
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", NPY_HEADER_BYTES - 10) + body + b" " * pad + b"\n"


class NpyStore:
    """An append-only float64 .npy of ``width`` columns whose header (fixed length) is
    rewritten with the row count after each append, so np.load reads it at any time."""

    def __init__(self, path, width):
        self.path, self.width = path, width
        if os.path.exists(path):
            self.f = open(path, "r+b")
            self.available = self._check()
        else:
            self.f = open(path, "w+b")
            self.f.write(_npy_header(0, width))
            self.f.flush()
            self.available = 0
        self.rows = self.available

    def _check(self):
        f = self.f
        try:
            version = np.lib.format.read_magic(f)
            if version != (1, 0):
                raise ValueError(f"format version {version}, refresnet writes 1.0")
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        except (ValueError, OSError, SyntaxError) as err:
            raise ResultsError(f"{self.path}: not a .npy store written by refresnet ({err})") from None
        if f.tell() != NPY_HEADER_BYTES or dtype != np.dtype("<f8") or fortran or len(shape) != 2 or shape[1] != self.width:
            raise ResultsError(
                f"{self.path}: expected a float64 store of {self.width} columns written by refresnet, "
                f"found {dtype} {shape}; use another --out or delete it"
            )
        size = os.fstat(f.fileno()).st_size
        return (size - NPY_HEADER_BYTES) // (8 * self.width)

    def truncate(self, rows):
        """Keep the first ``rows`` rows (rows a killed run wrote without their line go)."""
        self.f.truncate(NPY_HEADER_BYTES + rows * 8 * self.width)
        self.f.seek(0)
        self.f.write(_npy_header(rows, self.width))
        self.f.flush()
        self.rows = rows

    def append(self, block):
        block = np.ascontiguousarray(block, dtype="<f8").reshape(-1, self.width)
        self.f.seek(0, os.SEEK_END)
        self.f.write(block.tobytes())
        self.rows += block.shape[0]
        self.f.seek(0)
        self.f.write(_npy_header(self.rows, self.width))
        self.f.flush()

    def close(self):
        self.f.close()


# ------------------------------------------------------------------ the results file
def _results_error(path, reason):
    return ResultsError(f"{path}: {reason}")


def read_results(path):
    """The complete records of a results JSONL (a partial last line, from a killed
    run, is left out). Raises ResultsError naming the file and line."""
    try:
        with open_regular(path, error=_results_error, what="results file") as f:
            data = f.read()
    except OSError as err:
        raise ResultsError(f"{path}: cannot read the results file ({err.strerror})") from None
    return [rec for rec, _, _ in _parse_lines(path, data[: data.rfind(b"\n") + 1])]


def too_deep(line, limit=MAX_JSON_DEPTH):
    """True when the JSON text ``line`` (bytes) opens more than ``limit`` arrays and
    objects inside one another, found without parsing it: the brackets outside
    strings are counted, in pieces (so a huge line costs no more than one piece of
    memory). A line with at most ``limit`` brackets needs no scan.

    Strings: escaped backslashes are dropped first, then escaped quotes, so that every
    quote left opens or closes a string (outside strings valid JSON has no backslash),
    and a bracket is inside a string when an odd number of quotes precede it."""
    if line.count(b"[") + line.count(b"{") <= limit:
        return False
    text = line.replace(b"\\\\", b"").replace(b'\\"', b"")
    depth, quotes = 0, 0
    for start in range(0, len(text), DEPTH_SCAN_CHUNK):
        a = np.frombuffer(text, np.uint8, count=min(DEPTH_SCAN_CHUNK, len(text) - start), offset=start)
        q = np.cumsum(a == ord('"')) + quotes
        outside = (q & 1) == 0
        step = (((a == ord("[")) | (a == ord("{"))) & outside).astype(np.int64) - (((a == ord("]")) | (a == ord("}"))) & outside)
        levels = np.cumsum(step) + depth
        if levels.max() > limit:
            return True
        depth, quotes = int(levels[-1]), int(q[-1])
    return False


def _parse_lines(path, data):
    """[(record, offset just past its line, line number)] of complete JSONL ``data``."""
    records, offset = [], 0
    for n, line in enumerate(data.split(b"\n")[:-1], 1):
        offset += len(line) + 1
        if not line.strip():
            continue
        if too_deep(line):
            raise ResultsError(f"{path}: line {n} nests deeper than {MAX_JSON_DEPTH} arrays or objects; "
                               "not a refresnet results file, or damaged")
        try:
            rec = json.loads(line)
        except RecursionError:  # a damaged string the scan read as text: the same answer
            raise ResultsError(f"{path}: line {n} nests too deeply; not a refresnet results file, or damaged") from None
        except ValueError:  # also UnicodeDecodeError, and ints of over 4300 digits
            raise ResultsError(f"{path}: line {n} is not JSON; not a refresnet results file, or damaged") from None
        if not isinstance(rec, dict) or not isinstance(rec.get("image"), str):
            raise ResultsError(f"{path}: line {n} has no \"image\"; not a refresnet results file")
        records.append((rec, offset, n))
    return records


def _short(value):
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _open_for_appending(out):
    """``out`` opened for reading and appending (created if missing), only if it is a
    regular file: opened non-blocking (a FIFO would otherwise block the first read
    forever), fstat-checked, then switched back to blocking."""
    flags = os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(out, flags, 0o666)
    except OSError as err:
        raise ResultsError(f"{out}: cannot open the results file for appending ({err.strerror})") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ResultsError(f"{out}: not a regular file (a FIFO, device or socket); --out names the results file "
                               "to write or resume")
        if fcntl is not None:
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        return os.fdopen(fd, "a+b")
    except BaseException:
        os.close(fd)
        raise


class ResultsFile:
    """The JSONL (and optional store) of one run, opened for appending after whatever
    a previous run completed."""

    def __init__(self, out, identity, store=None, width=None):
        self.out, self.identity = out, identity
        self.f = _open_for_appending(out)
        if fcntl is not None:
            try:
                fcntl.flock(self.f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                self.f.close()
                raise ResultsError(f"{out}: another run is writing this file (it is locked)") from None
        try:
            self._open(store, width)
        except BaseException:
            self.close()
            raise

    def _open(self, store, width):
        # Only a refresnet results file is ever appended to or cut: anything else
        # named by --out (a file of other content, with or without a newline) is
        # refused before a byte of it changes.
        self.f.seek(0)
        head = self.f.read(len(RECORD_START))
        if head and not (head.startswith(RECORD_START) or RECORD_START.startswith(head)):
            raise ResultsError(f"{self.out}: not a refresnet results file (it does not begin with "
                               f"{RECORD_START.decode()}...); it is left as it is: use another --out")
        self.f.seek(0)
        data = self.f.read()
        complete = data[: data.rfind(b"\n") + 1]
        tail = data[len(complete):]
        # A killed run leaves at most a partial last line, which the next run cuts:
        # only the start of a record is cut, never other bytes.
        if tail and not (tail.startswith(RECORD_START) or RECORD_START.startswith(tail)):
            raise ResultsError(f"{self.out}: its last {len(tail)} bytes (after its last newline) are not the start of "
                               "a refresnet results line; not a refresnet results file, or damaged: it is left as it "
                               "is, use another --out")
        parsed = _parse_lines(self.out, complete)
        records = [rec for rec, _, _ in parsed]
        for rec, _, line in parsed:
            for key, value in self.identity.items():
                if rec.get(key) != value:
                    raise ResultsError(
                        f"{self.out}: line {line} was written with {key} {_short(rec.get(key))}, this run has "
                        f"{_short(value)}; use another --out or delete the file"
                    )
        rows = [r.get("row") for r in records if r.get("status") == "ok"]
        if store is None and any(r is not None for r in rows):
            raise ResultsError(f"{self.out}: written with a --store; pass the same --store to resume it")
        if store is not None and rows and rows[0] is None:
            raise ResultsError(f"{self.out}: written without --store; resume it without --store, or use another --out")
        self.store = None
        keep = len(records)
        if store is not None and rows and not os.path.exists(store_path(self.out, store)):
            other = [k for k in STORE_KINDS if k != store and os.path.exists(store_path(self.out, k))]
            hint = f"; it was written with --store {other[0]}" if other else ""
            raise ResultsError(f"{self.out}: its records point at a store, but {store_path(self.out, store)} does not exist{hint}")
        if store is not None:
            self.store = NpyStore(store_path(self.out, store), width)
            # Rows are written before their lines: rows without a line are a killed
            # run's and go; a line whose row is missing (only a hand-edited or
            # half-copied file has one) goes with everything after it.
            expected = 0
            for n, rec in enumerate(records):
                if rec.get("status") != "ok":
                    continue
                if rec.get("row") != expected:
                    raise ResultsError(f"{self.out}: line {parsed[n][2]} points at store row {_short(rec.get('row'))}, "
                                       f"expected {expected}")
                if expected >= self.store.available:
                    keep = n
                    break
                expected += 1
            self.store.truncate(expected)
        end = parsed[keep - 1][1] if keep else 0
        if end != len(data):
            self.f.truncate(end)
        self.f.seek(0, os.SEEK_END)
        records = records[:keep]
        self.done = {r["image"] for r in records}
        self.failed_before = sum(1 for r in records if r.get("status") == "failed")

    def write(self, records, outputs):
        """Append ``records`` (dicts); ``outputs`` are the store rows of the ok ones."""
        if self.store is not None and outputs:
            first = self.store.rows
            self.store.append(np.stack(outputs))
            k = 0
            for rec in records:
                if rec["status"] == "ok":
                    rec["row"] = first + k
                    k += 1
        self.f.write(b"".join(json.dumps(r).encode() + b"\n" for r in records))
        self.f.flush()

    def close(self):
        if getattr(self, "store", None) is not None:
            self.store.close()
        self.f.close()
