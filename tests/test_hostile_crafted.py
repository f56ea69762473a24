"""Crafted hostile files (issue 15), one per class of attack, built by
tests/fixtures/make_hostile_files.py.

For each file, a test first shows that a naive reader (plain pickle, h5py, zipfile,
tarfile, json, Pillow) really is fooled: it crashes, hangs, reads another file's bytes
or expands a small file a hundredfold. Those run in a child process with a memory
limit and a timeout (``run_limited``), so the demonstration cannot take the suite
down. Then refresnet reads every file in ONE child process (also limited): each must
give a LoadError naming the file and the problem, quickly, and the child must survive
them all, so a regression fails a test instead of killing pytest.
"""

import json
import os
import resource
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from fixtures import make_hostile_files as mk

HOSTILE = mk.HERE
REGEN = "python tests/fixtures/make_hostile_files.py"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: Address-space limit of every child (naive or refresnet): generous for refresnet's
#: own use, small against the bombs (each expands to over 1.6 GB when fooled).
CHILD_MEMORY = 1536 * 2**20
HANG_SECONDS = 3  # a naive reader still busy after this is taken as hung


def hostile(name):
    path = os.path.join(HOSTILE, name)
    if not os.path.exists(path):
        pytest.fail(f"missing fixture {path}; regenerate it with: {REGEN}", pytrace=False)
    return path


def run_limited(code, timeout, memory=CHILD_MEMORY, cwd=None):
    """(returncode or 'timeout', stdout, stderr) of ``python -c code`` under RLIMIT_AS."""

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO, os.path.join(REPO, "tests")]),
               OPENBLAS_NUM_THREADS="1")
    try:
        p = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                           timeout=timeout, preexec_fn=limit, env=env, cwd=cwd)
    except subprocess.TimeoutExpired:
        return "timeout", "", ""
    return p.returncode, p.stdout, p.stderr


# =============================================================================== naive readers fooled
def test_naive_pickle_segfaults_on_a_nested_tuple_dict_key():
    rc, _, err = run_limited(f"""
        import pickle, zipfile
        pickle.loads(zipfile.ZipFile({hostile('nested_tuple_key.pth')!r}).read("archive/data.pkl"))
    """, timeout=30)
    assert rc == -11, (rc, err[-300:])  # SIGSEGV: no exception, the interpreter dies


def test_naive_pickle_segfaults_on_the_legacy_sys_info_set(tmp_path):
    path = mk.build("nested_tuple_set_legacy", tmp_path)
    rc, _, err = run_limited(f"""
        import pickle
        with open({path!r}, "rb") as f:
            u = pickle.Unpickler(f)
            u.load(); u.load(); u.load()   # magic, protocol, sys_info
    """, timeout=30)
    assert rc == -11, (rc, err[-300:])


def test_naive_h5py_follows_an_external_link_into_another_file():
    rc, out, err = run_limited(f"""
        import h5py
        f = h5py.File({hostile('h5_external_link.h5')!r}, "r")
        print(f["conv1/conv1/kernel:0"][()].ravel()[:5].tolist())
    """, timeout=30, cwd=HOSTILE)
    assert rc == 0, err[-300:]
    assert json.loads(out) == [0.0, 1.0, 2.0, 3.0, 4.0]  # extlink_target.h5's "secret"


def test_naive_h5py_reads_etc_passwd_through_external_storage():
    if not os.path.isfile("/etc/passwd") or os.path.getsize("/etc/passwd") < 64:
        pytest.skip("needs a /etc/passwd of at least 64 bytes")
    rc, out, err = run_limited(f"""
        import h5py
        f = h5py.File({hostile('h5_external_storage_passwd.h5')!r}, "r")
        print(f["predictions/predictions/bias:0"][()].tobytes().hex())
    """, timeout=30)
    assert rc == 0, err[-300:]
    with open("/etc/passwd", "rb") as fh:
        assert bytes.fromhex(out.strip()) == fh.read(64)


