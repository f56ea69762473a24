"""The package's layers: every import points down, and no module imports another
in a cycle (README "How the code is laid out").

Imports are read from the source with ast, those inside functions included: an
import moved into a function to dodge a cycle is still an arrow.
"""

import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "refresnet")

# Bottom to top. A module may import from its own rank and below; modules of one
# rank must not import each other in a cycle (checked below).
RANKS = [
    ("refresnet.errors", "refresnet.text"),
    ("refresnet.kernels", "refresnet.runtime"),
    ("refresnet.io",),
    ("refresnet.preprocess",),
    ("refresnet.families",),
    ("refresnet.build",),
    ("refresnet.model", "refresnet.load", "refresnet.weights", "refresnet.grad", "refresnet.ops"),
    ("refresnet.datasets", "refresnet.audit"),
    ("refresnet.diagnose",),
    ("refresnet.testing",),
    ("refresnet.cli",),
    ("refresnet.__main__", "refresnet"),
]


def rank_of(module):
    best = None
    for r, prefixes in enumerate(RANKS):
        for p in prefixes:
            if module == p or module.startswith(p + "."):
                if best is None or len(p) > best[1]:
                    best = (r, len(p))
    if best is None:
        raise AssertionError(f"{module}: not placed in any layer of tests/test_layers.py RANKS")
    return best[0]


def modules():
    """{dotted name: path} of every module of the package and of kernels/."""
    out = {}
    for base, top in ((PACKAGE, "refresnet"), (os.path.join(ROOT, "kernels"), "refresnet.kernels")):
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            for f in filenames:
                if f.endswith(".py"):
                    parts = os.path.relpath(os.path.join(dirpath, f), base)[:-3].split(os.sep)
                    if parts[-1] == "__init__":
                        parts = parts[:-1]
                    out[".".join([top] + parts)] = os.path.join(dirpath, f)
    return out


def imports(name, path, known):
    """The refresnet modules ``name`` imports (every import statement in the file)."""
    with open(path, encoding="utf-8") as f:
        return imports_from_source(name, path.endswith("__init__.py"), f.read(), known)


def imports_from_source(name, is_pkg, source, known):
    tree = ast.parse(source)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in known else mod for a in node.names]
        else:
            continue
        for t in targets:
            if t == "refresnet" or t.startswith("refresnet."):
                while t not in known and "." in t:
                    t = t.rsplit(".", 1)[0]
                if t in known and t != name:
                    found.add(t)
    return found


def upward_imports(graph):
    """["A imports B"] for every arrow from a module to a higher layer."""
    upward = []
    for mod, targets in graph.items():
        for t in targets:
            if t.startswith(mod + "."):  # a package's __init__ importing its own modules
                continue
            if rank_of(t) > rank_of(mod):
                upward.append(f"{mod} imports {t}")
    return sorted(upward)


def import_cycles(graph):
    """Each set of modules that import one another in a cycle (Tarjan's strongly
    connected components), as a sorted list."""
    index, low, stack, on, cycles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(cycles)


@pytest.fixture(scope="module")
def graph():
    if not os.path.isfile(os.path.join(PACKAGE, "__init__.py")):
        pytest.fail(f"no refresnet source beside the tests ({PACKAGE}): run the suite from a checkout")
    known = modules()
    assert len(known) > 50
    return {n: imports(n, p, known) for n, p in known.items()}


def test_every_import_points_down(graph):
    upward = upward_imports(graph)
    assert not upward, "imports that point up a layer:\n" + "\n".join(upward)


def test_no_import_cycle(graph):
    cycles = import_cycles(graph)
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_only_main_imports_the_command_line(graph):
    users = sorted(m for m, ts in graph.items() if any(t == "refresnet.cli" or t.startswith("refresnet.cli.") for t in ts)
                   and not (m == "refresnet.cli" or m.startswith("refresnet.cli.") or m == "refresnet.__main__"))
    assert users == [], f"modules importing the command line: {users}"


def test_the_checkers_find_a_planted_upward_import_and_cycle(graph):
    # runtime importing cli, inside a function or not, is an upward arrow; an arrow
    # back from load to model closes a cycle (model is imported by load).
    planted = {k: set(v) for k, v in graph.items()}
    planted["refresnet.runtime.executor"].add("refresnet.cli")
    assert "refresnet.runtime.executor imports refresnet.cli" in upward_imports(planted)
    assert "refresnet.runtime.executor imports refresnet.cli" not in upward_imports(graph)
    assert "refresnet.model" in graph["refresnet.load"]
    planted = {k: set(v) for k, v in graph.items()}
    planted["refresnet.model"].add("refresnet.load")
    assert ["refresnet.load", "refresnet.model"] in import_cycles(planted)
    # and a function-level import is read: a module text with the import inside a def
    src = "def f():\n    from ..cli import main\n"
    tree_targets = imports_from_source("refresnet.runtime.executor", False, src, set(graph) | {"refresnet.cli"})
    assert tree_targets == {"refresnet.cli"}
