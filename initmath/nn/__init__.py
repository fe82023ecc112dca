"""torch-facing initmath: initializers in the style of torch.nn.init and curvature tools.

Importing :mod:`initmath` never imports torch; importing :mod:`initmath.nn` does.  The
package is the public home of every name; its modules are its sections:

:mod:`initmath.nn.init`
    ``fractional_moment_normal_``, ``hessian_normal_``, ``init_model_`` and the scales
    ``fractional_moment_std``, ``hessian_std``; the report types ``InitReport``,
    ``InitRecord``, ``SkippedParameter``.
:mod:`initmath.nn.graph`
    ``read_graph``: what consumes each weight's output (torch.fx), as ``ModelGraph``.
:mod:`initmath.nn.model_report`
    The propagation behind the report's predictions; ``attention_mixing``.
:mod:`initmath.nn.curvature`
    Matrix-free Jacobian and Hessian norms: ``jacobian_spectral_norm``,
    ``layer_hessian_norm``, ``hessian_calibrate_``, ``factorized_hessian_form``.
:mod:`initmath.nn.device`
    ``resolve_device``: the one ``--device`` resolver of the command lines.
"""
from . import curvature, graph, init, model_report
from .curvature import *  # noqa: F403  (the package re-exports each section's __all__)
from .graph import *  # noqa: F403
from .init import *  # noqa: F403
from .model_report import *  # noqa: F403

__all__ = curvature.__all__ + init.__all__ + graph.__all__ + model_report.__all__
