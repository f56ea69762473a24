"""The figures README.md quotes are the ones the tests assert (tests/tolerances.py
README_FIGURES), and the assertion fails on a 10x regression of any of them.

Each figure is measured by its own test (test_parity_*, test_agree, test_load_onnx,
test_compare_onnx, test_preprocess) through `tolerances.assert_figure`; this file
checks the link to the README's text and the checker itself."""

import os

import pytest

from tolerances import FIGURE_FACTOR, README_FIGURES, assert_figure

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def readme_text():
    assert os.path.isfile(README), f"README.md not found at {README}: the figures cannot be checked against it"
    with open(README, encoding="utf-8") as f:
        return " ".join(f.read().split())


@pytest.mark.parametrize("key", sorted(README_FIGURES))
def test_each_asserted_figure_is_the_one_the_readme_quotes(key):
    assert README_FIGURES[key]["text"] in readme_text(), f"README.md no longer says {README_FIGURES[key]['text']!r} ({key})"


@pytest.mark.parametrize("key", sorted(README_FIGURES))
def test_a_10x_regression_of_each_figure_fails(key):
    fig = README_FIGURES[key]
    value = fig["value"]
    if fig["kind"] == "count":
        assert_figure(key, value)
        for wrong in (value + 1, value - 1, value * 10 + 1):
            with pytest.raises(AssertionError, match="README.md quotes"):
                assert_figure(key, wrong)
    elif fig["kind"] == "bound_below":
        assert_figure(key, value * 1.01)
        with pytest.raises(AssertionError, match="README.md quotes"):
            assert_figure(key, value / FIGURE_FACTOR)
    else:
        assert_figure(key, value)
        with pytest.raises(AssertionError, match="README.md quotes"):
            assert_figure(key, value * FIGURE_FACTOR * 1.01)
        if fig["kind"] == "point":  # a point figure that fell 10x is stale too
            with pytest.raises(AssertionError, match="README.md quotes"):
                assert_figure(key, value / FIGURE_FACTOR / 1.01)
