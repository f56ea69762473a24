"""The model object: call vs trace, input checks, repr."""

import numpy as np
import pytest

import refresnet
from refresnet.build.synthetic import synthetic_weights
from refresnet.families.registry import get_family


@pytest.mark.parametrize("arch", ["resnet18", "resnext50_32x4d", "keras_resnet50", "keras_resnet50v2", "cifar_resnet20"])
def test_call_is_bitwise_the_traced_output(arch):
    # __call__ runs a fused, in-place plan; it must do the same IEEE operations as
    # the node-by-node trace.
    classes = get_family(refresnet.ARCHS[arch].naming).num_classes
    model = refresnet.build(arch, synthetic_weights(arch, seed=3, num_classes=classes))
    shape = (2, 3, 40, 36) if model.arch.layout == "NCHW" else (2, 40, 36, 3)
    x = np.random.default_rng(0).normal(size=shape)
    x_copy = x.copy()
    y = model(x)
    last = list(model.trace(x).values())[-1]
    assert y.dtype == np.float64
    assert np.array_equal(y.view(np.uint64), last.view(np.uint64))
    assert np.array_equal(x, x_copy), "the caller's input was modified"


def test_input_of_other_dtypes_is_computed_on_its_float64_value():
    model = refresnet.build("resnet18", synthetic_weights("resnet18", seed=1))
    x = np.random.default_rng(0).normal(size=(1, 3, 32, 32)).astype(np.float32)
    assert np.array_equal(model(x), model(x.astype(np.float64)))


@pytest.mark.parametrize(
    "shape, message",
    [((3, 32, 32), "add a batch axis"), ((1, 32, 32, 3), "3 channels"), ((1, 1, 3, 32, 32), "4-D")],
)
def test_bad_input_shapes_are_named(shape, message):
    model = refresnet.build("resnet18", synthetic_weights("resnet18", seed=1, calibrate=False))
    with pytest.raises(ValueError, match=message):
        model(np.zeros(shape))


def test_too_small_input_names_the_layer():
    # torchvision accepts any size down to 1x1; a 7x7 stem cannot read an empty axis
    model = refresnet.build("resnet18", synthetic_weights("resnet18", seed=1, calibrate=False))
    assert model(np.zeros((1, 3, 1, 1))).shape == (1, 1000)
    with pytest.raises(ValueError, match="layer conv1: .*kernel 7"):
        model(np.zeros((1, 3, 0, 5)))


def test_repr_says_which_variant_and_constants():
    model = refresnet.build("keras_resnet50_old", synthetic_weights("keras_resnet50_old", seed=1, calibrate=False))
    text = repr(model)
    assert "keras_resnet50_old" in text and "BN eps 0.001" in text and "stride on the first 1x1" in text


def test_a_conv_fused_with_the_relu_that_reads_it_applies_the_relu():
    # A graph with BN folded into the convs (an ONNX export) has conv -> ReLU; the
    # plan fuses the two, with or without a BN between, on one thread or shared.
    from refresnet.runtime import executor, threads

    rng = np.random.default_rng(7)
    w = rng.normal(size=(8, 3, 3, 3))
    nodes = [executor.Node("c", "conv2d", ("input",), dict(w=w, bias=rng.normal(size=8), padding=1)),
             executor.Node("r", "relu", ("c",), {})]
    program = executor.Program(nodes, "r")
    assert [s.fused for s in program.steps] == [("c", "r")]
    x = rng.normal(size=(1, 3, 40, 36))
    expected = np.maximum(refresnet.runtime.ops.conv2d(x, w, nodes[0].kwargs["bias"], padding=1), 0.0)
    assert (expected == 0).any() and (expected > 0).any()
    assert np.array_equal(program.run(x, fused=True), expected)
    team = executor.Team(2)
    try:
        with threads.single_threaded_blas():
            assert np.array_equal(program.run(x, fused=True, team=team), expected)
    finally:
        team.close()


@pytest.mark.parametrize("size", [(40, 36), (45, 50)])  # one GEMM panel; several panels (> COLUMN_BLOCK positions)
@pytest.mark.parametrize("with_bn", [True, False])
def test_a_conv_fused_with_the_residual_add_and_relu_gives_the_unfused_bits(size, with_bn):
    # The bottleneck's tail, conv3 -> bn3 -> add(identity) -> relu (or, BN folded
    # as in an ONNX export, conv -> add -> relu), becomes one plan step whose
    # epilogue adds the identity block by block; the bits are those of the four ops.
    from refresnet.runtime import executor, threads

    rng = np.random.default_rng(8)
    w, b = rng.normal(size=(6, 4, 3, 3)), rng.normal(size=6)
    bn = dict(mean=rng.normal(size=6), var=rng.uniform(0.5, 2, size=6), gamma=rng.normal(size=6),
              beta=rng.normal(size=6), eps=1e-5)
    nodes = [executor.Node("identity", "conv2d", ("input",), dict(w=rng.normal(size=(6, 4, 1, 1)))),
             executor.Node("c", "conv2d", ("input",), dict(w=w, bias=b, padding=1))]
    if with_bn:
        nodes.append(executor.Node("bn", "batch_norm", ("c",), bn))
    nodes += [executor.Node("add", "add", ("identity", nodes[-1].name), {}), executor.Node("r", "relu", ("add",), {})]
    program = executor.Program(nodes, "r")
    fused = [s for s in program.steps if s.residual]
    assert [s.fused for s in fused] == [("c",) + (("bn",) if with_bn else ()) + ("add", "r")]
    x = rng.normal(size=(2, 4) + size)
    y = refresnet.runtime.ops.conv2d(x, w, b, padding=1)
    if with_bn:
        y = refresnet.runtime.ops.batch_norm(y, **bn)
    expected = refresnet.runtime.ops.relu(refresnet.runtime.ops.add(refresnet.runtime.ops.conv2d(x, nodes[0].kwargs["w"]), y))
    assert (expected == 0).any() and (expected > 0).any()
    assert np.array_equal(program.run(x, fused=True), expected)
    team = executor.Team(2)
    try:
        with threads.single_threaded_blas():
            assert np.array_equal(program.run(x[1:], fused=True, team=team), expected[1:])
    finally:
        team.close()
