"""The layering of docs/architecture.md, checked on the import statements of the source.

The library (``initmath``) never imports the Monte Carlo layer (``verification``) or the
experiments, except the command line (``initmath.__main__``, the application at the top);
the module graph (every import statement, function-level ones included) has no cycle; the
top-level package imports neither torch nor matplotlib.
"""
import ast
import pathlib
import subprocess
import sys

import pytest

import initmath

PACKAGE = pathlib.Path(initmath.__file__).resolve().parent


def _module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path, modules=()):
    """Absolute names of the modules imported anywhere in the file: for ``from p import x``
    the submodule p.x when it is one (in ``modules``), else p."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.update(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                         for alias in node.names)
    return found


def _graph():
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in _imports(path, modules) if m in modules and m != name}
            for name, path in modules.items()}, modules


def _cycle(graph):
    """One import cycle as a list of modules, or None (depth-first search)."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_module_graph_has_no_cycle():
    graph, _ = _graph()
    assert _cycle(graph) is None


def test_negative_control_finds_a_planted_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycle(graph) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("harness", ["verification", "experiments", "tests", "benchmarks"])
def test_library_does_not_import_its_harness(harness):
    _, modules = _graph()
    offenders = sorted(name for name, path in modules.items()
                       if name != "initmath.__main__"
                       and any(m == harness or m.startswith(harness + ".")
                               for m in _imports(path)))
    assert offenders == []


def test_import_initmath_imports_neither_torch_nor_matplotlib():
    code = "import sys, initmath; print(sorted({'torch', 'matplotlib'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_package_is_typed():
    assert (PACKAGE / "py.typed").is_file()
