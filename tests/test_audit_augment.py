"""refresnet.audit.augmentation on real torchvision 0.29.1 pipelines, replayed call by
call from tests/fixtures/audit/augment_*.npz (recorded by
tests/fixtures/make_audit_fixtures.py): the correct recipes pass, each fault is named.

The pipelines' constants below are what the recording script built them with (inputs to
torchvision), not refresnet's outputs."""

import time

import numpy as np
import pytest

from audit_fixtures import Recorded
from refresnet import audit

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)

FAULTS = {
    # pipeline: (recipe audited against, the departure it must name)
    "pad2": ("torchvision-cifar", "augment.pad_width"),
    "reflect": ("torchvision-cifar", "augment.pad_mode"),
    "edge": ("torchvision-cifar", "augment.pad_mode"),
    "pad_after_normalise": ("torchvision-cifar", "augment.pad_order"),
    "no_flip": ("torchvision-cifar", "augment.flip"),
    "flip_0.3": ("torchvision-cifar", "augment.flip"),
    "crop_without_padding": ("torchvision-cifar", "augment.no_padding"),
    "per_image_std": ("torchvision-cifar", "augment.normalisation"),
    "imagenet_constants": ("torchvision-cifar", "augment.normalisation"),
    "test_transform": ("torchvision-cifar", "augment.not_random"),
    "he2015_with_std": ("he2015-cifar", "augment.normalisation"),
    "he2015_pad_before": ("he2015-cifar", "augment.pad_order"),
}


def audit_seed(rec, seed, expect):
    # CPU seconds of this process (all its threads), not wall time: the machine is shared, and
    # the budget is 30 s of a 2-core machine's work
    t = time.process_time()
    r = audit.augmentation(rec.replay(seed), n=rec.meta["n"], expect=expect)
    return r, time.process_time() - t


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_each_fault_rejected_at_p_below_1e_6_and_named(name):
    expect, want = FAULTS[name]
    rec = Recorded(name)
    assert rec.meta["recipe"] == expect and rec.meta["n"] == 10000
    r, seconds = audit_seed(rec, 0, expect)
    assert seconds < 30
    hits = [d for d in r.departures if d["id"] == want]
    assert hits, [d["id"] for d in r.departures]
    assert all(d["p"] < 1e-6 for d in hits)


def test_faults_are_described_as_they_are():
    r, _ = audit_seed(Recorded("pad2"), 0, "torchvision-cifar")
    assert r.pad_width == 2 and r.pad_mode == "zero" and len(r.offsets) == 25
    r, _ = audit_seed(Recorded("reflect"), 0, "torchvision-cifar")
    assert r.pad_mode == "reflect" and r.pad_width == 4
    r, _ = audit_seed(Recorded("edge"), 0, "torchvision-cifar")
    assert r.pad_mode == "edge"
    r, _ = audit_seed(Recorded("per_image_std"), 0, "torchvision-cifar")
    assert r.normalisation == "cifar10-per-image-std"
    assert np.allclose(r.std, (0.2023, 0.1994, 0.2010), atol=1e-5)
    r, _ = audit_seed(Recorded("imagenet_constants"), 0, "torchvision-cifar")
    assert r.normalisation == "imagenet"
    r, _ = audit_seed(Recorded("flip_0.3"), 0, "torchvision-cifar")
    assert abs(r.flip_rate - 0.3) < 0.02
    r, _ = audit_seed(Recorded("test_transform"), 0, "torchvision-cifar")
    assert r.offsets == {"0,0": 10000} and r.flip_rate == 0.0


@pytest.mark.slow
@pytest.mark.parametrize("name,expect", [("torchvision_cifar", "torchvision-cifar"), ("he2015_cifar", "he2015-cifar")])
def test_correct_pipeline_rejected_in_at_most_1_percent_of_seeds(name, expect):
    rec = Recorded(name)
    seeds = rec.index.shape[0]
    rejected = []
    slowest = 0.0
    for seed in range(seeds):
        r, seconds = audit_seed(rec, seed, expect)
        slowest = max(slowest, seconds)
        if not r.ok:
            rejected.append((seed, [(d["id"], d["p"]) for d in r.departures]))
        # the deterministic facts hold in every seed
        assert r.pad_width == 4 and r.pad_mode == "zero" and r.undecoded == 0
        assert len(r.offsets) == 81
        if expect == "torchvision-cifar":
            assert r.normalisation == "cifar10" and r.pad_order == "before"
            assert np.allclose(r.mean, CIFAR_MEAN, atol=1e-5) and np.allclose(r.std, CIFAR_STD, atol=1e-5)
        else:
            # mean subtracted, no std; padded after: the border is the mean colour
            assert r.pad_order == "after" and np.allclose(r.pad_value, 255 * np.array(CIFAR_MEAN), atol=1e-3)
            assert np.allclose(r.std, 1.0, atol=1e-5)
    assert len(rejected) <= 0.01 * seeds, rejected
    assert slowest < 30
