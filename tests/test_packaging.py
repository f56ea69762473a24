"""setup.cfg installs every package of the source tree.

setup.cfg lists the packages one by one (kernels/ installs as refresnet.kernels,
which a find: directive cannot express beside it), so a new subpackage that is
not listed would be missing from a non-editable install while every test run from
the checkout still passed.
"""

import configparser
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _source_packages():
    """Every directory under refresnet/ with an __init__.py, as a dotted name."""
    base = os.path.join(ROOT, "refresnet")
    found = set()
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        if "__init__.py" in filenames:
            rel = os.path.relpath(dirpath, base)
            found.add("refresnet" if rel == "." else "refresnet." + rel.replace(os.sep, "."))
    return found


def test_setup_cfg_lists_every_package():
    cfg_path = os.path.join(ROOT, "setup.cfg")
    if not os.path.isfile(cfg_path) or not os.path.isdir(os.path.join(ROOT, "refresnet")):
        pytest.fail(f"no source tree beside the tests ({ROOT}): run the suite from a checkout")
    cfg = configparser.ConfigParser()
    cfg.read(cfg_path)
    listed = {p.strip() for p in cfg["options"]["packages"].split("\n") if p.strip()}
    found = _source_packages()
    assert "refresnet" in found and len(found) > 5
    assert found - listed == set(), f"packages missing from setup.cfg's [options] packages: {sorted(found - listed)}"
    assert (listed - {"refresnet.kernels"}) - found == set(), f"setup.cfg lists packages that do not exist: {sorted((listed - {'refresnet.kernels'}) - found)}"
