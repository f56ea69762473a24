"""refresnet.audit.augmentation on transforms written here in NumPy, whose every draw
is known: the decoding must recover each crop offset and flip exactly. (The real
torchvision pipelines are in test_audit_augment.py.)"""

from collections import Counter

import numpy as np
import pytest

from refresnet import audit

MEAN = np.array((0.4914, 0.4822, 0.4465), np.float32)
STD = np.array((0.2470, 0.2435, 0.2616), np.float32)


class NumpyCrop:
    """pad (np.pad: 'constant' zeros, 'reflect' = torch's reflect, 'symmetric', 'edge'),
    a random size x size crop, a flip with probability ``flip``, ToTensor-like scaling and
    Normalize before or after the padding; HWC output; remembers its draws."""

    def __init__(self, pad=4, flip=0.5, mode="constant", order="before", mean=MEAN, std=STD, seed=0, size=32):
        self.pad, self.flip, self.mode, self.order = pad, flip, mode, order
        self.mean, self.std, self.size = mean, std, size
        self.rng = np.random.default_rng(seed)
        self.draws = []

    def __call__(self, img):
        a = np.asarray(img).astype(np.float32) / np.float32(255)
        if self.order == "after":
            a = (a - self.mean) / self.std
        p = self.pad
        if p:
            a = np.pad(a, ((p, p), (p, p), (0, 0)), mode=self.mode)
        dy, dx = self.rng.integers(0, 2 * p + 1, 2)
        a = a[dy:dy + self.size, dx:dx + self.size]
        f = bool(self.rng.random() < self.flip)
        if f:
            a = a[:, ::-1]
        if self.order == "before":
            a = (a - self.mean) / self.std
        if np.asarray(img).min() != np.asarray(img).max():  # the code image, not a flat one
            self.draws.append((int(dy) - p, int(dx) - p, f))
        return np.ascontiguousarray(a)


def test_code_image_by_hand():
    img = audit.code_image(32)
    assert img.shape == (32, 32, 3) and img.dtype == np.uint8
    assert tuple(img[0, 0]) == (4, 4, 252) and tuple(img[31, 31]) == (252, 252, 4)
    assert tuple(img[2, 5]) == (20, 44, 236)


@pytest.mark.parametrize("mode,named", [("constant", "zero"), ("reflect", "reflect"), ("symmetric", "symmetric"),
                                        ("edge", "edge")])
def test_every_draw_recovered_exactly(mode, named):
    t = NumpyCrop(mode=mode, seed=3)
    r = audit.augmentation(t, n=3000, input="array")
    want = Counter((dy, dx) for dy, dx, _ in t.draws)
    assert r.offsets == {f"{a},{b}": c for (a, b), c in sorted(want.items())}
    assert r.flip_rate == sum(f for *_, f in t.draws) / 3000
    assert r.pad_width == 4 and r.pad_mode == named and r.undecoded == 0
    assert r.layout == "HWC"
    assert np.allclose(r.mean, MEAN, atol=1e-5) and np.allclose(r.std, STD, atol=1e-5)
    assert r.normalisation == "cifar10"
    assert r.ok == (mode == "constant"), r.departures
    if mode != "constant":
        assert [d["id"] for d in r.departures] == ["augment.pad_mode"]


def test_pad_after_normalising_is_the_mean_colour():
    t = NumpyCrop(order="after", seed=1)
    r = audit.augmentation(t, n=2000, input="array", expect="torchvision-cifar")
    assert r.pad_order == "after"
    assert np.allclose(r.pad_value, 255 * MEAN, atol=1e-3)
    assert [d["id"] for d in r.departures] == ["augment.pad_order"]


def test_smaller_crop_and_wider_pad_are_named():
    r = audit.augmentation(NumpyCrop(pad=6, seed=2), n=2000, input="array")
    assert r.pad_width == 6 and [d["id"] for d in r.departures] == ["augment.pad_width"]
    assert r.departures[0]["p"] == 0.0  # offsets of +-5, +-6 are impossible under a 4-pixel pad
    r = audit.augmentation(NumpyCrop(pad=0, size=28, flip=0.5, seed=2), n=500, input="array")
    assert "augment.output_size" in [d["id"] for d in r.departures]


def test_unknown_recipe_and_bad_outputs():
    with pytest.raises(ValueError, match="unknown recipe 'cifar'; expected one of torchvision-cifar, he2015-cifar"):
        audit.augmentation(NumpyCrop(), expect="cifar")
    with pytest.raises(ValueError, match="expected a \\(3, H, W\\) or \\(H, W, 3\\) image"):
        audit.augmentation(lambda img: np.zeros(5), n=10, input="array")
    with pytest.raises(ValueError, match="does not depend on the input"):
        audit.augmentation(lambda img: np.zeros((32, 32, 3)), n=10, input="array")


def test_a_per_pixel_mean_is_reported_not_decoded():
    # the paper's preprocessing: a mean image that varies over the image, subtracted per pixel
    mean_image = (0.45 + 0.05 * np.linspace(-1, 1, 32)[:, None, None] * np.ones((32, 32, 3))).astype(np.float32)

    def per_pixel(img):
        return np.asarray(img).astype(np.float32) / np.float32(255) - mean_image

    r = audit.augmentation(per_pixel, n=200, input="array", expect="he2015-cifar")
    assert "augment.per_pixel" in [d["id"] for d in r.departures]