def test_naive_h5py_reads_a_relative_external_file(tmp_path):
    secret = b"SECRET-BYTES-OUTSIDE-THE-FILE..." * 2
    (tmp_path / "secret.bin").write_bytes(secret)
    sub = tmp_path / "sub"
    sub.mkdir()
    path = mk.build_h5_external_storage(str(sub), target="../secret.bin", name="relative.h5")
    rc, out, err = run_limited(f"""
        import h5py
        print(h5py.File({path!r}, "r")["predictions/predictions/bias:0"][()].tobytes().hex())
    """, timeout=30, cwd=str(sub))
    assert rc == 0, err[-300:]
    assert bytes.fromhex(out.strip()) == secret


def test_naive_h5py_reads_another_file_through_a_virtual_dataset():
    rc, out, err = run_limited(f"""
        import h5py
        print(h5py.File({hostile('h5_virtual.h5')!r}, "r")["fc/fc/bias:0"][()].tolist())
    """, timeout=30, cwd=HOSTILE)
    assert rc == 0, err[-300:]
    assert json.loads(out) == list(range(16))  # vds_source.h5's data


def test_naive_keras_zip_reader_reads_etc_passwd():
    if not os.path.isfile("/etc/passwd") or os.path.getsize("/etc/passwd") < 64:
        pytest.skip("needs a /etc/passwd of at least 64 bytes")
    rc, out, err = run_limited(f"""
        import io, zipfile, h5py
        blob = zipfile.ZipFile({hostile('keras_external_storage.keras')!r}).read("model.weights.h5")
        print(h5py.File(io.BytesIO(blob), "r")["layers/dense/vars/0"][()].tobytes().hex())
    """, timeout=30)
    assert rc == 0, err[-300:]
    with open("/etc/passwd", "rb") as fh:
        assert bytes.fromhex(out.strip()) == fh.read(64)


@pytest.mark.parametrize("name, code", [
    # (file, naive code printing the number of bytes it produced)
    ("h5_gzip_bomb.h5", "import h5py; print(h5py.File(P)['fc/fc/kernel:0'][()].nbytes)"),
    ("h5_hardlink_fanout.h5", "import h5py; f = h5py.File(P); "
     "print(sum(f[n][n + '/kernel:0'][()].nbytes for n in f.attrs['layer_names'].astype(str)))"),
    ("zip_storage_bomb.pth", "import zipfile; print(len(zipfile.ZipFile(P).read('archive/data/0')))"),
    ("zip_byteorder_bomb.pth", "import zipfile; print(len(zipfile.ZipFile(P).read('archive/byteorder')))"),
    ("zip_overlapping_entries.pth", "import zipfile; z = zipfile.ZipFile(P); "
     "i = [x for x in z.infolist() if '/data/' in x.filename]; "
     "assert len({x.header_offset for x in i}) == 1; print(sum(x.file_size for x in i))"),
    ("tar_sparse.tar", "import tarfile; print(len(tarfile.open(P).extractfile('storages').read()))"),
    ("keras_h5_bomb.keras", "import zipfile; print(len(zipfile.ZipFile(P).read('model.weights.h5')))"),
    ("keras_config_bomb.keras", "import zipfile; print(len(zipfile.ZipFile(P).read('config.json')))"),
])
def test_naive_readers_expand_a_small_file_a_hundredfold(name, code):
    path = hostile(name)
    rc, out, err = run_limited(f"P = {path!r}\n{code}", timeout=60)
    assert rc == 0, err[-300:]
    produced = int(out)
    assert produced > 100 * os.path.getsize(path), (produced, os.path.getsize(path))


@pytest.mark.parametrize("name", ["h5_fill_bomb.h5", "h5_huge_shape.h5"])
def test_naive_h5py_runs_out_of_memory_on_declared_sizes(name):
    rc, _, err = run_limited(f"""
        import h5py
        h5py.File({hostile(name)!r}, "r")["fc/fc/kernel:0"][()]
    """, timeout=60)
    assert rc != 0 and "MemoryError" in err, (rc, err[-300:])


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="measures resident size from /proc")
def test_naive_ordereddict_calls_amplify_a_small_pickle(tmp_path):
    path = mk.build("ordereddict_amplification", tmp_path)
    rc, out, err = run_limited(f"""
        import pickle, zipfile
        def rss():  # current resident size (ru_maxrss would carry the forking parent's peak)
            with open("/proc/self/status") as f:
                return next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmRSS:"))
        data = zipfile.ZipFile({path!r}).read("archive/data.pkl")
        before = rss()
        obj = pickle.loads(data)
        print(sum(map(len, obj)), rss() - before)
    """, timeout=60)
    assert rc == 0, err[-300:]
    entries, grown = map(int, out.split())
    assert entries == 40 * 20_000  # 40 copies of one 20,000-entry dict
    assert grown > 100 * os.path.getsize(path), (grown, os.path.getsize(path))


