"""initmath: the theory of neural-network weight initialization as exact, checkable numbers.

Fractional-moment critical variance (Gurbuzbalaban & Hu 2021):

>>> from initmath import critical_sigma
>>> round(float(critical_sigma(2.0, 512)), 6) == round((2 / 512) ** 0.5, 6)   # He at s = 2
True

Importing initmath does not import torch; the Monte Carlo checks live in the separate
``verification`` package.
"""
from .activations import activation
from .critical_variance import (
    critical_sigma,
    critical_sigmas,
    critical_variance,
    kaiming_sigma,
    log_moment_factor,
    moment_factor,
    rrelu_critical_sigma,
    rrelu_critical_variance,
    rrelu_moment_factor,
)
from .hessian import expected_norm, glorot_sigma, hessian_glorot_ratio, hessian_sigma
from .ldlt import ldlt_output_variance, ldlt_series_radius, ldlt_sigma_for_variance
from .lyapunov import (
    edge_sigma,
    log_norm_distribution,
    log_norm_variance,
    lyapunov_exponent,
    stochastic_dominance,
)

__version__ = "0.1.0"

# Load on first use: the symbolic expansions need sympy (~0.2 s to import), the KL module
# scipy.linalg and scipy.sparse (~60 ms, a fifth of initmath's own import time), the
# any-activation modules scipy.optimize (which imports scipy.sparse too).
_LAZY = {"critical_variance_expansion": "asymptotics", "critical_sigma_expansion": "asymptotics",
         **{name: "wishart" for name in ("wishart_trace_moment", "wishart_mixed_moment",
                                         "wishart_spectral_moment", "marchenko_pastur_moment",
                                         "wishart_trace_moment_latex")},
         **{name: "finite_width" for name in ("moment_map", "moment_map_expansion",
                                              "moment_preserving_sigma",
                                              "moment_preserving_sigma_b", "fixed_point_norm")},
         **{name: "mean_field" for name in ("variance_map", "fixed_point_variance", "chi_1",
                                            "correlation_map", "fixed_point_correlation",
                                            "depth_scales", "gain")},
         **{name: "finite_depth" for name in ("depth_law",)},
         **{name: "kl" for name in ("kl_loss_bound", "optimal_init_sigma",
                                    "optimized_loss_bound", "quadratic_stationary",
                                    "quadratic_kl_divergence", "discretization_error",
                                    "least_squares_stationary", "burn_in_steps",
                                    "kl_bound_derivation", "kl_bound_derivation_latex")}}
# The paper's printed equations, now in initmath.papers.horii_has (deprecated here).
_MOVED_TO_PAPERS = ("printed_equations", "compare_with_paper")


def __getattr__(name):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    if name in _MOVED_TO_PAPERS:
        from .papers import horii_has
        return horii_has.moved_from(__name__, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "activation",
    "burn_in_steps",
    "chi_1",
    "correlation_map",
    "critical_sigma",
    "critical_sigma_expansion",
    "critical_sigmas",
    "critical_variance",
    "critical_variance_expansion",
    "depth_law",
    "depth_scales",
    "discretization_error",
    "edge_sigma",
    "expected_norm",
    "fixed_point_correlation",
    "fixed_point_norm",
    "fixed_point_variance",
    "gain",
    "glorot_sigma",
    "hessian_glorot_ratio",
    "hessian_sigma",
    "kaiming_sigma",
    "kl_bound_derivation",
    "kl_bound_derivation_latex",
    "kl_loss_bound",
    "ldlt_output_variance",
    "ldlt_series_radius",
    "ldlt_sigma_for_variance",
    "least_squares_stationary",
    "log_moment_factor",
    "log_norm_distribution",
    "log_norm_variance",
    "lyapunov_exponent",
    "marchenko_pastur_moment",
    "moment_factor",
    "moment_map",
    "moment_map_expansion",
    "moment_preserving_sigma",
    "moment_preserving_sigma_b",
    "optimal_init_sigma",
    "optimized_loss_bound",
    "quadratic_kl_divergence",
    "quadratic_stationary",
    "rrelu_critical_sigma",
    "rrelu_critical_variance",
    "rrelu_moment_factor",
    "stochastic_dominance",
    "variance_map",
    "wishart_mixed_moment",
    "wishart_spectral_moment",
    "wishart_trace_moment",
    "wishart_trace_moment_latex",
]
