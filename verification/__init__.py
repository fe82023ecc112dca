"""Monte Carlo verification of initmath's formulas: the random networks, simulated in torch.

Installed with the ``torch`` extra (``pip install initmath[torch]``).  Each theory area
has a module listing its checks (:class:`verification.core.Check`); a check simulates
the actual random network (fresh Gaussian weights, batched matmul, real torch.nn modules
where the theory is about them), compares a statistic with initmath's prediction, and
includes negative controls, deliberately wrong formulas the same check must reject.
Runs on CUDA when present and on the CPU otherwise::

    python -m verification --quick                 # ~40 s on an idle 2-core CPU
    python -m verification --device cuda --json report.json
    torchrun --nproc-per-node 2 -m verification    # the same verdicts, spread over ranks

:mod:`verification.figures` computes the simulated points that the figures of
:mod:`initmath.outputs.plots` overlay.  This package depends on initmath, never the
reverse (only initmath's command line calls into it, lazily).
"""
__all__ = ["ALPHA", "CHUNKS", "POWER", "Check", "Result", "all_checks", "ok", "run_check"]
_CORE = frozenset(__all__) - {"all_checks"}


def __getattr__(name):
    """The names of :mod:`verification.core`, imported on first use: importing the
    package (e.g. for :mod:`verification.figures`) does not import torch."""
    if name in _CORE:
        from . import core
        return getattr(core, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def all_checks():
    """Every registered check, area by area."""
    from . import (
        any_activation,
        architectures,
        critical_variance,
        finite_depth,
        hessian,
        hessian_theorems,
        kl,
        lyapunov,
        wishart,
    )
    return [check for area in (critical_variance, lyapunov, wishart, hessian, hessian_theorems,
                               kl, any_activation, finite_depth, architectures)
            for check in area.checks()]