@pytest.mark.parametrize("name, code", [
    ("h5_hardlink_dag.h5", """
        import h5py
        def walk(g):
            for k in g:
                if isinstance(g[k], h5py.Group):
                    walk(g[k])
        walk(h5py.File(P, "r"))
    """),
    ("h5_layer_names_repeat.h5", """
        import h5py
        f = h5py.File(P, "r")
        names = [n for i in range(4) for n in f.attrs[f"layer_names{i}"].astype(str)]
        for n in names:
            f[n][n + "/kernel:0"][()]
    """),
    ("shared_dicts.pth", """
        import pickle, zipfile
        d = pickle.loads(zipfile.ZipFile(P).read("archive/data.pkl"))
        def paths(x, depth):
            return sum(paths(v, depth + 1) for v in x.values()) if isinstance(x, dict) and depth < 3 else 1
        print(paths(d, 0))
    """),
])
def test_naive_readers_hang(name, code):
    rc, out, err = run_limited(f"P = {hostile(name)!r}\n" + textwrap.dedent(code), timeout=HANG_SECONDS)
    assert rc == "timeout", (rc, out[-200:], err[-300:])


def test_naive_pickle_is_quadratic_on_colliding_int_keys(tmp_path):
    path = mk.build("colliding_int_keys", tmp_path)
    rc, _, _ = run_limited(f"""
        import pickle, zipfile
        pickle.loads(zipfile.ZipFile({path!r}).read("archive/data.pkl"))
    """, timeout=HANG_SECONDS)
    assert rc == "timeout"


def test_naive_json_and_safetensors_code_raise_other_exceptions():
    with pytest.raises(RecursionError):
        json.loads(mk._deep_json())
    def st_header(name):
        raw = open(hostile(name), "rb").read()
        return json.loads(raw[8:8 + int.from_bytes(raw[:8], "little")])

    header = st_header("st_dtype_list.safetensors")
    with pytest.raises(TypeError):
        {"F32": "<f4"}[header["w"]["dtype"]]  # a list is unhashable
    header = st_header("st_huge_dim.safetensors")
    with pytest.raises(ValueError):
        np.frombuffer(b"", dtype="<f4").reshape(header["w"]["shape"])
    import zipfile

    cfg = json.loads(zipfile.ZipFile(hostile("keras_config_list.keras")).read("config.json"))
    with pytest.raises(AttributeError):
        [layer.get("config", {}).get("name") for layer in cfg["config"]["layers"]]


def test_naive_open_of_a_fifo_hangs(tmp_path):
    fifo = tmp_path / "evil.jpg"
    os.mkfifo(fifo)
    rc, _, _ = run_limited(f"from PIL import Image; Image.open({str(fifo)!r})", timeout=HANG_SECONDS)
    assert rc == "timeout"


def test_naive_pillow_opens_eps_dds_and_pixel_bombs():
    assert Image.open(hostile("vector.eps.png")).format == "EPS"  # drawing it runs Ghostscript
    with pytest.raises(NotImplementedError):
        Image.open(hostile("texture.dds.jpg"))
    w, h = Image.open(hostile("pixel_bomb.png")).size
    assert w * h < Image.MAX_IMAGE_PIXELS  # Pillow would decode 243 MB without a warning


