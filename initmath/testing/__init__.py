"""initmath as a calibrated oracle in your own property-based tests.

A property test of initialization code in about ten lines (``docs/testing.md``)::

    import pytest, torch
    from hypothesis import given, settings
    from initmath import critical_sigma
    from initmath.testing import assert_moment_preserved
    from initmath.testing.strategies import moments, slopes, widths

    def my_init_(w, s, a):   # the code under test: the std that preserves E||x||^s
        return torch.nn.init.normal_(w, std=float(critical_sigma(s, w.shape[0], a)))

    @pytest.mark.statistical(false_alarm=1e-6)        # for the whole test, all examples
    @settings(max_examples=8, deadline=None)
    @given(s=moments(max_value=2.0), d=widths(min_value=16, max_value=64), a=slopes())
    def test_my_init_preserves_the_moment(s, d, a):
        assert_moment_preserved(lambda w: my_init_(w, s, a), s=s, width=d, slope=a)

(``tests/test_testing_example.py``).  What is here:

* **Assertions** (simulate your torch code, test it against initmath):
  :func:`assert_moment_preserved` (E||x_L||^s = ||x_0||^s through max(h, a h) layers),
  :func:`assert_layer_law` (the finite-width law of ||x_L|| for any activation),
  :func:`assert_matches` (your own formula: a mean, several means, or a CDF).  A failure
  raises :class:`StatisticalAssertionError` with what was expected and measured, the
  z-score, the sample count and the smallest error the test could detect.
* **Their error rates**: ``false_alarm`` (default 1e-6: the probability that correct code
  fails) and ``power`` (default 0.99 at the stated ``discrepancy``); the companions
  :func:`min_samples` and :func:`min_discrepancy` (as in TensorFlow Probability's
  ``statistical_testing``), :func:`moment_test_size` (the networks
  :func:`assert_moment_preserved` draws), :func:`moment_spread`, :func:`holm`.
* **Budgets and seeds**: :func:`false_alarm_budget` shares one test's false-alarm rate among
  all its assertions; the pytest plugin (:mod:`initmath.testing.plugin`, loaded
  automatically) opens one for every test marked ``@pytest.mark.statistical`` and gives
  the fixtures ``initmath_device``, ``initmath_cuda``, ``initmath_seed``.
* **Strategies** for hypothesis (:mod:`initmath.testing.strategies`; needs the ``test``
  extra): moments, widths, slopes, RReLU intervals, keep probabilities, matrix shapes,
  depths, precisions, activations, whole layer stacks.
* **Calibration** (:mod:`initmath.testing.calibration`): the measured false-alarm rates and
  powers of these tests, from exact samplers of their statistics.

Importing this package imports neither torch nor hypothesis; the assertions import torch
when called.
"""
_EXPORTS = {
    **{name: "_budget" for name in ("FalseAlarmBudget", "active_budget",
                                    "false_alarm_budget")},
    **{name: "_statistics" for name in ("TestResult", "holm", "min_discrepancy",
                                        "min_samples")},
    **{name: "assertions" for name in ("Spread", "StatisticalAssertionError",
                                       "assert_layer_law", "assert_matches",
                                       "assert_moment_preserved", "moment_spread",
                                       "moment_test_size", "network_spread")},
}


def __getattr__(name):
    # Loaded on first use: the pytest plugin imports this package in every pytest run.
    if name in _EXPORTS:
        import importlib
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
