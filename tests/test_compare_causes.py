"""compare's causes as records: every cause in refresnet.diagnose.causes.CAUSES has a
stable id, a sentence and the ops it applies to; ids are unique and do not change.

Each cause's diagnosis is tested on planted bugs in test_compare*.py, by cause_id.
"""

import re
import string

import numpy as np
import pytest

from refresnet.diagnose.causes import ANY_OP, CAUSES, Cause, get_cause, register
from refresnet.diagnose.causes.preprocessing import input_maps
from refresnet.runtime.registry import OPS

# Every cause_id, in the order compare tries them. A cause_id is a contract with
# the users who match on it (reports, JSON, assertion messages): renaming or
# dropping one must fail here.
STABLE_IDS = [
    "layout.transposed",
    "bn.eps", "bn.eps_fitted", "bn.train_mode",
    "conv.stride", "shape.stride_on_1x1", "shape.stride_off_3x3", "shape.stride", "shape.follows",
    "shape.follows_recomputed",
    "padding.valid", "padding.symmetric", "padding.tf_same",
    "conv.bias", "conv.no_bias", "kernel.flipped", "kernel.transposed", "weights.swapped",
    "pool.avg_for_max", "pool.avg_excl_pad_for_max", "pool.zero_padding", "pool.max_for_avg",
    "pool.global_max_for_avg", "pool.global_avg_for_max", "pool.padding", "pool.ceil_mode", "pool.tf_same",
    "pool.padding_ceil_mode", "pool.window",
    "relu.missing", "relu.before_add", "relu.extra",
    "input.bgr", "input.scale_255", "input.missing_mean_std", "input.missing_std", "input.caffe_rgb",
    "input.preset", "input.affine_fitted",
]

# Causes found by the comparison itself rather than tried by a function of theirs.
FOUND_BY_THE_ENGINE = {"layout.transposed", "shape.follows", "shape.follows_recomputed"}


def test_cause_ids_are_unique_and_stable():
    assert len(set(STABLE_IDS)) == len(STABLE_IDS)
    assert list(CAUSES) == STABLE_IDS


@pytest.mark.parametrize("cause_id", list(CAUSES))
def test_each_cause_has_an_id_a_sentence_and_the_ops_it_applies_to(cause_id):
    cause = CAUSES[cause_id]
    assert cause.cause_id == cause_id
    assert re.fullmatch(r"[a-z0-9]+\.[a-z0-9_]+", cause_id), cause_id
    # a sentence: text besides its fields, and every field a plain name the candidates fill
    fields = [f for _, f, _, _ in string.Formatter().parse(cause.sentence) if f is not None]
    assert all(re.fullmatch(r"[a-z_]+", f) for f in fields), fields
    assert len(re.sub(r"\{[^}]*\}", "", cause.sentence).split()) >= 2, cause.sentence
    assert cause.ops and all(op == ANY_OP or op in OPS for op in cause.ops), cause.ops
    assert all(cause.applies_to(op) for op in cause.ops if op != ANY_OP)
    assert isinstance(cause.priority, int) and cause.priority >= 0
    if cause_id in FOUND_BY_THE_ENGINE:
        assert cause.values is None and cause.shape is None
    else:
        assert callable(cause.values) or callable(cause.shape)


def test_a_cause_applies_only_to_its_ops():
    assert get_cause("bn.eps").applies_to("batch_norm") and not get_cause("bn.eps").applies_to("conv2d")
    assert get_cause("relu.extra").applies_to("conv2d")  # ANY_OP


def test_a_second_cause_with_a_registered_id_is_refused():
    with pytest.raises(ValueError, match="'bn.eps' is already registered"):
        register(Cause("bn.eps", ("batch_norm",), "another BN eps"))
    assert CAUSES["bn.eps"].sentence.startswith("BN eps")


def test_an_unknown_cause_id_lists_the_known_ones():
    with pytest.raises(KeyError, match=r"unknown cause 'bn\.epsilon'; expected one of layout\.transposed, bn\.eps"):
        get_cause("bn.epsilon")


def test_every_input_map_names_a_registered_cause():
    maps = input_maps()
    assert {m.cause_id for m in maps} <= set(CAUSES)
    assert {"input.preset", "input.scale_255", "input.missing_mean_std"} <= {m.cause_id for m in maps}
    # the map a mistake's cause tries is what its name says: 0..255 unscaled, 0..1 without mean/std
    [raw] = [m for m in maps if m.cause_id == "input.scale_255"]
    assert np.array_equal(raw.scale, np.ones(3)) and not raw.offset.any()
    [unit] = [m for m in maps if m.cause_id == "input.missing_mean_std"]
    assert np.allclose(unit.scale, 1 / 255, rtol=1e-15) and not unit.offset.any()
