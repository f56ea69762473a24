"""The architecture table against facts published by torchvision and Keras."""

import functools
from unittest import mock

import numpy as np
import pytest

import refresnet
from refresnet.build import synthetic
from refresnet.families.registry import get_family


@functools.lru_cache(maxsize=None)
def _weights(name):
    # Shapes and counts need no values: each tensor is kept as a zero-strided view
    # of one zero (no memory), so caching every row of the table costs nothing (the
    # float64 tensors of the whole table would be about 7 GB).
    # Nor does making them: the seeded generator is swapped for zeros (calloc'd
    # pages never touched), which took most of this file's time for the big rows.
    classes = get_family(refresnet.ARCHS[name].naming).num_classes  # CIFAR-10's 10 or ImageNet's 1000
    with mock.patch.object(synthetic._SyntheticParams, "_generate", lambda self, key, shape: np.zeros(shape)):
        real = synthetic.synthetic_weights(name, seed=0, num_classes=classes, calibrate=False)
    return {k: np.broadcast_to(np.zeros((), dtype=v.dtype), v.shape) for k, v in real.items()}


def synthetic_weights(name, seed=0, calibrate=False):
    # uncalibrated weights are enough for shapes and counts; cached, the big nets take seconds
    return _weights(name)

# Parameter counts as torchvision's docs/metadata give them (_meta "num_params")
# and as Keras's count_params() reports them (docs/FACTS.md §1 and §2).
PUBLISHED_PARAMS = {
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
    "resnext50_32x4d": 25_028_904,
    "resnext101_32x8d": 88_791_336,
    "resnext101_64x4d": 83_455_272,
    "wide_resnet50_2": 68_883_240,
    "wide_resnet101_2": 126_886_696,
    "keras_resnet50": 25_636_712,
    "keras_resnet101": 44_707_176,
    "keras_resnet152": 60_419_944,
    "keras_resnet50v2": 25_613_800,
    "keras_resnet101v2": 44_675_560,
    "keras_resnet152v2": 60_380_648,
    "keras_resnet50_old": 25_636_712,
}

# torchvision's state_dict sizes (keys, of which num_batches_tracked), docs/FACTS.md §1.
TORCHVISION_KEYS = {"resnet18": (122, 20), "resnet34": (218, 36), "resnet50": (320, 53), "resnet101": (626, 104), "resnet152": (932, 155)}


def test_table_covers_every_published_architecture():
    cifar = {f"cifar_resnet{d}{o}" for d in (20, 32, 44, 56, 110, 1202) for o in ("", "_b")}
    keras_cifar = {f"keras_cifar_resnet{d}" for d in (20, 32, 44, 56, 110)}
    hub = set(_hub_specs())  # the timm / transformers rows, each checked by test_hub_row_matches_library_state_dict
    assert set(PUBLISHED_PARAMS) | cifar | keras_cifar | hub == set(refresnet.ARCHS)


@functools.lru_cache(maxsize=1)
def _hub_specs():
    import gzip
    import json

    from fixtures import hub_fixture as hf
    from fixtures.paths import fixture_file

    with gzip.open(fixture_file("hub", "specs.json.gz", hf.REGEN_COMMAND + " specs"), "rt", encoding="utf-8") as f:
        return json.load(f)["specs"]


def _hub_rows():
    from fixtures import hub_fixture as hf

    return ["timm_" + n for n in hf.TIMM_ROWS] + list(hf.TRANSFORMERS_ROWS)


@pytest.mark.parametrize("arch", _hub_rows())
def test_hub_row_matches_library_state_dict(arch):
    # Every key and shape of the state dict timm 1.0.31 / transformers 5.24.0 build
    # for this model (tests/fixtures/make_hub_fixtures.py), so each row's widths,
    # stem, SE widths (make_divisible) and ECA kernel sizes are the library's.
    want = {k: tuple(s) for k, s in _hub_specs()[arch]}
    got = {k: tuple(v.shape) for k, v in _weights(arch).items()}
    want = {k: s for k, s in want.items() if not k.endswith("num_batches_tracked")}
    assert set(got) == set(want), (sorted(set(want) - set(got))[:5], sorted(set(got) - set(want))[:5])
    bad = [(k, got[k], want[k]) for k in want if got[k] != want[k]]
    assert not bad, bad[:5]


