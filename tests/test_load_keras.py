"""refresnet.io.keras_file against the layouts real Keras writes.

Each skeleton in tests/fixtures/keras/ was dumped from a file written by real Keras 3
or tf_keras (tests/fixtures/make_keras_fixtures.py); it is rebuilt here with the
synthetic weights, without TensorFlow. The skeleton says, for every dataset, which
synthetic tensor fills it (found by matching values in the real file, not by our
reader), so the reader's names and roles are checked against what Keras wrote.
"""

import json
import os
import zipfile

import h5py
import numpy as np
import pytest

from fixtures import keras_skeleton as ks
from fixtures.keras_fixture import arch_weights, fixture
from refresnet.errors import LoadError
from refresnet.io.keras_file import read_keras_file


ARCHS = ["resnet50", "resnet50v2", "resnet101", "resnet101v2", "resnet152", "resnet152v2"]
WRITERS = {
    # tag: (suffix, format, writer)
    "k3_weights_h5": (".weights.h5", "weights.h5", "keras3"),
    "k3_keras": (".keras", "keras", "keras3"),
    "tfk_weights_h5": (".h5", "h5-weights", "tf_keras"),
    "tfk_model_h5": (".h5", "h5-model", "tf_keras"),
}
CASES = [(a, w) for a in ARCHS for w in WRITERS] + [("resnet50_old", "old_keras2_h5"), ("resnet50_old", "old_keras1_h5")]




def skeleton(arch, tag):
    return ks.load(fixture(f"{arch}.{tag}.skel.json.gz"))


def _attr(node, name):
    for rec in node["attrs"]:
        if rec["name"] == name:
            return rec
    return None


def _datasets(skel):
    """{dataset path: dataset record} of a skeleton's (only) HDF5 file."""
    h5 = skel if skel["kind"] == "h5" else next(m["h5"] for m in skel["members"] if "h5" in m)
    out = {}

    def walk(node, path):
        for name, child in node["children"]:
            if "dataset" in child:
                out[f"{path}/{name}"] = child["dataset"]
            else:
                walk(child, f"{path}/{name}")

    walk(h5["root"], "")
    return out, h5


def materialised(tmp_path, arch, tag, dtype=None):
    skel = skeleton(arch, tag)
    suffix = WRITERS.get(tag, (".h5",))[0]
    return ks.materialise(skel, arch_weights(arch), tmp_path / f"{arch}{suffix}", dtype=dtype), skel


def _slow(arch):
    return [pytest.mark.slow] if arch.startswith(("resnet101", "resnet152")) else []


# --------------------------------------------------------------------------- real layouts
@pytest.mark.parametrize("arch,tag", [pytest.param(a, t, marks=_slow(a), id=f"{a}-{t}") for a, t in CASES])
def test_reads_every_real_keras_layout_bit_for_bit(tmp_path, arch, tag):
    path, skel = materialised(tmp_path, arch, tag)
    kw = read_keras_file(path)
    dsets, h5 = _datasets(skel)
    root = h5["root"]

    # format and version, as the writer recorded them
    if tag in WRITERS:
        assert kw.format == WRITERS[tag][1]
    else:
        assert kw.format == "h5-weights"
    if tag == "k3_weights_h5":
        assert kw.keras_version is None  # the file records none
    elif tag == "k3_keras":
        meta = json.loads(next(m["text"] for m in skel["members"] if m["name"] == "metadata.json"))
        assert kw.keras_version == meta["keras_version"] == skel["meta"]["keras"]
    elif tag == "old_keras1_h5":
        assert kw.keras_version is None
    elif tag == "old_keras2_h5":
        assert kw.keras_version == "2.2.4"
    else:
        assert kw.keras_version == skel["meta"]["tf_keras"]

    # naming
    assert kw.naming == ("keras-old" if arch == "resnet50_old" else "keras")

    # layer order: legacy layer_names; .keras config.json; none for a bare .weights.h5
    if tag == "k3_weights_h5":
        assert kw.layer_order is None
    elif tag == "k3_keras":
        config = json.loads(next(m["text"] for m in skel["members"] if m["name"] == "config.json"))
        assert kw.layer_order == [l["config"]["name"] for l in config["config"]["layers"]]
        assert kw.model_config == config
    else:
        group = root if tag != "tfk_model_h5" else dict(root["children"])["model_weights"]
        assert kw.layer_order == _attr(group, "layer_names")["value"]
        if tag == "tfk_model_h5":
            assert kw.model_config == json.loads(_attr(root, "model_config")["value"][0])
        else:
            assert kw.model_config is None

    # every weight: exactly the synthetic tensor the real file held there
    want = {d["fill"]: d for d in dsets.values() if "fill" in d}
    assert set(kw.weights) == set(want)
    ref = arch_weights(arch)
    for key, d in want.items():
        got = kw.weights[key]
        assert got.dtype == np.dtype(d["dtype"]), key
        expect = np.asarray(ref[key]).astype(d["dtype"])
        assert got.shape == expect.shape and np.array_equal(got, expect), key


