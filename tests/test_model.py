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


def test_the_executor_names_no_op():
    # The interpreter knows ops only through their records' flags: no string in
    # executor.py's code (docstrings aside) is the name of a registered op.
    import ast
    import os

    from refresnet.runtime import executor, registry

    path = os.path.splitext(executor.__file__)[0] + ".py"
    tree = ast.parse(open(path, encoding="utf-8").read())
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef)) and n.body
                  and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    named = sorted({n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
                    and id(n) not in docstrings and n.value in registry.OPS})
    assert len(registry.OPS) > 20 and "conv2d" in registry.OPS  # the check has names to find
    assert named == [], f"executor.py names ops {named}; ask the op's record (refresnet/runtime/registry.py) instead"


def _bottleneck_tail(op, rng):
    # conv3 -> bn3 -> (alias) -> add(identity) -> relu -> (alias), with the op
    # names taken from ``op``: the fusions of a torchvision bottleneck's tail.
    from refresnet.runtime.executor import Node

    bn = dict(mean=rng.normal(size=6), var=rng.uniform(0.5, 2, size=6), gamma=rng.normal(size=6),
              beta=rng.normal(size=6), eps=1e-5)
    return [Node("identity", op["conv2d"], ("input",), dict(w=rng.normal(size=(6, 4, 1, 1)))),
            Node("c", op["conv2d"], ("input",), dict(w=rng.normal(size=(6, 4, 3, 3)), bias=rng.normal(size=6),
                                                      padding=1)),
            Node("bn", op["batch_norm"], ("c",), bn),
            Node("branch", op["alias"], ("bn",), {}),
            Node("add", op["add"], ("identity", "branch"), {}),
            Node("r", op["relu"], ("add",), {}),
            Node("block", op["alias"], ("r",), {})]


def test_a_renamed_copy_of_each_op_is_planned_fused_and_shared_the_same(monkeypatch):
    # The plan and the thread team ask an op's flags, never its name: records
    # copied under other names give the same steps and the same bits, and the
    # conv copy is handed the team (takes_team) like conv2d.
    from refresnet.runtime import executor, registry, threads

    monkeypatch.setattr(registry, "OPS", dict(registry.OPS))
    teams = []

    def conv_copy(*args, **kwargs):
        teams.append(kwargs.get("team"))
        return registry.get("conv2d").float64(*args, **kwargs)

    same = {op: op for op in ("conv2d", "batch_norm", "alias", "add", "relu")}
    renamed = {op: f"renamed_{op}" for op in same}
    for op, name in renamed.items():
        record = registry.get(op)
        flags = {k: v for k, v in record._asdict().items() if k not in ("name", "float64", "emulated")}
        registry.register(name, conv_copy if op == "conv2d" else record.float64, record.emulated, **flags)
    rng = np.random.default_rng(11)
    original = executor.Program(_bottleneck_tail(same, np.random.default_rng(5)), "block")
    copy = executor.Program(_bottleneck_tail(renamed, np.random.default_rng(5)), "block")

    def shape(step):
        return step.name, step.inputs, step.inplace, step.fused, step.residual, sorted(step.kwargs)

    assert [s.fused for s in original.steps] == [("identity",), ("c", "bn", "add", "r")]
    assert [shape(s) for s in copy.steps] == [shape(s) for s in original.steps]
    assert [s.op for s in copy.steps] == [renamed[s.op] for s in original.steps]
    assert copy.step_output == original.step_output == "r"
    x = rng.normal(size=(1, 4, 12, 10))
    expected = original.run(x, fused=True)
    assert np.array_equal(copy.run(x, fused=True), expected)
    assert np.array_equal(copy.run(x), original.run(x))
    team = executor.Team(2)
    try:
        with threads.single_threaded_blas():
            teams.clear()
            assert np.array_equal(copy.run(x, fused=True, team=team), expected)
    finally:
        team.close()
    assert teams == [team, team]

    # The flags are what the plan reads: the same copy of conv2d without them fuses nothing.
    registry.register("plain_conv2d", conv_copy, registry.get("conv2d").emulated)
    plain = executor.Program(_bottleneck_tail(dict(renamed, conv2d="plain_conv2d"), np.random.default_rng(5)), "block")
    assert [s.fused for s in plain.steps] == [("identity",), ("c",), ("bn",), ("add", "r")]
    assert np.array_equal(plain.run(x, fused=True), expected)


def test_register_refuses_unknown_flags_and_fusion_roles(monkeypatch):
    from refresnet.runtime import registry

    monkeypatch.setattr(registry, "OPS", dict(registry.OPS))
    with pytest.raises(ValueError, match="unknown flags fuses_conv; expected some of channelwise, "):
        registry.register("new_op", abs, abs, fuses_conv=True)
    with pytest.raises(ValueError, match="fuses_as 'conv2d'; expected None or one of batch_norm, add, relu"):
        registry.register("new_op", abs, abs, fuses_as="conv2d")
    with pytest.raises(ValueError, match="op 'relu' is already registered"):
        registry.register("relu", abs, abs)
    assert "new_op" not in registry.OPS
    assert registry.register("new_op", abs, abs, fuses_as="relu").backward is None  # reserved for the gradients issue


def test_each_op_is_one_file_named_after_it_holding_its_record():
    # Adding an op is its file in refresnet/runtime/ops/ (float64 function,
    # emulation, backward, record) and its test: each registered op has that
    # file, and each op file registers the op it is named after, with its
    # backward defined in the same file.
    import importlib
    import pkgutil

    from refresnet.runtime import ops, registry

    files = {m.name for m in pkgutil.iter_modules(ops.__path__) if not m.name.startswith("_")}
    assert files == set(registry.OPS)
    for name, record in registry.OPS.items():
        module = importlib.import_module(f"refresnet.runtime.ops.{name}")
        assert module.OP is record and record.name == name
        assert record.float64 is getattr(module, name)
        assert callable(record.emulated)
        assert record.backward is getattr(module, f"{name}_backward"), f"{name}: its backward is not in its file"
        assert all(isinstance(p, str) for p in record.params)