# =============================================================================== refresnet refuses
#: file -> a phrase its LoadError must contain.
EXPECTED = {
    "nested_tuple_key.pth": "MAX_PICKLE_DEPTH",
    "nested_tuple_sysinfo.pth": "MAX_PICKLE_DEPTH",
    "ordereddict_amplification.pth": "OrderedDict called with arguments",
    "colliding_int_keys.pth": "dict key that is not a string or a small int",
    "shared_dicts.pth": "no state dict found",
    "zip_storage_bomb.pth": "over its budget",
    "zip_byteorder_bomb.pth": "byteorder record",
    "zip_overlapping_entries.pth": "not the name in the central directory",
    "tar_sparse.tar": "sparse",
    "h5_external_link.h5": "external link",
    "h5_external_link_passwd.h5": "external link",
    "h5_soft_link.h5": "soft link",
    "h5_external_storage_passwd.h5": "external file",
    "relative.h5": "external file",
    "h5_virtual.h5": "virtual dataset",
    "keras_external_storage.keras": "external file",
    "h5_gzip_bomb.h5": "over its budget",
    "h5_fill_bomb.h5": "never written",
    "h5_huge_shape.h5": "never written",
    "h5_hardlink_fanout.h5": "also reached as",
    "h5_hardlink_dag.h5": "also reached as",
    "h5_layer_names_repeat.h5": "more than once",
    "h5_unknown_filter.h5": "filter 307",
    "h5_int_weights.h5": "float16/32/64",
    "keras_h5_bomb.keras": "over its budget",
    "keras_config_bomb.keras": "over the 8,388,608-byte limit",
    "keras_deep_config.keras": "MAX_JSON_DEPTH",
    "keras_deep_metadata.keras": "MAX_JSON_DEPTH",
    "keras_config_list.keras": "",  # any LoadError (was an AttributeError)
    "st_dtype_list.safetensors": "unsupported dtype",
    "st_dtype_dict.safetensors": "unsupported dtype",
    "st_huge_dim.safetensors": "MAX_DIM",
    "st_deep_metadata.safetensors": "MAX_JSON_DEPTH",
}
BUILT_AT_TEST_TIME = ("nested_tuple_sysinfo.pth", "ordereddict_amplification.pth", "colliding_int_keys.pth",
                      "relative.h5")
#: Seconds refresnet may take for all files together (each is refused in well under 1 s;
#: the HDF5 ones are read in a child process, ~0.2 s each).
ALL_FILES_SECONDS = 90


@pytest.fixture(scope="module")
def refusals(tmp_path_factory):
    """{file name: (exception type, message, seconds)} from one limited child reading all."""
    tmp = tmp_path_factory.mktemp("hostile")
    paths = {n: os.path.join(HOSTILE, n) for n in EXPECTED if n not in BUILT_AT_TEST_TIME}
    for n in paths.values():
        if not os.path.exists(n):
            pytest.fail(f"missing fixture {n}; regenerate it with: {REGEN}", pytrace=False)
    paths["nested_tuple_sysinfo.pth"] = mk.build("nested_tuple_set_legacy", tmp)
    paths["ordereddict_amplification.pth"] = mk.build("ordereddict_amplification", tmp)
    paths["colliding_int_keys.pth"] = mk.build("colliding_int_keys", tmp)
    (tmp / "secret.bin").write_bytes(b"x" * 64)
    os.makedirs(tmp / "sub", exist_ok=True)
    paths["relative.h5"] = mk.build_h5_external_storage(str(tmp / "sub"), target="../secret.bin", name="relative.h5")
    rc, out, err = run_limited(f"""
        import json, sys, time
        from refresnet.load import read_weights
        for name, path in {paths!r}.items():
            t = time.monotonic()
            try:
                read_weights(path)
                r = ("loaded", "")
            except BaseException as e:
                r = (type(e).__name__, str(e))
            print(json.dumps([name, path, r[0], r[1], time.monotonic() - t]), flush=True)
    """, timeout=ALL_FILES_SECONDS, memory=3 * 2**30)
    results = {}
    for line in out.splitlines():
        name, path, kind, msg, secs = json.loads(line)
        results[name] = (path, kind, msg, secs)
    results["__child__"] = (rc, err[-500:])
    return results


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_refresnet_refuses_with_a_load_error_naming_the_file(refusals, name):
    assert name in refusals, f"the reading child died or hung before this file: {refusals['__child__']}"
    path, kind, msg, secs = refusals[name]
    assert kind == "LoadError", (kind, msg)
    assert path in msg and EXPECTED[name] in msg, msg
    assert "internal error" not in msg, msg
    assert secs < 10, secs


def test_the_reading_child_survived_every_file(refusals):
    assert refusals["__child__"][0] == 0, refusals["__child__"]


