"""Reading tests/fixtures/audit/ (recorded by tests/fixtures/make_audit_fixtures.py from
real torch, torchvision and Keras): the initialised modules' layers and the pipelines'
outputs, replayed call by call."""

import glob
import json
import os

import numpy as np

from fixtures.paths import FIXTURES, fixture_file
from refresnet.audit import TensorSample

FOLDER = os.path.join(FIXTURES, "audit")
REGENERATE = "PYTHONPATH=. /tmp/fixvenv-audit/bin/python tests/fixtures/make_audit_fixtures.py"


def init_files():
    return sorted(os.path.basename(p) for p in glob.glob(os.path.join(FOLDER, "init_*.npz")))


def load_init(name):
    """(meta, [per seed {name: TensorSample}])."""
    z = np.load(fixture_file("audit", name, REGENERATE + " init-torch init-keras"))
    meta = json.loads(str(z["meta"]))
    arrays = [z[f"L{i}"] for i in range(len(meta["names"]))]
    seeds = []
    for s in range(meta["seeds"]):
        seeds.append({n: TensorSample(tuple(sh), a[s]) for n, sh, a in zip(meta["names"], meta["shapes"], arrays)})
    return meta, seeds


class Recorded:
    """One pipeline's recorded outputs: ``outputs`` (K, 3, H, W) float32, the distinct
    outputs rebuilt bit for bit, and ``index`` (seeds, calls)."""

    def __init__(self, name):
        z = np.load(fixture_file("audit", f"augment_{name}.npz", REGENERATE + " augment"))
        self.meta = json.loads(str(z["meta"]))
        codes = z["unique"]
        self.outputs = np.empty(codes.shape, np.float32)
        for c in range(3):
            self.outputs[:, c] = z[f"values_{c}"][codes[:, c]]
        self.index = z["index"]
        self.calibration = self.meta["sequence"].count("flat0")

    def replay(self, seed):
        return Replay(self, seed)


class Replay:
    """A transform that returns, call by call, what the real pipeline returned for seed
    ``seed``, after checking that it is given the very image the pipeline was given."""

    def __init__(self, rec, seed):
        self.rec = rec
        self.row = rec.index[seed]
        c = rec.calibration
        n = rec.meta["n"]
        self.kinds = ["flat0"] * c + ["flat255"] * c + ["code"] * n
        self.pos = 0

    def __call__(self, img):
        a = np.asarray(img)
        kind = self.kinds[self.pos]
        want = _inputs(a.shape[0])[kind]
        assert np.array_equal(a, want), f"call {self.pos}: the audit fed a different image than recorded ({kind})"
        out = self.rec.outputs[self.row[self.pos]]
        self.pos += 1
        return out


_INPUTS = {}


def _inputs(size):
    """The images make_audit_fixtures.py fed the pipelines, as that script builds them
    (refresnet.audit.augment.probe_sequence): flat 0, flat 255 and the code image."""
    if size not in _INPUTS:
        from refresnet.audit import code_image

        _INPUTS[size] = {"flat0": np.zeros((size, size, 3), np.uint8), "flat255": np.full((size, size, 3), 255, np.uint8),
                         "code": code_image(size)}
    return _INPUTS[size]
