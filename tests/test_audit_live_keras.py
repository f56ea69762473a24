"""refresnet.audit.init against a live Keras (skipped when it is absent): a model built now
with each Keras scheme, read through its ``weights``."""

import pytest

keras = pytest.importorskip("keras")

from refresnet import audit  # noqa: E402

pytestmark = pytest.mark.keras


def _model(init):
    from keras import layers

    inp = keras.Input((32, 32, 3))
    x = inp
    for i, filters in enumerate((16, 32, 64)):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, kernel_initializer=init, name=f"c{i}")(x)
        x = layers.BatchNormalization(name=f"bn{i}")(x)
    return keras.Model(inp, x)


@pytest.mark.parametrize("init,scheme", [("glorot_uniform", "keras-glorot-uniform"), ("he_normal", "keras-he-normal")])
def test_live_keras_schemes(init, scheme):
    keras.utils.set_random_seed(7)
    r = audit.init(_model(init), expect=scheme)
    assert r.ok, r.departures
    assert r.source == "keras model" and r.bn_gamma == "ones"
