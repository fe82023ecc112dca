"""The user's property test of docs/testing.md, run as part of the suite.

The block between the two marker comments is the documentation's example, verbatim
(``test_docs_show_this_example`` keeps them equal).  The other tests plug the three classic
bugs of hand-written init code into the same ten lines and check that each one fails.
"""
# --- docs/testing.md example: begin
import pytest
import torch
from hypothesis import given, settings

from initmath import critical_sigma
from initmath.testing import assert_moment_preserved
from initmath.testing.strategies import moments, slopes, widths


def my_init_(w, s, a):  # the code under test: the std that preserves E||x||^s
    return torch.nn.init.normal_(w, std=float(critical_sigma(s, w.shape[0], a)))


@pytest.mark.statistical(false_alarm=1e-6)
@settings(max_examples=8, deadline=None)
@given(s=moments(max_value=2.0), d=widths(min_value=16, max_value=64), a=slopes())
def test_my_init_preserves_the_moment(s, d, a):
    assert_moment_preserved(lambda w: my_init_(w, s, a), s=s, width=d, slope=a)
# --- docs/testing.md example: end


import math
import pathlib

from scipy.special import comb, gamma, hyp2f1

from initmath.testing import StatisticalAssertionError

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _example_in(text, begin, end):
    start = text.index(begin) + len(begin)
    return text[start:text.index(end, start)].strip("\n")


@pytest.mark.repository
def test_docs_show_this_example():
    here = _example_in(pathlib.Path(__file__).read_text(encoding="utf-8"),
                       "# --- docs/testing.md example: begin\n",
                       "# --- docs/testing.md example: end")
    docs = (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
    block = _example_in(docs, "<!-- example: tests/test_testing_example.py -->\n```python\n",
                        "```")
    assert block == here, "docs/testing.md's first example differs from " \
                          "tests/test_testing_example.py: update one from the other"


# The three bugs that a hand-written property test caught (issue 16), as inits with the
# signature of my_init_.
def _one_percent_small(w, s, a):
    """The std 1.2% too small (a hand-rounded constant at d = 8)."""
    return torch.nn.init.normal_(w, std=0.988 * float(critical_sigma(s, w.shape[0], a)))


def _naive_sigma(s, d, a):
    """sigma = I**(-1/s) from the textbook sum: I = inf at d = 199 (hyp2f1 overflows)."""
    total = sum(comb(d, n) * 2.0 ** -d * hyp2f1(-s / 2, (d - n) / 2, d / 2, 1 - a * a)
                for n in range(d + 1))
    return (2 ** (s / 2) * gamma((d + s) / 2) / gamma(d / 2) * total) ** (-1 / s)


def _naive_formula(w, s, a):
    return torch.nn.init.normal_(w, std=_naive_sigma(s, w.shape[0], a))


def _kaiming(w, s, a):
    """Kaiming's ReLU gain sqrt(2), whatever the slope."""
    return torch.nn.init.kaiming_normal_(w)


def test_naive_formula_gives_sigma_zero_at_199():
    assert _naive_sigma(1.0, 199, 0.0) == 0.0 and math.isfinite(_naive_sigma(1.0, 64, 0.0))


@pytest.mark.parametrize(("bug", "s", "d", "a", "shown"), [
    (_one_percent_small, 1.0, 8, 0.0, "(-1.37%;"),
    (_naive_formula, 1.0, 199, 0.0, "a std 0 times the critical sigma"),
    (_kaiming, 2.0, 64, 0.3, "(+4.28%;"),
])
def test_the_example_catches_each_classic_bug(monkeypatch, bug, s, d, a, shown):
    # the same ten lines with the bug as the init under test, at one fixed example
    monkeypatch.setitem(globals(), "my_init_", bug)
    with pytest.raises(StatisticalAssertionError, match="is rejected") as failure:
        test_my_init_preserves_the_moment.hypothesis.inner_test(s=s, d=d, a=a)
    assert shown in str(failure.value)
    [result] = failure.value.results
    assert not result.passed and abs(result.z) > result.threshold


def test_the_example_passes_at_the_bugs_examples():
    # ... and the correct init passes at the same three examples
    for s, d, a in [(1.0, 8, 0.0), (1.0, 199, 0.0), (2.0, 64, 0.3)]:
        test_my_init_preserves_the_moment.hypothesis.inner_test(s=s, d=d, a=a)
