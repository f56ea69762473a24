"""One spec, one Model: predict, compare, inspect and agree (through the dataset
runs whose results it reads) all build their Model through refresnet/weights.py.
``compare --weights synthetic:cifar_resnet20`` once built a 1000-class head where
predict built CIFAR-10's 10."""

import hashlib

import numpy as np
import pytest

from refresnet import datasets, weights
from refresnet.build.synthetic import synthetic_weights
from refresnet.cli import compare as cli_compare
from refresnet.cli.inspect import inspect_report
from test_load import write_safetensors


def _graph_hash(model):
    # The built graph itself: every node's name, op and array arguments, in order.
    h = hashlib.sha256()
    for node in model.nodes:
        h.update(f"{node.name}:{node.op};".encode())
        for k in sorted(node.kwargs):
            v = node.kwargs[k]
            if isinstance(v, np.ndarray):
                h.update(k.encode() + repr(v.shape).encode() + np.ascontiguousarray(v).tobytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def torchvision_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("spec") / "resnet18.safetensors"
    return str(write_safetensors(path, synthetic_weights("resnet18", seed=5)))


@pytest.mark.parametrize("kind, spec, arch, classes", [
    ("cifar", "synthetic:cifar_resnet20:2", "cifar_resnet20", 10),
    ("keras", "synthetic:keras_cifar_resnet20:1", "keras_cifar_resnet20", 10),
    ("torchvision", "FILE", "resnet18", 1000),
])
def test_predict_compare_inspect_and_agree_build_the_same_model(kind, spec, arch, classes, torchvision_file):
    spec = torchvision_file if spec == "FILE" else spec
    predict, _ = weights.load_model(spec)  # predict without --out
    compare = cli_compare._load_weights(spec)  # compare --weights
    dataset, dataset_fp, _ = datasets.open_model(spec)  # predict --out / --workers, whose results agree reads
    opened = weights.open_model(spec)
    report = inspect_report(spec)  # inspect
    graphs = {_graph_hash(m) for m in (predict, compare, dataset, opened.model)}
    assert len(graphs) == 1, "the commands built different graphs or weights from one spec"
    for m in (predict, compare, dataset, opened.model):
        assert m.arch == predict.arch and m.arch.name == arch
        assert m.num_classes == classes
    assert report["arch"] == arch and report["num_classes"] == classes
    assert report["fingerprint"] == dataset_fp == opened.fingerprint
