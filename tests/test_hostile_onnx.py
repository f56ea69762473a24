"""Broken and hostile .onnx files: each gives a LoadError naming the file and the tensor or node."""

import os

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import helper, numpy_helper  # noqa: E402

import refresnet  # noqa: E402
from refresnet import LoadError  # noqa: E402
from tolerances import rel_err  # noqa: E402

HERE = os.path.join(os.path.dirname(__file__), "fixtures", "onnx")
SOURCE = os.path.join(HERE, "tv_resnet18_op17_bn_f32.onnx")


def _graph():
    return onnx.load(SOURCE)


def _save(model, path):
    onnx.save(model, str(path))
    return str(path)


def test_truncated_protobuf_is_refused_at_every_cut(tmp_path):
    data = open(SOURCE, "rb").read()
    for cut in (3, 40, 1000, len(data) // 2, len(data) - 300, len(data) - 20, len(data) - 1):
        p = tmp_path / f"cut{cut}.onnx"
        p.write_bytes(data[:cut])
        with pytest.raises(LoadError) as err:
            refresnet.load(p)
        assert str(p) in str(err.value), cut


def test_external_data_loads_from_the_models_directory(tmp_path):
    m = _graph()
    onnx.save_model(m, str(tmp_path / "ext.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="ext.bin", size_threshold=0)
    assert os.path.getsize(tmp_path / "ext.onnx") < 40000
    x = np.random.default_rng(0).standard_normal((1, 3, 32, 32))
    assert rel_err(refresnet.load(tmp_path / "ext.onnx")(x), refresnet.load(SOURCE)(x)) == 0.0


def _external(tmp_path, location, offset=0, length=None):
    m = _graph()
    t = m.graph.initializer[0]
    raw = numpy_helper.to_array(t).astype("<f4").tobytes()
    del t.float_data[:]
    t.ClearField("raw_data")
    t.data_location = onnx.TensorProto.EXTERNAL
    entries = {"location": location, "offset": str(offset), "length": str(len(raw) if length is None else length)}
    for k, v in entries.items():
        e = t.external_data.add()
        e.key, e.value = k, v
    d = tmp_path / "models"
    d.mkdir(exist_ok=True)
    return _save(m, d / "m.onnx"), t.name, raw


@pytest.mark.parametrize("location", ["../secret.bin", "sub/../../secret.bin", "/etc/passwd"])
def test_external_data_outside_the_models_directory_is_refused(tmp_path, location):
    (tmp_path / "secret.bin").write_bytes(b"\0" * 100000)
    path, tensor, _ = _external(tmp_path, location)
    with pytest.raises(LoadError, match="refused") as err:
        refresnet.load(path)
    assert err.value.path == path and err.value.tensor == tensor


def test_external_data_symlink_out_of_the_directory_is_refused(tmp_path):
    (tmp_path / "secret.bin").write_bytes(b"\0" * 100000)
    path, tensor, _ = _external(tmp_path, "link.bin")
    os.symlink(tmp_path / "secret.bin", tmp_path / "models" / "link.bin")
    with pytest.raises(LoadError, match="outside the model's directory") as err:
        refresnet.load(path)
    assert err.value.tensor == tensor


def test_external_data_beyond_the_file_or_of_the_wrong_length_is_refused(tmp_path):
    path, tensor, raw = _external(tmp_path, "w.bin", offset=8)
    (tmp_path / "models" / "w.bin").write_bytes(raw)  # 8 bytes short of offset + length
    with pytest.raises(LoadError, match=r"lies outside 'w.bin'") as err:
        refresnet.load(path)
    assert err.value.tensor == tensor
    path, tensor, raw = _external(tmp_path, "w.bin", length=4)
    with pytest.raises(LoadError, match="does not match the shape") as err:
        refresnet.load(path)
    assert err.value.tensor == tensor


def test_tensor_byte_size_not_matching_its_shape_is_refused(tmp_path):
    m = _graph()
    t = next(t for t in m.graph.initializer if t.name.endswith("conv1.weight") or len(t.dims) == 4)
    a = numpy_helper.to_array(t)
    t.raw_data = a.astype("<f4").tobytes()[:-4]
    with pytest.raises(LoadError, match=r"raw data holds \d+ bytes, but shape") as err:
        refresnet.load(_save(m, tmp_path / "short.onnx"))
    assert err.value.tensor == t.name and "short.onnx" in str(err.value)
    t.dims[0] += 1
    t.raw_data = a.astype("<f4").tobytes()
    with pytest.raises(LoadError) as err:
        refresnet.load(_save(m, tmp_path / "dims.onnx"))
    assert err.value.tensor == t.name


def test_huge_declared_shape_is_refused_before_reading(tmp_path):
    m = _graph()
    t = m.graph.initializer[0]
    del t.dims[:]
    t.dims.extend([2**20, 2**20, 4])
    with pytest.raises(LoadError, match="more than MAX_TENSOR_ELEMENTS") as err:
        refresnet.load(_save(m, tmp_path / "huge.onnx"))
    assert err.value.tensor == t.name


def test_unsupported_op_is_refused_naming_node_op_and_the_supported_set(tmp_path):
    m = _graph()
    node = next(n for n in m.graph.node if n.op_type == "Relu")
    node.op_type = "LeakyRelu"
    with pytest.raises(LoadError) as err:
        refresnet.load(_save(m, tmp_path / "leaky.onnx"))
    msg = str(err.value)
    assert "leaky.onnx" in msg and repr(node.name) in msg and "unsupported op LeakyRelu" in msg
    assert "BatchNormalization, Cast, Constant, Conv" in msg


def test_op_of_another_domain_is_refused(tmp_path):
    m = _graph()
    node = next(n for n in m.graph.node if n.op_type == "Conv")
    node.domain = "com.microsoft"
    node.op_type = "FusedConv"
    m.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    with pytest.raises(LoadError, match=r"unsupported op com.microsoft::FusedConv"):
        refresnet.load(_save(m, tmp_path / "fused.onnx"))


def test_unsupported_attribute_is_refused_naming_the_node(tmp_path):
    m = _graph()
    node = next(n for n in m.graph.node if n.op_type == "Gemm")
    node.attribute.append(helper.make_attribute("alpha", 2.0))
    with pytest.raises(LoadError, match=r"\(Gemm\): attribute alpha=2.0 is not supported"):
        refresnet.load(_save(m, tmp_path / "alpha.onnx"))


def test_a_node_reading_an_undefined_value_is_refused(tmp_path):
    m = _graph()
    nodes = list(m.graph.node)
    del m.graph.node[:]
    m.graph.node.extend(nodes[:3] + nodes[4:])  # drop one node: its output is read later
    with pytest.raises(LoadError, match="neither an initializer nor the output of an earlier node"):
        refresnet.load(_save(m, tmp_path / "gap.onnx"))


def test_an_empty_or_non_onnx_file_is_refused(tmp_path):
    p = tmp_path / "empty.onnx"
    p.write_bytes(b"")
    with pytest.raises(LoadError, match="empty file"):
        refresnet.load(p)
    p = tmp_path / "junk.onnx"
    p.write_bytes(b"\x08\x07\x3a\xff\xff\xff\xff\x0f")
    with pytest.raises(LoadError, match="junk.onnx"):
        refresnet.load(p)