def test_budget_message_gives_the_figures(refusals):
    msg = refusals["zip_storage_bomb.pth"][2]
    size = os.path.getsize(hostile("zip_storage_bomb.pth"))
    assert f"{mk.BOMB_BYTES:,} bytes" in msg and f"{size:,} bytes" in msg and "MAX_EXPANSION=16" in msg, msg


# =============================================================================== crash and hang of a reader child
def test_a_crash_in_the_reader_child_is_a_load_error(tmp_path):
    from refresnet.errors import LoadError
    from refresnet.io import isolated as _isolated

    script = tmp_path / "crash.py"
    script.write_text("import ctypes\nctypes.string_at(0)\n")  # a segfault, as libhdf5's
    with pytest.raises(LoadError, match=r"crash\.py: reading the file crashed .*signal SIGSEGV"):
        _isolated.run_child(str(script), "runpy", "run_path")


def test_a_hang_in_the_reader_child_is_a_load_error(tmp_path):
    from refresnet.errors import LoadError
    from refresnet.io import isolated as _isolated

    script = tmp_path / "hang.py"
    script.write_text("while True:\n    pass\n")
    # A busy loop meets its wall-clock timeout or its CPU-time limit (both 2 s), whichever first.
    with pytest.raises(LoadError, match=r"hang\.py: reading the file (did not finish within 2 s|used up its CPU-time "
                                        r"limit of 2 s)"):
        _isolated.run_child(str(script), "runpy", "run_path", timeout=2)


def test_the_reader_child_is_memory_limited(tmp_path):
    from refresnet.errors import LoadError
    from refresnet.io import isolated as _isolated

    script = tmp_path / "greedy.py"
    script.write_text("x = bytearray(4 * 2**30)\n")
    with pytest.raises(LoadError, match=r"greedy\.py: .*memory limit"):
        _isolated.run_child(str(script), "runpy", "run_path", memory=1536 * 2**20)


# =============================================================================== regular files only
@pytest.mark.parametrize("kind", ["fifo", "dev", "dir"])
def test_weights_must_be_a_regular_file(tmp_path, kind):
    from refresnet.errors import LoadError
    from refresnet.load import read_weights

    if kind == "fifo":
        path = str(tmp_path / "w.pth")
        os.mkfifo(path)
    elif kind == "dev":
        path = "/dev/zero"
    else:
        path = str(tmp_path)
    with pytest.raises(LoadError, match="not a weight file"):
        read_weights(path)


def test_open_regular_does_not_block_on_a_fifo_swapped_in(tmp_path, monkeypatch):
    """A FIFO put in place between the stat check and the open: O_NONBLOCK makes the
    open return at once, and fstat refuses it."""
    from refresnet import io as formats
    from refresnet.errors import LoadError

    fifo = tmp_path / "w.pth"
    os.mkfifo(fifo)
    monkeypatch.setattr(formats, "require_file", lambda p, *a, **k: os.fspath(p))  # the stat saw a file
    with pytest.raises(LoadError, match="FIFO"):
        formats.open_regular(fifo)


# =============================================================================== images
def test_images_refused_with_one_line(tmp_path):
    from refresnet.preprocess import ImageError, open_rgb

    fifo = tmp_path / "evil.jpg"
    os.mkfifo(fifo)
    for path, phrase in [(str(fifo), "FIFO"), (hostile("vector.eps.png"), "formats refresnet opens"),
                         (hostile("texture.dds.jpg"), "formats refresnet opens"),
                         (hostile("pixel_bomb.png"), "81,000,000 pixels, over the limit of 64,000,000")]:
        with pytest.raises(ImageError) as e:
            open_rgb(path)
        assert str(e.value).startswith(path) and phrase in str(e.value) and "\n" not in str(e.value)