def test_keras1_running_std_is_read_as_moving_variance(tmp_path):
    path, skel = materialised(tmp_path, "resnet50_old", "old_keras1_h5")
    dsets, _ = _datasets(skel)
    # the dataset Keras 1 calls bn_conv1_running_std holds what Keras 3 calls moving_variance
    assert dsets["/bn_conv1/bn_conv1_running_std:0"]["fill"] == "bn_conv1/moving_variance"
    kw = read_keras_file(path)
    with h5py.File(path) as f:
        assert np.array_equal(kw.weights["bn_conv1/moving_variance"], f["bn_conv1/bn_conv1_running_std:0"][()])
        assert np.array_equal(kw.weights["res2a_branch2a/kernel"], f["res2a_branch2a/res2a_branch2a_W:0"][()])
    assert "conv1/kernel" in kw.weights and "fc1000/kernel" in kw.weights
    assert kw.weights["fc1000/kernel"].shape == (2048, 1000)


def test_old_names_follow_keras_applications_1_0_8(tmp_path):
    # keras-applications 1.0.8 resnet50.py: conv_name_base = 'res' + str(stage) + block
    # + '_branch', bn_name_base = 'bn' + ...; '2a'/'2b'/'2c' main path, '1' shortcut.
    kw = read_keras_file(materialised(tmp_path, "resnet50_old", "old_keras2_h5")[0])
    layers = {k.rsplit("/", 1)[0] for k in kw.weights}
    expect = {"conv1", "bn_conv1", "fc1000"}
    for stage, n in zip("2345", (3, 4, 6, 3)):
        for letter in "abcdef"[:n]:
            for br in ("2a", "2b", "2c") + (("1",) if letter == "a" else ()):
                expect |= {f"res{stage}{letter}_branch{br}", f"bn{stage}{letter}_branch{br}"}
    assert layers == expect
    assert kw.weights["res3a_branch1/kernel"].shape == (1, 1, 256, 512)
    assert kw.weights["bn5c_branch2c/gamma"].shape == (2048,)


# The counter rule is the same at every depth: a v1 and a v2 file cover both naming
# patterns (the 101/152-layer files took 20-30 s each and added no case).
@pytest.mark.parametrize("arch", ["resnet50", "resnet50v2"])
def test_keras3_names_reconstructed_from_key_counters_when_attr_missing(tmp_path, arch):
    path, _ = materialised(tmp_path, arch, "k3_weights_h5")
    named = read_keras_file(path).weights
    with h5py.File(path, "a") as f:
        for key in f["layers"]:
            if "vars" in f["layers"][key] and "name" in f["layers"][key]["vars"].attrs:
                del f["layers"][key]["vars"].attrs["name"]
    assert read_keras_file(path).weights.keys() == named.keys()
    got = read_keras_file(path).weights
    assert all(np.array_equal(got[k], named[k]) for k in named)
    # a no-top file (no dense key) is still unambiguous
    with h5py.File(path, "a") as f:
        del f["layers/dense"]
    got = read_keras_file(path).weights
    assert set(got) == {k for k in named if not k.startswith("predictions/")}


