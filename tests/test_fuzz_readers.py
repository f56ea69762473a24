"""A bounded property-based fuzz of every reader (issue 15): about 60 s in all.

Property: whatever bytes a mutated file holds, refresnet either reads it or raises
LoadError (ImageError for images) naming the file, and never an "internal error"
(the last guard's message for an exception no check foresaw). Mutations (flip, set,
insert, delete, truncate, duplicate a chunk), half of them within a file's first
8 KB where the structure is, are drawn by hypothesis from seeds: the small real
files committed in tests/fixtures/fuzz_corpus/ (copies of torch files recorded by
make_torch_files.py with real torch, real images, a few tiny Pillow-written images)
and, for Keras, files rebuilt at test time from the committed skeletons of real
Keras files (tests/fixtures/keras_cifar/). Derandomised with a fixed seed per reader,
so CI runs the same examples every time. Inputs the fuzz found wrong are kept in the
corpus as ``found_*`` and checked directly by test_corpus_files_read_or_refuse.

Each reader family fuzzes in its own child process with a memory limit and a timeout,
so an input that crashes or hangs a reader fails the test instead of killing the
suite; the child prints the offending input's hex.
"""

import os
import sys
import tempfile
import time

import pytest

from test_hostile_crafted import REPO, run_limited

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "fuzz_corpus")
#: Seconds of fuzzing per reader family (about 60 s in all, plus child start-up).
BUDGET = {"torch": 14, "safetensors": 7, "keras": 20, "images": 10}
SEEDS = {"torch": (".pth", ".tar"), "safetensors": (".safetensors",),
         "images": (".jpg", ".png", ".bmp", ".gif", ".tiff", ".webp", ".pgm")}
KINDS = ("flip", "set", "insert", "delete", "truncate", "duplicate")


class _TimeUp(Exception):
    pass


def mutate(data, muts):
    b = bytearray(data)
    for kind, where, near_start, value in muts:
        n = len(b)
        if n == 0:
            break
        span = min(n, 8192) if near_start else n
        i = min(int(where * span), n - 1)
        if kind == "flip":
            b[i] ^= 1 << (value[0] % 8)
        elif kind == "set":
            b[i:i + len(value)] = value
        elif kind == "insert":
            b[i:i] = value
        elif kind == "delete":
            del b[i:i + len(value)]
        elif kind == "truncate":
            del b[i:]
        else:  # duplicate a chunk in place
            b[i:i] = b[i:i + 16 * len(value)]
    return bytes(b)


def _keras_seeds(tmp):
    sys.path.insert(0, os.path.join(REPO, "tests"))
    from fixtures import keras_skeleton as ks
    from fixtures.paths import fixture_file
    from fixtures.synthetic import weights_from_npz

    regen = "PYTHONPATH=. /work/venv-tf/bin/python tests/fixtures/make_keras_cifar_fixtures.py"
    weights = weights_from_npz(fixture_file("keras_cifar", "resnet20_weights.npz", regen))
    out = []
    for tag, suffix in (("k3_weights_h5", ".weights.h5"), ("tfk_weights_h5", ".h5"), ("k3_keras", ".keras")):
        skel = ks.load(fixture_file("keras_cifar", f"resnet20.{tag}.skel.json.gz", regen))
        path = os.path.join(tmp, "seed" + suffix)
        ks.materialise(skel, weights, path, dtype="float16")
        with open(path, "rb") as f:
            out.append(f.read())
    return out


def run_fuzz(family, seconds):
    """Runs in the child: fuzz one reader family for `seconds`; prints the count."""
    from hypothesis import HealthCheck, Phase, given, seed, settings
    from hypothesis import strategies as st

    from refresnet.errors import LoadError
    from refresnet.load import read_weights
    from refresnet.preprocess import ImageError, load_image

    tmp = tempfile.mkdtemp()
    if family == "keras":
        seeds = _keras_seeds(tmp)
    else:
        seeds = [open(os.path.join(CORPUS, n), "rb").read() for n in sorted(os.listdir(CORPUS))
                 if n.endswith(SEEDS[family])]
    assert seeds, family
    path = os.path.join(tmp, "fuzzed")
    deadline = time.monotonic() + seconds
    count = [0]

    @seed(sum(map(ord, family)))
    @settings(max_examples=10**6, deadline=None, database=None, derandomize=True,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(st.integers(0, len(seeds) - 1),
           st.lists(st.tuples(st.sampled_from(KINDS), st.floats(0, 1), st.booleans(), st.binary(min_size=1, max_size=8)),
                    min_size=1, max_size=4))
    def prop(i, muts):
        if time.monotonic() > deadline:
            raise _TimeUp()
        data = mutate(seeds[i], muts)
        with open(path, "wb") as f:
            f.write(data)
        count[0] += 1
        try:
            if family == "images":
                load_image(path, "torchvision")
            else:
                read_weights(path)
        except (LoadError, ImageError) as err:
            if "internal error" in str(err) or path not in str(err):
                raise AssertionError(f"{err}\nINPUT {data.hex()}") from None
        except BaseException as err:
            raise AssertionError(f"{type(err).__name__}: {err}\nINPUT {data.hex()}") from None

    try:
        prop()
    except _TimeUp:
        pass
    print(count[0])


@pytest.mark.slow
@pytest.mark.parametrize("family", sorted(BUDGET))
def test_fuzz_reader(family):
    seconds = BUDGET[family]
    rc, out, err = run_limited(f"""
        import sys
        sys.path[:0] = [{os.path.join(REPO, 'tests')!r}]
        from test_fuzz_readers import run_fuzz
        run_fuzz({family!r}, {seconds})
    """, timeout=seconds + 90, memory=3 * 2**30)
    assert rc == 0, f"fuzzing {family} failed (rc {rc}):\n{err[-3000:]}"
    examples = int(out.split()[-1])
    print(f"{family}: {examples} mutated files in {seconds} s")
    assert examples >= 20, examples


@pytest.mark.parametrize("name", sorted(os.listdir(CORPUS)))
def test_corpus_files_read_or_refuse(name):
    """Every corpus file, including the inputs the fuzz once found (found_*: a zip
    claiming version 10.8 made zipfile raise NotImplementedError, which escaped)."""
    from refresnet.errors import LoadError
    from refresnet.load import read_weights
    from refresnet.preprocess import ImageError, load_image

    path = os.path.join(CORPUS, name)
    try:
        if name.endswith(SEEDS["images"]):
            load_image(path, "torchvision")
        else:
            read_weights(path)
    except (LoadError, ImageError) as err:
        assert "internal error" not in str(err) and path in str(err), str(err)
        assert name.startswith("found_"), str(err)  # the real files read
