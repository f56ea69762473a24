"""refresnet.load: format sniffing, architecture detection and the error contract."""

import json
import struct

import numpy as np
import pytest

import refresnet
from refresnet.build.synthetic import synthetic_weights

_DTYPES = {np.dtype("float32"): "F32", np.dtype("float64"): "F64", np.dtype("float16"): "F16", np.dtype("int64"): "I64"}


def write_safetensors(path, tensors, dtype=np.float32):
    """A .safetensors file written from the format's definition (u64 header length,
    JSON header, then the raw little-endian data), independent of refresnet's reader."""
    header, blobs, offset = {}, [], 0
    for name, arr in tensors.items():
        a = np.ascontiguousarray(np.asarray(arr, dtype=dtype))
        data = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": _DTYPES[a.dtype], "shape": list(a.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * (-(8 + len(text)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
    return path


@pytest.fixture(scope="module")
def r18():
    return synthetic_weights("resnet18", seed=5)


def test_safetensors_file_loads_detects_and_matches_the_dict(tmp_path, r18):
    path = write_safetensors(tmp_path / "r18.safetensors", r18, np.float64)
    model = refresnet.load(path)
    assert model.arch.name == "resnet18" and model.num_classes == 1000 and model.source == "safetensors"
    x = np.random.default_rng(0).normal(size=(1, 3, 48, 40))
    assert np.array_equal(model(x), refresnet.build("resnet18", r18)(x))


def test_float16_weights_are_computed_in_float64_after_upcasting(tmp_path, r18):
    path = write_safetensors(tmp_path / "r18h.safetensors", r18, np.float16)
    half = {k: np.asarray(v, np.float16).astype(np.float64) for k, v in r18.items()}
    x = np.random.default_rng(0).normal(size=(1, 3, 40, 40))
    assert np.array_equal(refresnet.load(path)(x), refresnet.build("resnet18", half)(x))


def test_arch_override_and_its_mismatch_error(tmp_path, r18):
    path = write_safetensors(tmp_path / "r18.safetensors", r18)
    assert refresnet.load(path, arch="resnet18").arch.name == "resnet18"
    with pytest.raises(refresnet.LoadError, match=r"r18.safetensors: tensor 'layer1.0.conv1.weight': expected shape \(64, 64, 1, 1\)"):
        refresnet.load(path, arch="resnet50")


def test_unknown_arch_name_lists_the_choices(tmp_path, r18):
    path = write_safetensors(tmp_path / "r18.safetensors", r18)
    with pytest.raises(refresnet.ArchitectureError, match="expected one of resnet18"):
        refresnet.load(path, arch="resnet19")


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda w: w.pop("layer2.1.bn2.running_var"), r"tensor 'layer2.1.bn2.running_var': missing"),
        (lambda w: w.__setitem__("layer3.0.conv1.weight", np.zeros((256, 128, 1, 1))),
         r"tensor 'layer3.0.conv1.weight': expected shape \(256, 128, 3, 3\), found \(256, 128, 1, 1\)"),
        (lambda w: w.__setitem__("layer5.0.conv1.weight", np.zeros((1, 1, 1, 1))),
         r"tensor 'layer5.0.conv1.weight': unexpected tensor\(s\)"),
        (lambda w: w.__setitem__("fc.bias", np.zeros(999)), r"tensor 'fc.bias': expected shape \(1000,\), found \(999,\)"),
    ],
)
def test_each_bad_tensor_is_named_with_the_file(tmp_path, r18, change, message):
    weights = dict(r18)
    change(weights)
    path = write_safetensors(tmp_path / "bad.safetensors", weights)
    with pytest.raises(refresnet.LoadError, match="bad.safetensors: " + message):
        refresnet.load(path, arch="resnet18")


def test_a_file_that_is_not_a_resnet(tmp_path):
    path = write_safetensors(tmp_path / "bert.safetensors", {"encoder.layer.0.weight": np.zeros((4, 4))})
    with pytest.raises(refresnet.LoadError, match="bert.safetensors: not a ResNet weight file.*encoder.layer.0.weight"):
        refresnet.load(path)


def test_a_resnet_depth_refresnet_does_not_know(tmp_path, r18):
    weights = {k: v for k, v in r18.items() if not k.startswith("layer4.1.")}
    path = write_safetensors(tmp_path / "odd.safetensors", weights)
    with pytest.raises(refresnet.LoadError, match=r"odd.safetensors: not a ResNet refresnet knows .*depths=\(2, 2, 2, 1\)"):
        refresnet.load(path)


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "no such file"),
        (b"", "empty file"),
        (b"\x00\x01garbage" * 10, "not a recognised weight file"),
        (b"PK\x03\x04" + b"\x00" * 40, "damaged or truncated zip"),
    ],
)
def test_unreadable_files_name_the_file(tmp_path, content, message):
    path = tmp_path / "w.pth"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(refresnet.LoadError, match=f"w.pth: {message}"):
        refresnet.load(path)


def test_a_directory_without_weights_is_a_load_error_naming_what_it_lacks(tmp_path):
    # A directory is read as a Hub snapshot (refresnet/families/hub.py): one without a
    # weight file says which files it looked for.
    with pytest.raises(refresnet.LoadError, match="a directory with none of model.safetensors"):
        refresnet.load(tmp_path)


def test_load_error_is_a_value_error():
    assert issubclass(refresnet.LoadError, ValueError)


# ---------------------------------------------------------------- formats are records
def test_formats_are_records_in_sniff_order_and_load_walks_them(tmp_path, r18):
    """io.FORMATS: one record per reader (name, returns, test, read), sniffed in order;
    safetensors before the legacy pickle (a header length can start with the PROTO byte)."""
    from refresnet import io
    from refresnet.load import read_weights

    names = [f.name for f in io.FORMATS]
    assert names.index("safetensors") < names.index("torch-legacy")
    assert {f.returns for f in io.FORMATS} == {"weights", "graph"}
    assert all(callable(f.test) and callable(f.read) and f.what for f in io.FORMATS)
    path = write_safetensors(tmp_path / "w.safetensors", r18)
    assert io.sniff(path).name == "safetensors" and read_weights(path)[1] == "safetensors"
    # a safetensors header whose length's low byte is 0x80 is still safetensors
    header = b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'
    header += b" " * ((0x80 - len(header)) % 256)
    assert len(header) % 256 == 0x80
    p2 = tmp_path / "pad.safetensors"
    p2.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 4)
    assert io.sniff(p2).name == "safetensors"
    assert list(read_weights(p2)[0]) == ["a"]