def test_keras3_names_not_guessed_when_ambiguous(tmp_path):
    path, _ = materialised(tmp_path, "resnet50", "k3_weights_h5")
    with h5py.File(path, "a") as f:
        for key in f["layers"]:
            if "vars" in f["layers"][key] and "name" in f["layers"][key]["vars"].attrs:
                del f["layers"][key]["vars"].attrs["name"]
        del f["layers/conv2d_52"]  # one conv fewer: no known ResNet has these counts
    with pytest.raises(LoadError, match="unambiguously") as e:
        read_keras_file(path)
    assert str(path) in str(e.value)


def test_legacy_split_layer_names_and_vlen_strings(tmp_path):
    path, _ = materialised(tmp_path, "resnet50", "tfk_weights_h5")
    before = read_keras_file(path)
    with h5py.File(path, "a") as f:
        # tf_keras 2.21 writes variable-length str (see the skeleton); older Keras 2
        # wrote numpy fixed-length bytes; both must read the same
        assert h5py.check_string_dtype(f.attrs.get_id("layer_names").dtype).length is None
        names = [str(n) for n in f.attrs["layer_names"]]
        del f.attrs["layer_names"]
        # tf_keras splits attributes over 64 KB into name0, name1, ...
        f.attrs["layer_names0"] = np.array([n.encode() for n in names[:100]])
        f.attrs.create("layer_names1", np.array(names[100:], dtype=object), dtype=h5py.string_dtype())
        f.attrs["keras_version"] = np.bytes_(b"2.21.0")
        g = f["conv1_conv"]
        wn = [str(w) for w in g.attrs["weight_names"]]
        g.attrs["weight_names"] = np.array([w.encode() for w in wn])
    after = read_keras_file(path)
    assert after.layer_order == before.layer_order == names
    assert after.keras_version == "2.21.0"
    assert after.weights.keys() == before.weights.keys()
    assert all(np.array_equal(after.weights[k], before.weights[k]) for k in before.weights)


def test_keras3_legacy_writer_names_without_colon_zero(tmp_path):
    # The Keras 3 legacy h5 writer names datasets 'conv1_conv/kernel' (no ':0').
    p = tmp_path / "k3legacy.h5"
    k = np.arange(2 * 2 * 3 * 4, dtype=np.float32).reshape(2, 2, 3, 4)
    with h5py.File(p, "w") as f:
        mw = f.create_group("model_weights")
        mw.attrs["layer_names"] = np.array([b"input_layer", b"conv1_conv"])
        mw.attrs["keras_version"] = b"3.15.1"
        mw.create_group("input_layer").attrs["weight_names"] = np.array([], dtype=np.float64)
        g = mw.create_group("conv1_conv")
        g.attrs["weight_names"] = np.array([b"conv1_conv/kernel", b"conv1_conv/bias"])
        g["conv1_conv/kernel"] = k
        g["conv1_conv/bias"] = np.ones(4, np.float32)
        f.attrs["model_config"] = json.dumps({"class_name": "Functional", "config": {}}).encode()
    kw = read_keras_file(p)
    assert kw.format == "h5-model" and kw.keras_version == "3.15.1"
    assert kw.model_config == {"class_name": "Functional", "config": {}}
    assert np.array_equal(kw.weights["conv1_conv/kernel"], k)
    assert kw.layer_order == ["input_layer", "conv1_conv"]