def _cifar_params_by_hand(n, classes=10):
    """Option A CIFAR ResNet with n blocks per stage, counted from the paper's section 4.2."""
    stem = 3 * 16 * 9 + 2 * 16  # 3x3 conv 3->16, BN
    block = lambda cin, c: cin * c * 9 + c * c * 9 + 2 * 2 * c  # two 3x3 convs + two BNs
    stages = n * block(16, 16) + block(16, 32) + (n - 1) * block(32, 32) + block(32, 64) + (n - 1) * block(64, 64)
    return stem + stages + 64 * classes + classes


@pytest.mark.parametrize("depth", [20, 32, 44, 56, 110, 1202])
def test_cifar_parameter_count_by_hand(depth):
    model = refresnet.build(f"cifar_resnet{depth}", _weights(f"cifar_resnet{depth}"))
    assert model.parameter_count() == _cifar_params_by_hand((depth - 2) // 6)


@pytest.mark.parametrize("depth", [20, 32, 44, 56, 110, 1202])
def test_cifar_counts_round_to_the_papers_table(depth):
    paper = {20: 0.27e6, 32: 0.46e6, 44: 0.66e6, 56: 0.85e6, 110: 1.7e6, 1202: 19.4e6}[depth]
    count = refresnet.build(f"cifar_resnet{depth}", _weights(f"cifar_resnet{depth}")).parameter_count()
    digits = 2 if depth < 110 else 1
    assert round(count / 1e6, digits) == round(paper / 1e6, digits)


@pytest.mark.parametrize("depth", [20, 56, 110])
def test_keras_cifar_example_count_by_hand(depth):
    # Option A's count plus a bias on every conv and the two 1x1 projections
    # (conv + bias, no BN); BN moving statistics counted as Keras's count_params does.
    n = (depth - 2) // 6
    convs_out = [16] + [16] * 2 * n + [32] * 2 * n + [64] * 2 * n
    bn_stats = 2 * sum(convs_out)
    projections = (16 * 32 + 32) + (32 * 64 + 64)
    expected = _cifar_params_by_hand(n) + sum(convs_out) + projections + bn_stats
    model = refresnet.build(f"keras_cifar_resnet{depth}", _weights(f"keras_cifar_resnet{depth}"))
    assert model.parameter_count() == expected


def test_cifar_option_b_adds_exactly_the_two_projections():
    # two 1x1 projections (16->32, 32->64) with BN: 16*32 + 2*32 + 32*64 + 2*64
    a = refresnet.build("cifar_resnet56", _weights("cifar_resnet56")).parameter_count()
    b = refresnet.build("cifar_resnet56_b", _weights("cifar_resnet56_b")).parameter_count()
    assert b - a == 16 * 32 + 2 * 32 + 32 * 64 + 2 * 64


@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMS))
def test_parameter_count_matches_the_framework(name):
    model = refresnet.build(name, synthetic_weights(name, seed=0, calibrate=False))
    assert model.parameter_count() == PUBLISHED_PARAMS[name]


@pytest.mark.parametrize("name", sorted(TORCHVISION_KEYS))
def test_torchvision_state_dict_key_count(name):
    weights = synthetic_weights(name, seed=0, calibrate=False)
    keys, counters = TORCHVISION_KEYS[name]
    # synthetic weights carry no num_batches_tracked (optional, unused at inference)
    assert len(weights) == keys - counters


@pytest.mark.parametrize(
    "name, key, shape",
    [
        # docs/FACTS.md §1: layer2.0.conv2.weight shapes, verified in torchvision
        ("resnet50", "layer2.0.conv2.weight", (128, 128, 3, 3)),
        ("resnext50_32x4d", "layer2.0.conv2.weight", (256, 8, 3, 3)),
        ("resnext101_32x8d", "layer2.0.conv2.weight", (512, 16, 3, 3)),
        ("resnext101_64x4d", "layer2.0.conv2.weight", (512, 8, 3, 3)),
        ("wide_resnet50_2", "layer2.0.conv2.weight", (256, 256, 3, 3)),
        ("resnet50", "fc.weight", (1000, 2048)),
        ("resnet18", "fc.weight", (1000, 512)),
        ("keras_resnet50", "conv1_conv/kernel", (7, 7, 3, 64)),
        ("keras_resnet50", "predictions/kernel", (2048, 1000)),
        ("keras_resnet50_old", "res2a_branch2a/kernel", (1, 1, 64, 64)),
    ],
)
def test_tensor_shapes_match_the_frameworks(name, key, shape):
    assert synthetic_weights(name, seed=0, calibrate=False)[key].shape == shape


