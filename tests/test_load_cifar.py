"""refresnet.load on real torch.save files in the CIFAR checkpoint layouts people have.

The files (ResNet20, float32) and their float64 logits were written by
tests/fixtures/make_cifar_fixtures.py with torch (the reference network there is written
from the paper, independently of refresnet):
  resnet20_a_module.th      legacy (non-zip) torch.save of {"state_dict": {"module.conv1.weight": ...},
                            "best_prec1": float}, no num_batches_tracked: the layout of the
                            pytorch_resnet_cifar10 releases (resnet56-4bfd9763.th), option A
  resnet20_b_shortcut.pth   zip, {"epoch", "state_dict" (module. prefixed), "best_prec1": tensor},
                            option B with shortcut.0 / shortcut.1
  resnet20_b_downsample.pth zip, bare state_dict, option B as downsample.0 / downsample.1, head fc
No torch needed here.
"""

import functools
import os
import zipfile

import numpy as np
import pytest

import refresnet
from tolerances import NET_RTOL, rel_err

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "cifar")
REGENERATE = "/work/venv-torch/bin/python tests/fixtures/make_cifar_fixtures.py checkpoints"
FILES = ["resnet20_a_module.th", "resnet20_b_shortcut.pth", "resnet20_b_downsample.pth"]


def _path(name):
    path = os.path.join(FIXTURES, name)
    if not os.path.exists(path):
        pytest.fail(f"missing fixture {path}; regenerate it with: {REGENERATE}")
    return path


@functools.lru_cache(maxsize=None)
def _expected():
    return dict(np.load(_path("checkpoints_expected.npz")))


@functools.lru_cache(maxsize=None)
def _x():
    return np.ascontiguousarray(np.load(_path("inputs.npz"))["x32"])


@pytest.mark.parametrize("fname", FILES)
def test_load_detects_cifar_arch_and_option(fname):
    model = refresnet.load(_path(fname))
    assert model.arch.name == str(_expected()[fname + "::arch"])


@pytest.mark.parametrize("fname", FILES)
def test_loaded_checkpoint_matches_torch_float64_logits(fname):
    model = refresnet.load(_path(fname))
    err = rel_err(model(_x()), _expected()[fname + "::logits"])
    assert err <= NET_RTOL, f"{fname}: logits rel_err {err:.3g}"


def test_checkpoint_layouts_are_the_ones_claimed():
    """The three files really differ in format and naming (else the tests above would
    cover one layout three times)."""
    with open(_path("resnet20_a_module.th"), "rb") as f:
        assert f.read(1) == b"\x80"  # legacy torch.save: a bare pickle stream, not a zip
    for name, needle in (("resnet20_b_shortcut.pth", b"module.layer2.0.shortcut.0.weight"),
                         ("resnet20_b_downsample.pth", b"layer2.0.downsample.0.weight")):
        with zipfile.ZipFile(_path(name)) as z:
            pkl = next(n for n in z.namelist() if n.endswith("data.pkl"))
            assert needle in z.read(pkl)


def test_arch_override_is_used():
    path = _path("resnet20_a_module.th")
    forced = refresnet.load(path, arch="cifar_resnet20")
    assert forced.arch.name == "cifar_resnet20"
    assert rel_err(forced(_x()), _expected()["resnet20_a_module.th::logits"]) <= NET_RTOL
    # a forced deeper net needs blocks the file does not have: the override is not ignored
    with pytest.raises(refresnet.LoadError) as err:
        refresnet.load(path, arch="cifar_resnet32")
    assert "layer1.3" in str(err.value) and "resnet20_a_module.th" in str(err.value)


def _drop_tensor_from_zip(src, dst, key, later_key):
    """Copy a torch zip checkpoint with `key` missing from its state_dict, without torch:
    rename `key` in data.pkl to `later_key` (same length, so the pickle stays valid; the
    later real entry overwrites it when the dict is rebuilt). zipfile recomputes CRCs."""
    assert len(key) == len(later_key)
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.endswith("data.pkl"):
                assert data.count(key.encode()) == 1 and data.count(later_key.encode()) == 1
                data = data.replace(key.encode(), later_key.encode())
            zout.writestr(info, data)


@pytest.mark.parametrize(
    "fname,key,later",
    [
        ("resnet20_b_downsample.pth", "layer3.0.downsample.0.weight", "layer3.0.downsample.1.weight"),
        ("resnet20_b_shortcut.pth", "module.layer3.0.shortcut.0.weight", "module.layer3.0.shortcut.1.weight"),
    ],
)
def test_missing_projection_tensor_is_a_load_error_naming_it(tmp_path, fname, key, later):
    broken = tmp_path / ("broken_" + fname)
    _drop_tensor_from_zip(_path(fname), broken, key, later)
    # the copy is still a readable option-B file (layer2's projection is intact) ...
    assert refresnet.load(_path(fname)).arch.name == "cifar_resnet20_b"
    with pytest.raises(refresnet.LoadError) as err:
        refresnet.load(broken)
    msg = str(err.value)
    # ... that must be refused naming the missing tensor (file naming or refresnet's)
    bare = key[len("module."):] if key.startswith("module.") else key
    assert bare in msg or "layer3.0.shortcut.0.weight" in msg, msg
    assert str(broken.name) in msg


def test_pristine_copy_of_zip_loads(tmp_path):
    """Control for the test above: the same rewrite without the rename loads fine, so
    the LoadError is caused by the missing tensor, not by the copying."""
    dst = tmp_path / "copy.pth"
    src = _path("resnet20_b_downsample.pth")
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            zout.writestr(info, zin.read(info))
    err = rel_err(refresnet.load(dst)(_x()), _expected()["resnet20_b_downsample.pth::logits"])
    assert err <= NET_RTOL
