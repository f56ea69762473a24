"""refresnet.audit against a live torch / torchvision (skipped when they are absent):
the same checks as the recorded fixtures, on modules and pipelines built now."""

import time

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
T = pytest.importorskip("torchvision.transforms")

from refresnet import audit  # noqa: E402

pytestmark = pytest.mark.torch

MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)


def test_live_torchvision_resnet18_and_default_init():
    torch.manual_seed(0)
    r = audit.init(torchvision.models.resnet18(), expect="torchvision-fan-out")
    assert r.ok, r.departures
    assert [h["scheme"] for h in r.heads] == ["torch-default"]
    torch.manual_seed(1)
    r = audit.init(torchvision.models.resnet18(zero_init_residual=True), expect="torchvision-fan-out")
    assert [d["id"] for d in r.departures] == ["init.zero_init_residual"]
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3), torch.nn.BatchNorm2d(16), torch.nn.Conv2d(16, 32, 3),
                              torch.nn.BatchNorm2d(32), torch.nn.Conv2d(32, 64, 3))
    assert audit.init(net).scheme == "torch-default"


def test_live_pipelines():
    good = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize(MEAN, STD)])
    t = time.process_time()
    r = audit.augmentation(good, n=10000, seed=3)
    assert time.process_time() - t < 30
    assert r.ok, r.departures
    reflect = T.Compose([T.RandomCrop(32, padding=4, padding_mode="reflect"), T.RandomHorizontalFlip(),
                         T.ToTensor(), T.Normalize(MEAN, STD)])
    r = audit.augmentation(reflect, n=2000)
    assert [d["id"] for d in r.departures] == ["augment.pad_mode"] and r.pad_mode == "reflect"
