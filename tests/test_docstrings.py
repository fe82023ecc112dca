"""Every public function has a numpydoc docstring: Parameters (when it takes any),
Returns and Examples (the examples themselves run under --doctest-modules)."""
import importlib
import inspect

import pytest

MODULES = ["initmath.critical_variance", "initmath.asymptotics", "initmath.lyapunov",
           "initmath.wishart", "initmath.ldlt", "initmath.hessian", "initmath.kl",
           "initmath.outputs.latex", "initmath.outputs.tables",
           "initmath.activations", "initmath.mean_field", "initmath.finite_width",
           "initmath.finite_depth"]
TORCH_MODULES = ["initmath.nn.init", "initmath.nn.curvature", "initmath.nn.graph",
                 "initmath.nn.model_report", "initmath.testing", "initmath.testing.calibration"]


def _public_functions(module_name):
    module = importlib.import_module(module_name)
    names = getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")]
    for name in names:
        value = getattr(module, name)
        if inspect.isfunction(value):
            yield f"{module_name}.{name}", value


FUNCTIONS = [pair for m in MODULES for pair in _public_functions(m)]


def _check(function):
    doc = inspect.getdoc(function) or ""
    sections = {"Returns", "Examples"}
    if inspect.signature(function).parameters:
        sections.add("Parameters")
    missing = [s for s in sorted(sections) if f"{s}\n{'-' * len(s)}" not in doc]
    assert not missing, f"missing numpydoc sections {missing}"


@pytest.mark.parametrize("name, function", FUNCTIONS, ids=[n for n, _ in FUNCTIONS])
def test_numpydoc_sections(name, function):
    _check(function)


def test_torch_modules_numpydoc():
    pytest.importorskip("torch")
    for module_name in TORCH_MODULES:
        for _, function in _public_functions(module_name):
            _check(function)