def test_sharded_weights_json_index(tmp_path):
    path, _ = materialised(tmp_path, "resnet50v2", "k3_weights_h5")
    whole = read_keras_file(path).weights
    shards = {"m_00000.weights.h5": [], "m_00001.weights.h5": []}
    with h5py.File(path) as f:
        keys = sorted(f["layers"])
        wmap = {}
        for i, key in enumerate(keys):
            name = list(shards)[i % 2]
            wmap[f"/layers/{key}/vars"] = name
            with h5py.File(tmp_path / name, "a") as s:
                f.copy(f[f"layers/{key}"], s.require_group("layers"), name=key)
    index = tmp_path / "m.weights.json"
    index.write_text(json.dumps({"metadata": {"total_size": 1}, "weight_map": wmap}))
    kw = read_keras_file(index)
    assert kw.format == "weights.h5"
    assert kw.weights.keys() == whole.keys()
    assert all(np.array_equal(kw.weights[k], whole[k]) for k in whole)
    # a shard name that leaves the folder is refused
    index.write_text(json.dumps({"weight_map": {"/layers/conv2d/vars": "../m_00000.weights.h5"}}))
    with pytest.raises(LoadError, match="plain file name"):
        read_keras_file(index)
    os.remove(tmp_path / "m_00001.weights.h5")
    index.write_text(json.dumps({"metadata": {}, "weight_map": wmap}))
    with pytest.raises(LoadError, match="missing"):
        read_keras_file(index)


# --------------------------------------------------------------------------- hostile files
def _raises(path, match=None, tensor=None):
    with pytest.raises(LoadError) as e:
        read_keras_file(path)
    msg = str(e.value)
    assert str(path) in msg, msg
    if match:
        assert match in msg, msg
    if tensor:
        assert e.value.tensor is not None and tensor in e.value.tensor, msg
    return msg


def test_missing_empty_directory_and_garbage(tmp_path):
    _raises(tmp_path / "nope.h5", "no such file")
    (tmp_path / "empty.h5").write_bytes(b"")
    _raises(tmp_path / "empty.h5", "empty")
    _raises(tmp_path, "directory")
    (tmp_path / "junk.h5").write_bytes(b"not a weight file at all" * 10)
    _raises(tmp_path / "junk.h5", "not a Keras weight file")
    (tmp_path / "bad.json").write_bytes(b'{"weight_map": 3}')
    _raises(tmp_path / "bad.json", "weight_map")


