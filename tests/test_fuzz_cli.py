"""Fuzz the initmath command line in-process (issue 13): every argv ends, within the time
budget, in exit status 0 with output, or SystemExit(2) with exactly one line on stderr
that names the subcommand and points to its help; never a traceback or another exception.

``verify``, ``experiments`` and ``plot`` are only driven into argument errors (their real
work takes minutes).  ``INITMATH_FUZZ=long`` draws 50 times more examples, freshly random.
"""
import contextlib
import io
import math
import os

import pytest
from _fuzz import BUDGET_S, Timeout, examples, time_limit
from hypothesis import given
from hypothesis import strategies as st

from initmath.__main__ import main
from initmath.outputs.tables import KINDS

# Values an option may get: valid ones (small, so an example stays fast), invalid ones
# and junk.
SMALL_INT = st.integers(1, 64).map(str)
INT_EDGES = st.sampled_from(["1", "2", "9007199254740992", "1e3", "64.0", "+8"])
BAD_INT = st.sampled_from(["0", "-1", "1.5", "2.5", "9007199254740993", "1e400", "nan",
                           "inf", "2**53", "", "abc", "1:2:0.5", "10:100:x1.5", "3:1:1",
                           "1:1e300:x1.0000001", "1:100000:1", "1,,2", "0x10", "１"])
REAL = st.sampled_from(["0.5", "1", "2", "1e-3", "0.8", "3.5", "1e-300", "5e-324"])
BAD_REAL = st.sampled_from(["0", "-1", "nan", "inf", "-inf", "1e309", "", "x", "1e300",
                            "1:0:1", "0:1:0", "1:2:x0.5", "0.5;1", "1,2,", "--"])
RANGE = st.sampled_from(["1:4:1", "16:64:x2", "0.5:1:0.25", "1,2", "2:8:x2,3"])
JUNK = st.sampled_from(["", " ", "--", "-", "-x", "--bogus", "=", "'", "\\", "\x00",
                        "é", "--d=", "-1e-3", "1" * 5000, "--help=1"])


def values(valid):
    return st.one_of(valid, valid, valid, BAD_INT, BAD_REAL, JUNK)


def option(name, valid):
    """['--name', value, ...] with one or two values (sometimes the underscore spelling)."""
    spelled = st.sampled_from([name.replace("_", "-"), name.replace("-", "_")])
    return st.tuples(spelled, st.lists(values(valid), min_size=1, max_size=2)).map(
        lambda t: [f"--{t[0]}", *t[1]])


def _parameter_values(parameter):
    if parameter.name in ("k",):
        return st.one_of(st.integers(1, 6).map(str), st.just("41"))
    if parameter.name == "method":
        return st.sampled_from(["gordon", "tracy-widom", "exact", "gordon,exact", "nope"])
    if parameter.name in ("m", "n") and parameter.kind == "int-or-symbol":
        return st.one_of(SMALL_INT, st.sampled_from(["m", "n", "q", "4:6:1", "-3", "1.5"]))
    if parameter.kind == "int":
        return st.one_of(SMALL_INT, INT_EDGES, st.sampled_from(["1:4:1", "2:16:x2"]))
    if parameter.name == "a":
        return st.sampled_from(["0", "0.01", "0.5", "1", "0,1", "0:1:0.5", "1.5", "-0.1"])
    if parameter.name == "log_C":
        return st.sampled_from(["0", "-5", "403.28", "1e5", "-1e300"])
    return st.one_of(REAL, RANGE)


@st.composite
def table_argv(draw):
    kind = draw(st.sampled_from(sorted(KINDS)))
    argv = ["table", kind]
    spec = KINDS[kind]
    for parameter in spec.parameters:
        if draw(st.booleans()):
            argv += draw(option(parameter.name, _parameter_values(parameter)))
    if spec.takes_dps and draw(st.integers(0, 3)) == 0:
        argv += ["--dps", draw(st.sampled_from(["15", "30", "0", "10001", "2.5", "x"]))]
    if draw(st.booleans()):
        argv += ["--format", draw(st.sampled_from(["latex", "markdown", "csv", "json", "pdf"]))]
    if draw(st.integers(0, 3)) == 0:
        argv += ["--digits", draw(st.sampled_from(["1", "6", "17", "40", "0", "100001", "3.5"]))]
    if draw(st.integers(0, 4)) == 0:
        argv += draw(st.sampled_from([["--siunitx"], ["--caption", "A & B_1"],
                                      ["--label", "tab:x"], ["--max-seconds", "0"],
                                      ["--max_seconds", "-1"], ["--out", "/nonexistent/x.md"],
                                      ["--out", "."], ["--bogus", "1"], ["1"]]))
    return argv


@st.composite
def sigma_argv(draw):
    argv = ["sigma"]
    if draw(st.integers(0, 5)):
        argv += draw(option("s", st.sampled_from(["0.5", "1", "2", "0.8", "1e-3", "0.5,1"])))
    if draw(st.integers(0, 5)):
        argv += draw(option("d", st.one_of(SMALL_INT, INT_EDGES)))
    if draw(st.booleans()):
        argv += draw(option("a", st.sampled_from(["0", "0.01", "1"])))
    if draw(st.integers(0, 3)) == 0:
        argv += ["--order", draw(st.sampled_from(["1", "3", "0", "7", "100", "2.5"]))]
    if draw(st.integers(0, 3)) == 0:
        argv += ["--dps", draw(st.sampled_from(["20", "0", "10001", "1.5"]))]
    return argv


