"""CIFAR preprocessing: 32x32 RGB, /255, per-channel mean/std (issue 7)."""

import numpy as np
import pytest
from PIL import Image

from refresnet import preprocess
from refresnet.families.labels import CIFAR10_LABELS, label
from refresnet.families.archs import ARCHS
from refresnet.families.registry import preset_for
from tolerances import FLOAT32_RTOL, OP_RTOL, rel_err

PHOTO = preprocess.__file__.replace("preprocess.py", "data/chelsea.jpg")


def test_a_32x32_image_is_only_normalised(tmp_path):
    path = tmp_path / "flat.png"
    Image.new("RGB", (32, 32), (10, 128, 250)).save(path)
    x = preprocess.load_image(path, "cifar")
    assert x.shape == (3, 32, 32)
    # by hand: (v / 255 - mean) / std with the CIFAR-10 training-set constants
    expected = [(10 / 255 - 0.4914) / 0.2470, (128 / 255 - 0.4822) / 0.2435, (250 / 255 - 0.4465) / 0.2616]
    for c in range(3):
        assert rel_err(x[c], np.full((32, 32), expected[c])) <= OP_RTOL


def test_imagenet_stats_variant_uses_the_imagenet_constants(tmp_path):
    path = tmp_path / "flat.png"
    Image.new("RGB", (32, 32), (0, 255, 51)).save(path)
    x = preprocess.load_image(path, "cifar-imagenet-stats")
    expected = [(0 - 0.485) / 0.229, (1 - 0.456) / 0.224, (0.2 - 0.406) / 0.225]
    assert rel_err(x[:, 0, 0], np.array(expected)) <= OP_RTOL


def test_cifar_networks_default_to_cifar_preprocessing():
    assert preset_for(ARCHS["cifar_resnet56"]).name == "cifar"
    assert "0.4914" in preprocess.get_preset("cifar").describe()


def test_cifar_labels_for_ten_class_cifar_heads():
    assert label(3, 10, ARCHS["cifar_resnet20"]) == "cat" == CIFAR10_LABELS[3]
    assert label(3, 10, ARCHS["resnet18"]) == "class_3"


@pytest.mark.torch
def test_against_torchvision_resize_totensor_normalize():
    torch = pytest.importorskip("torch")
    T = pytest.importorskip("torchvision.transforms")
    img = Image.open(PHOTO).convert("RGB")
    u8 = preprocess.uint8_stage(img, "cifar")
    ref_u8 = np.asarray(T.Resize((32, 32))(img))
    assert np.array_equal(u8, ref_u8)
    ref = T.Compose([T.Resize((32, 32)), T.ToTensor(), T.Normalize(preprocess.CIFAR10_MEAN, preprocess.CIFAR10_STD)])(img)
    assert rel_err(preprocess.float_stage(u8, "cifar"), ref.numpy()) <= FLOAT32_RTOL
    assert torch is not None