def test_truncated_h5_at_several_offsets(tmp_path):
    path, _ = materialised(tmp_path, "resnet50", "tfk_weights_h5")
    data = path.read_bytes()
    for cut in (8, 100, 2048, 50_000, len(data) // 2, len(data) - 4096, len(data) - 1):
        p = tmp_path / f"cut{cut}.h5"
        p.write_bytes(data[:cut])
        _raises(p)
        os.remove(p)


def test_truncated_and_incomplete_keras_zip(tmp_path):
    path, skel = materialised(tmp_path, "resnet50", "k3_keras")
    data = path.read_bytes()
    for cut in (10, 1000, len(data) // 2, len(data) - 10):
        p = tmp_path / f"cut{cut}.keras"
        p.write_bytes(data[:cut])
        _raises(p)
        os.remove(p)
    p = tmp_path / "noweights.keras"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("metadata.json", '{"keras_version": "3.15.1"}')
        z.writestr("config.json", "{}")
    _raises(p, "model.weights.h5")
    p = tmp_path / "garbageweights.keras"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("metadata.json", '{"keras_version": "3.15.1"}')
        z.writestr("model.weights.h5", b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    _raises(p, "model.weights.h5")


def test_h5_without_keras_layout(tmp_path):
    p = tmp_path / "other.h5"
    with h5py.File(p, "w") as f:
        f.create_group("data").create_dataset("x", data=np.zeros(3))
        f.attrs["title"] = "not keras"
    _raises(p, "without a Keras weight layout")


def _tiny_legacy(p, kernel, names=(b"conv1_conv",), weight_names=(b"conv1_conv/kernel:0",)):
    with h5py.File(p, "w") as f:
        f.attrs["layer_names"] = np.array(list(names))
        f.attrs["keras_version"] = b"2.21.0"
        g = f.create_group("conv1_conv")
        g.attrs["weight_names"] = np.array(list(weight_names))
        if kernel is not None:
            g.create_dataset("conv1_conv/kernel:0", data=kernel)


def test_legacy_wrong_rank_missing_group_and_dataset(tmp_path):
    p = tmp_path / "rank.h5"
    _tiny_legacy(p, np.zeros((7, 7, 3), np.float32))
    _raises(p, "rank", tensor="conv1_conv")
    _tiny_legacy(p, np.zeros((7, 7, 3, 64), np.float32), names=(b"conv1_conv", b"conv1_bn"))
    _raises(p, "no such group", tensor="conv1_bn")
    _tiny_legacy(p, None)
    _raises(p, "no such dataset", tensor="conv1_conv/kernel:0")
    _tiny_legacy(p, np.array([b"abc"]), weight_names=(b"conv1_conv/kernel:0",))
    _raises(p, "non-numeric", tensor="conv1_conv")


def test_keras3_wrong_rank_and_wrong_var_count(tmp_path):
    p = tmp_path / "k3.weights.h5"
    with h5py.File(p, "w") as f:
        v = f.create_group("layers/batch_normalization/vars")
        v.attrs["name"] = "conv1_bn"
        for i in range(4):
            v.create_dataset(str(i), data=np.ones((64, 2)))
    _raises(p, "layers/batch_normalization/vars/0", tensor="conv1_bn")
    with h5py.File(p, "w") as f:
        v = f.create_group("layers/batch_normalization/vars")
        v.attrs["name"] = "conv1_bn"
        for i in range(3):
            v.create_dataset(str(i), data=np.ones(64))
        f.create_group("vars")
    _raises(p, "3 variables", tensor="layers/batch_normalization")
    with h5py.File(p, "w") as f:
        v = f.create_group("layers/conv2d/vars")
        v.attrs["name"] = "conv1_conv"
        v.create_dataset("0", data=np.ones((7, 7, 3, 64)))
        v.create_dataset("1", data=np.ones(32))
    _raises(p, "bias of length 32", tensor="conv1_conv")


def test_errors_are_load_errors_not_h5py_errors(tmp_path):
    # an HDF5 signature followed by junk: h5py's OSError must not escape
    p = tmp_path / "sig.h5"
    p.write_bytes(b"\x89HDF\r\n\x1a\n" + os.urandom(4000))
    _raises(p, "HDF5")


# --------------------------------------------------------------------------- live Keras
@pytest.mark.keras
@pytest.mark.slow
def test_live_keras3_round_trip(tmp_path):
    keras = pytest.importorskip("keras")
    model = keras.applications.ResNet50V2(weights=None, include_top=False, input_shape=(64, 64, 3))
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if layer.weights:
            layer.set_weights([rng.normal(size=w.shape).astype(w.dtype) for w in layer.get_weights()])
    model.save_weights(tmp_path / "m.weights.h5")
    model.save(tmp_path / "m.keras")
    for p, fmt in ((tmp_path / "m.weights.h5", "weights.h5"), (tmp_path / "m.keras", "keras")):
        kw = read_keras_file(p)
        assert kw.format == fmt and kw.naming == "keras"
        n = 0
        for layer in model.layers:
            kind = type(layer).__name__
            roles = {"Conv2D": ["kernel", "bias"], "BatchNormalization": ["gamma", "beta", "moving_mean", "moving_variance"]}.get(kind, [])
            for role, w in zip(roles, layer.get_weights()):
                assert np.array_equal(kw.weights[f"{layer.name}/{role}"], w)
                n += 1
        assert n == len(kw.weights)