@st.composite
def erroneous_argv(draw):
    """verify / experiments / plot / claims / unknown commands, always with an argument
    error (so no real work starts)."""
    command = draw(st.sampled_from(["verify", "experiments", "plot", "claims", "junk"]))
    if command == "verify":
        bad = draw(st.sampled_from([["--bogus"], ["--seed", "-1"], ["--seed", "1.5"],
                                    ["--only", "("], ["--only", "no-such-check-zz"],
                                    ["--device", "tpu"], ["--json", "/nonexistent/r.json"],
                                    ["--markdown", "/nonexistent/r.md"]]))
        return ["verify", "--quick", *bad]
    if command == "experiments":
        bad = draw(st.sampled_from([["--bogus"], ["--seed", "-1"], ["--threads", "0"],
                                    ["--only", "nope"], ["--device", "nonsense"],
                                    ["--dataset", "mnist"], ["--seed", "x"],
                                    ["--out", "/proc/version/x"]]))
        return ["experiments", "--quick", *bad]
    if command == "plot":
        name = draw(st.sampled_from(["gh-figure1", "lyapunov", "nope"]))
        bad = draw(st.sampled_from([["--out", "x.txt"], ["--out", "/nonexistent/x.png"],
                                    ["--out", "x.png", "--seed", "-1"],
                                    ["--out", "x.png", "--seed", "1.5"],
                                    ["--out", "x.png", "--bogus"], []]))
        argv = ["plot", name, *bad]
        return argv if (name == "nope" or bad) else ["plot", name, "--seed", "x"]
    if command == "claims":
        bad = draw(st.sampled_from([["--out", "/nonexistent/c.md"], [],
                                    ["--out", "c.md", "--verification", "/missing.json"],
                                    ["--out", "c.md", "--bogus"]]))
        return ["claims", *bad]
    return draw(st.lists(JUNK, min_size=0, max_size=3))


def _call(argv):
    """(status, stdout, stderr) of main(argv), or fail on any other outcome."""
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
                time_limit(BUDGET_S):
            status = main(argv)
    except SystemExit as exit_info:
        status = exit_info.code
    except Timeout:
        pytest.fail(f"{argv!r}: longer than {BUDGET_S:g} s")
    return status, out.getvalue(), err.getvalue()


def _check(argv):
    status, out, err = _call(argv)
    assert "Traceback" not in err + out, (argv, err)
    if status == 0:
        assert out.strip(), (argv, err)
        return status
    assert status == 2, (argv, status, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, (argv, err)
    prog = "initmath"
    if argv[:1] and argv[0] in ("sigma", "table", "plot", "claims", "verify", "experiments"):
        prog += " " + argv[0]
        if argv[0] == "table" and argv[1:2] and argv[1] in KINDS:
            prog += " " + argv[1]
    assert lines[0].startswith(f"{prog}: error: ") or lines[0].startswith(
        "initmath: error: "), (argv, lines[0])
    assert lines[0].endswith("--help')"), (argv, lines[0])
    return status


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)          # relative output files land in a scratch folder
    monkeypatch.delenv("INITMATH_TRACEBACK", raising=False)


@examples(40)
@given(table_argv())
def test_table(argv):
    _check(argv)


@examples(12)
@given(sigma_argv())
def test_sigma(argv):
    _check(argv)


@examples(25)
@given(erroneous_argv())
def test_argument_errors_of_the_long_commands(argv):
    status = _check(argv)
    assert status == 2 or argv[:1] == [] or "--help" in "".join(argv)


@examples(10)
@given(st.lists(st.one_of(JUNK, BAD_INT, BAD_REAL, st.text(max_size=8)), max_size=4))
def test_junk(argv):
    _check(argv)


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["table", "--help"]]
                         + [["table", kind, "--help"] for kind in sorted(KINDS)])
def test_help_exits_0(argv):
    assert _call(argv)[0] == 0


# --------------------------------------------------------------------------- oracle
# The table's float64 entries against the same table at dps=50, at the domain's edges.
@pytest.mark.parametrize("kind, grid", [
    ("critical-sigma", dict(s=[1e-3, 0.5, 2.0, 1000.0], d=[1, 64, 2 ** 53], a=[0.0, 1.0])),
    ("moment-factor", dict(s=[1e-3, 2.0, 100.0], d=[1, 2 ** 53], a=[0.0, 0.5])),
    ("log-norm-variance", dict(d=[1, 2, 1024], a=[0.0, 1.0])),   # dps=50 at 2**53: ~12 s
])
def test_float64_tables_agree_with_dps50(kind, grid):
    """Point by point; a point whose dps=50 evaluation the library refuses (a one-line
    ValueError, e.g. too much work at s = 1000, d = 2**53) is left out, most are not."""
    import itertools

    from initmath.outputs.tables import make_table
    names = [p.name for p in KINDS[kind].parameters]
    compared = 0
    for point in itertools.product(*(grid[name] for name in names)):
        one = {name: [value] for name, value in zip(names, point)}
        try:
            (row,) = make_table(kind, **one).rows
            (reference,) = make_table(kind, dps=50, **one).rows
        except ValueError as error:
            assert "\n" not in str(error)
            continue
        compared += 1
        for value, true in zip(row[len(names):], reference[len(names):]):
            assert math.isfinite(float(value))
            assert float(value) == pytest.approx(float(true), rel=1e-12, abs=1e-300), (kind,
                                                                                      point)
    assert compared >= len(list(itertools.product(*grid.values()))) // 2


def test_no_stray_files():
    assert not os.path.exists("/nonexistent")