@pytest.mark.parametrize("name", sorted(refresnet.ARCHS))
def test_detection_finds_the_row_from_names_and_shapes(name):
    from refresnet.families.detect import detect_arch

    row = refresnet.ARCHS[name]
    weights = synthetic_weights(name, seed=0, calibrate=False)
    if row.naming == "transformers":
        # a ResNetConfig decides these: without config.json, a LoadError saying so
        with pytest.raises(refresnet.LoadError, match="config.json"):
            detect_arch(weights)
        return
    found = detect_arch(weights)
    if row.naming == "timm" and not (row.deep_stem or row.avg_down or row.attn):
        # a plain timm ResNet's state dict is torchvision's, key for key: the same graph
        assert found.name in (name[len("timm_"):], name)
        return
    assert found.name == name


@pytest.mark.parametrize(
    "name, size, shapes",
    [
        # torchvision at 224: 112 after conv1, 56 after maxpool, then 56/28/14/7 (docs/FACTS.md §1)
        ("resnet50", (224, 224), {"conv1": (1, 64, 112, 112), "maxpool": (1, 64, 56, 56), "layer1": (1, 256, 56, 56),
                                  "layer2": (1, 512, 28, 28), "layer3": (1, 1024, 14, 14), "layer4": (1, 2048, 7, 7),
                                  "avgpool": (1, 2048, 1, 1), "fc": (1, 1000)}),
        # floor rule: out = floor((H + 2p - k)/s) + 1 -> 113 -> 57 after the max pool
        ("resnet18", (225, 193), {"conv1": (1, 64, 113, 97), "maxpool": (1, 64, 57, 49), "layer4": (1, 512, 8, 7)}),
        # Keras V2: stride in the last block of conv2..4, none in conv5: 56 -> 28 -> 14 -> 7 -> 7
        ("keras_resnet50v2", (224, 224), {"conv2_block3_out": (1, 28, 28, 256), "conv4_block6_out": (1, 7, 7, 1024),
                                          "conv5_block3_out": (1, 7, 7, 2048), "predictions": (1, 1000)}),
    ],
)
def test_activation_shapes(name, size, shapes):
    model = refresnet.build(name, synthetic_weights(name, seed=0, calibrate=False))
    h, w = size
    x = np.zeros((1, 3, h, w) if model.arch.layout == "NCHW" else (1, h, w, 3))
    trace = model.trace(x)
    for layer, shape in shapes.items():
        assert trace[layer].shape == shape, layer


def test_unknown_architecture_lists_the_valid_names():
    with pytest.raises(refresnet.ArchitectureError, match="resnet51.*expected one of.*resnet18.*wide_resnet101_2"):
        refresnet.get_arch("resnet51")


def test_describe_is_built_from_the_row():
    assert "stride on the 3x3 (v1.5)" in refresnet.ARCHS["resnet50"].describe()
    assert "BN eps 0.001" in refresnet.ARCHS["keras_resnet50_old"].describe()
    assert "zero-padded stem pool" in refresnet.ARCHS["keras_resnet50v2"].describe()


def test_every_row_names_biases_only_on_convs_its_blocks_have():
    for row in refresnet.ARCHS.values():
        assert row.conv_bias <= row.convs, f"{row.name}: biases on {sorted(row.conv_bias - row.convs)}"
    # The Keras example builds every Conv2D with Keras's default use_bias=True;
    # its basic blocks have no third conv.
    row = refresnet.ARCHS["keras_cifar_resnet20"]
    assert row.conv_bias == {"stem", "conv1", "conv2", "shortcut"}
    assert "conv biases" in row.describe()