def test_pixel_limit_can_be_raised(tmp_path, monkeypatch):
    from refresnet import preprocess
    from refresnet.preprocess import ImageError, open_rgb

    p = tmp_path / "a.png"
    Image.new("RGB", (100, 80)).save(p)
    with pytest.raises(ImageError, match="8,000 pixels, over the limit of 5,000"):
        open_rgb(p, max_pixels=5000)
    monkeypatch.setenv("REFRESNET_MAX_IMAGE_PIXELS", "5000")
    with pytest.raises(ImageError, match="REFRESNET_MAX_IMAGE_PIXELS"):
        open_rgb(p)
    monkeypatch.setenv("REFRESNET_MAX_IMAGE_PIXELS", "8000")
    assert open_rgb(p)[0].size == (100, 80)
    monkeypatch.delenv("REFRESNET_MAX_IMAGE_PIXELS")
    assert preprocess.max_image_pixels() == preprocess.MAX_IMAGE_PIXELS < Image.MAX_IMAGE_PIXELS


def test_predict_dir_goes_on_past_a_fifo_and_crafted_images(tmp_path):
    d = tmp_path / "imgs"
    d.mkdir()
    os.mkfifo(d / "evil.jpg")
    for n in ("vector.eps.png", "texture.dds.jpg"):
        (d / n).write_bytes(open(hostile(n), "rb").read())
    Image.new("RGB", (40, 40), (200, 10, 10)).save(d / "good.png")
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.run([sys.executable, "-m", "refresnet", "predict", str(d), "--weights",
                        "synthetic:cifar_resnet20", "--json"], capture_output=True, text=True, timeout=120, env=env)
    assert p.returncode == 2, p.stderr
    results = [json.loads(line) for line in p.stdout.splitlines()]
    assert [os.path.basename(r["image"]) for r in results] == ["good.png"]
    errors = [line for line in p.stderr.splitlines() if "WARNING" not in line]
    for n in ("evil.jpg", "vector.eps.png", "texture.dds.jpg"):
        assert sum(n in line for line in errors) == 1, p.stderr
    assert "Traceback" not in p.stderr


# =============================================================================== the last guard
def test_last_guard_turns_a_bug_into_a_load_error_but_lets_ctrl_c_through(tmp_path):
    from refresnet.errors import LoadError
    from refresnet.io import guarded

    def buggy():
        raise AttributeError("'NoneType' object has no attribute 'shape'")

    with pytest.raises(LoadError, match=r"x\.pth: internal error reading this file: AttributeError: .*"
                                        r"this is a refresnet bug, please report it"):
        guarded("x.pth", buggy)

    def interrupted():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        guarded("x.pth", interrupted)
    with pytest.raises(LoadError, match="more memory"):
        guarded("x.pth", lambda: bytearray(2**62))


def test_real_keras_file_with_its_classifier_bias_over_etc_passwd(tmp_path):
    """The issue's case on a real layout: a Keras 3 ResNet-20 .weights.h5 (rebuilt from
    the committed skeleton of a real file) whose classifier bias is external storage
    over /etc/passwd. h5py hands out the passwd bytes as the bias; refresnet refuses."""
    import h5py

    from fixtures import keras_skeleton as ks
    from fixtures.paths import fixture_file
    from fixtures.synthetic import weights_from_npz
    from refresnet.errors import LoadError
    from refresnet.load import load

    if not os.path.isfile("/etc/passwd") or os.path.getsize("/etc/passwd") < 40:
        pytest.skip("needs a /etc/passwd of at least 40 bytes")
    regen = "PYTHONPATH=. /work/venv-tf/bin/python tests/fixtures/make_keras_cifar_fixtures.py"
    skel = ks.load(fixture_file("keras_cifar", "resnet20.k3_weights_h5.skel.json.gz", regen))
    path = str(tmp_path / "resnet20.weights.h5")
    ks.materialise(skel, weights_from_npz(fixture_file("keras_cifar", "resnet20_weights.npz", regen)), path)
    load(path)  # the untouched file loads
    with h5py.File(path, "a") as f:
        del f["layers/dense/vars/1"]
        f["layers/dense/vars"].create_dataset("1", shape=(10,), dtype="<f4", external=[("/etc/passwd", 0, 40)])
    with h5py.File(path, "r") as f:
        with open("/etc/passwd", "rb") as fh:
            assert f["layers/dense/vars/1"][()].tobytes() == fh.read(40)  # naive h5py is fooled
    with pytest.raises(LoadError) as e:
        load(path)
    assert str(e.value).startswith(path) and "/etc/passwd" in str(e.value) and "external" in str(e.value)
