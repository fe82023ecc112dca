"""Tables (initmath.tables, initmath.latex) and the initmath command line."""
import csv
import io
import json
import math
import shutil
import subprocess
import sys
import time

import mpmath
import pytest

from initmath import critical_sigma, hessian_sigma, wishart_trace_moment
from initmath.__main__ import main
from initmath.outputs.latex import (
    LATEX_PACKAGES,
    Column,
    Math,
    Table,
    render,
    to_csv,
    to_json,
    to_latex,
    to_markdown,
)
from initmath.outputs.tables import KINDS, MAX_GRID_POINTS, make_table, parse_grid


# --------------------------------------------------------------------------- tables
@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_renders_in_every_format(kind):
    small = {p.name: list(p.default[:1]) for p in KINDS[kind].parameters}
    table = make_table(kind, **small)
    assert len(table.rows) == (22 if KINDS[kind].many_rows else 1)
    assert all(len(row) == len(table.columns) for row in table.rows)
    for fmt in ("latex", "markdown", "csv", "json"):
        assert render(table, fmt, digits=5)


def test_table_values_are_the_library_values():
    table = make_table("critical-sigma", s=[0.5, 2.0], d=[16, 1024], a=[0.01])
    assert len(table.rows) == 4
    for s, d, a, sigma, variance, kaiming in table.rows:
        assert sigma == critical_sigma(s, d, a)
        assert variance == pytest.approx(sigma ** 2, rel=1e-15)
        assert kaiming == pytest.approx(math.sqrt(2 / ((1 + a * a) * d)), rel=1e-15)
    (row,) = make_table("hessian-sigma", d_in=[8], d_out=[8], a=[0.0], method=["exact"]).rows
    assert row[4] == hessian_sigma(8, 8, a=0.0, method="exact")


def test_high_precision_entries_keep_their_digits():
    (row,) = make_table("critical-sigma", s=[0.8], d=[64], dps=40).rows
    with mpmath.workdps(40):
        assert row[3] == critical_sigma(0.8, 64, dps=40)
    text = to_markdown(Table("t", [Column("x", "x")], [(row[3],)]), digits=35)
    assert mpmath.mpf(text.splitlines()[2].strip("| ")) == pytest.approx(row[3], rel=1e-34)


def test_symbolic_wishart_entries_are_exact_polynomials():
    table = make_table("wishart", k=[3])
    (row,) = table.rows
    symbols = {s.name: s for s in row[3].free_symbols}
    assert set(symbols) == {"m", "n"}
    assert row[3].subs({symbols["m"]: 4, symbols["n"]: 5}) == wishart_trace_moment(3, 4, 5)
    assert to_latex(table).count("m^{3} n") == 1
    numeric = make_table("wishart", k=[2], m=["4"], n=["5"])
    assert numeric.rows[0][3] == 200               # 4*5*(4+5+1)


def test_kl_bound_default_example_is_tight_at_the_optimum():
    rows = make_table("kl-bound", sigma0=[0.001, 0.00707106781186548, 1.0]).rows
    optimized = rows[0][-1]
    assert optimized == pytest.approx(0.01 * 1.0 / (4 * 100), rel=1e-12)   # tau / 2
    assert rows[1][-3] == pytest.approx(optimized, rel=1e-12)
    assert all(row[-3] >= optimized * (1 - 1e-12) for row in rows)     # up to rounding


@pytest.mark.parametrize("text, kind, expected", [
    ("16:128:x2", "int", [16, 32, 64, 128]), ("0:1:0.25", "float", [0, 0.25, 0.5, 0.75, 1]),
    ("7", "int", [7]), ("0.1:0.3:0.1", "float", [0.1, 0.2, 0.3]), ("abc", "str", ["abc"]),
    ("1:1000:x10", "float", [1, 10, 100, 1000])])
def test_parse_grid(text, kind, expected):
    assert parse_grid(text, kind) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["x", "1:2", "3:1:1", "1:2:0", "1:8:x1", "nan", "1:2:3:4"])
def test_parse_grid_rejects(text):
    with pytest.raises(ValueError):
        parse_grid(text, "float")


def test_make_table_rejects_bad_requests():
    with pytest.raises(ValueError, match="kind"):
        make_table("nope")
    with pytest.raises(ValueError, match="no parameter 'q'"):
        make_table("critical-sigma", q=[1])
    with pytest.raises(ValueError, match="dps"):
        make_table("wishart", dps=20)
    with pytest.raises(ValueError, match="s must"):
        make_table("critical-sigma", s=[-1.0])


# --------------------------------------------------------------------------- formats
TABLE = Table("Demo & test", [Column("d", "d"), Column("x", r"\bar x"), Column("note", "n")],
              [(64, 1.23456789e-7, "a"), (1024, 2.5, "b")])


def test_latex_is_booktabs_with_math_headers():
    text = to_latex(TABLE, digits=3, caption="Cap", label="tab:x")
    assert text.splitlines()[0] == r"\begin{table}[ht]"
    assert r"\begin{tabular}{rrl}" in text
    assert r"$d$ & $\bar x$ & $n$ \\" in text
    for rule in (r"\toprule", r"\midrule", r"\bottomrule", r"\caption{Cap}", r"\label{tab:x}"):
        assert rule in text
    assert r"$1.23 \times 10^{-7}$" in text
    siunitx = to_latex(TABLE, digits=3, siunitx=True)
    assert r"\begin{tabular}{SSl}" in siunitx and "1.23e-07" in siunitx


def test_markdown_cells_keep_the_columns():
    table = Table("t", [Column("step", "s"), Column("math", "m")],
                  [("D(p||q)", Math(r"\lVert W\rVert"))])
    assert to_markdown(table).splitlines()[2] == r"| D(p\|\|q) | $\lVert W\rVert$ |"


def test_markdown_csv_json_agree():
    rows = list(csv.reader(io.StringIO(to_csv(TABLE, digits=4))))
    assert rows[0] == ["d", "x", "note"] and rows[1] == ["64", "1.235e-07", "a"]
    data = json.loads(to_json(TABLE, digits=4))
    assert data["rows"][1] == {"d": 1024, "x": 2.5, "note": "b"}
    assert to_markdown(TABLE, digits=4).splitlines()[2] == "| 64 | 1.235e-07 | a |"


@pytest.mark.parametrize("digits", [0, -1, 2.5])
def test_bad_digits(digits):
    with pytest.raises(ValueError, match="digits"):
        to_markdown(TABLE, digits=digits)


def _latex_missing():
    """Why the LaTeX output cannot be compiled here (None when it can): pdflatex, or one
    of the packages it needs (initmath.latex.LATEX_PACKAGES, geometry for this test)."""
    if shutil.which("pdflatex") is None or shutil.which("kpsewhich") is None:
        return "pdflatex (or kpsewhich) is not installed"
    missing = [name for name in LATEX_PACKAGES + ("geometry",) if not subprocess.run(
        ["kpsewhich", f"{name}.sty"], capture_output=True, text=True).stdout.strip()]
    return f"LaTeX packages not installed: {', '.join(missing)}" if missing else None


def test_generated_latex_compiles(tmp_path):
    """Every kind, plain and siunitx, inside a minimal document that loads exactly the
    documented packages (skipped without pdflatex or any of them)."""
    missing = _latex_missing()
    if missing:
        pytest.skip(missing)
    bodies = []
    for kind in KINDS:
        small = {p.name: list(p.default[:2]) for p in KINDS[kind].parameters}
        table = make_table(kind, **small)
        bodies += [to_latex(table, digits=5, label=f"tab:{kind}"),
                   to_latex(table, digits=5, siunitx=True)]
    document = "\n".join([r"\documentclass{article}",
                          *(rf"\usepackage{{{name}}}" for name in LATEX_PACKAGES),
                          r"\usepackage[margin=1cm,landscape]{geometry}",
                          r"\begin{document}", *bodies, r"\end{document}"])
    (tmp_path / "tables.tex").write_text(document)
    result = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error",
                             "tables.tex"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout[-3000:]
    assert (tmp_path / "tables.pdf").stat().st_size > 1000


# --------------------------------------------------------------------------- command line
def test_cli_sigma(capsys):
    assert main(["sigma", "--s", "0.8", "--d", "64", "--a", "0.01"]) == 0
    out = capsys.readouterr().out
    assert f"{float(critical_sigma(0.8, 64, 0.01)):.15g}"[:12] in out
    assert "Kaiming" in out and "expansion error" in out


def test_cli_table_to_file(tmp_path):
    target = tmp_path / "t.tex"
    assert main(["table", "critical-sigma", "--s", "1", "2", "--d", "16:64:x4", "--format",
                 "latex", "--digits", "4", "--out", str(target), "--label", "tab:s"]) == 0
    text = target.read_text()
    assert text.count(r" \\") == 5 and r"\label{tab:s}" in text


@pytest.mark.parametrize("argv, message", [
    (["table", "critical-sigma", "--s", "-1"], "s must"),
    (["table", "critical-sigma", "--d", "3:1:1"], "range"),
    (["table", "wishart", "--dps", "3"], "unrecognized"),
    (["sigma", "--s", "1"], "required"),
    (["table", "nope"], "invalid choice")])
def test_cli_bad_arguments_exit_2_with_one_line(argv, message):
    result = subprocess.run([sys.executable, "-m", "initmath", *argv], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]


def test_cli_help_has_examples():
    result = subprocess.run([sys.executable, "-m", "initmath", "--help"], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0 and "initmath table" in result.stdout


def test_cli_plot_names_match_the_registry():
    pytest.importorskip("matplotlib")
    from initmath.__main__ import _PLOT_NAMES
    from initmath.outputs.plots import PLOTS
    assert tuple(PLOTS) == _PLOT_NAMES


def test_cli_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    target = tmp_path / "fig.png"
    assert main(["plot", "gh-figure3", "--out", str(target), "--no-monte-carlo"]) == 0
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_claims_writes_the_report(tmp_path):
    target = tmp_path / "claims.md"
    assert main(["claims", "--out", str(target)]) == 0
    assert target.read_text().startswith("# Paper claims")


# --------------------------------------------------------------------------- issue 13
def _run(argv, capsys):
    """(exit status, stdout, stderr) of main(argv) in-process."""
    try:
        status = main(argv)
    except SystemExit as exit_info:
        status = exit_info.code
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _one_line_error(argv, capsys, prog, *fragments):
    status, out, err = _run(argv, capsys)
    assert status == 2 and out == "", (status, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"{prog}: error: ") and lines[0].endswith(
        f"(see '{prog} --help')"), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert "Traceback" not in err
    return lines[0]


def test_parse_grid_counts_points_before_building_them():
    """Reproducer: parse_grid('1:1e300:x1.0000001', 'int') ran for ever; now an error at
    once (the count, about 6.9e9, is known from the arguments)."""
    start = time.perf_counter()
    for text, kind in [("1:1e300:x1.0000001", "int"), ("1:1e300:x1.0000000000000002", "float"),
                       ("0:1e300:1", "float"), ("1:1000000000000000000000:1", "int"),
                       ("-1e308:1e308:1e300", "float"), (",".join(["1"] * 10001), "float")]:
        with pytest.raises(ValueError, match="at most 10000|10001"):
            parse_grid(text, kind)
    assert time.perf_counter() - start < 1
    assert len(parse_grid("1:10000:1", "int")) == MAX_GRID_POINTS


@pytest.mark.parametrize("text, kind, expected", [
    ("0.5,1,2", "float", [0.5, 1.0, 2.0]), ("16:64:x2,100", "int", [16, 32, 64, 100]),
    ("1e3", "int", [1000]), ("0:1:0.3", "float", [0.0, 0.3, 0.6, 0.9]),
    ("1e-20:3e-20:1e-20", "float", [1e-20, 2e-20, 3e-20]),
    ("3:243:x3", "int", [3, 9, 27, 81, 243]), ("9007199254740993", "int", [2 ** 53 + 1]),
    ("m", "int-or-symbol", ["m"]), ("4:6:1", "int-or-symbol", [4, 5, 6])])
def test_parse_grid_commas_exact_steps_and_integers(text, kind, expected):
    """Commas separate values; an arithmetic step is kept (0:1:0.3 was stretched to
    0.333..., 1e-20 steps were rounded to 0); integer items stay exact."""
    assert parse_grid(text, kind) == expected


@pytest.mark.parametrize("text", ["1.5", "2.5", "1:2:0.5", "10:100:x1.5", "1,", "nan",
                                  "1e400", "1:2:x1"])
def test_parse_grid_integers_reject_non_integers(text):
    with pytest.raises(ValueError, match="integer|number|range|empty"):
        parse_grid(text, "int")


def test_make_table_checks_every_list_before_computing():
    with pytest.raises(ValueError, match="d must be an integer"):
        make_table("critical-sigma", d=[16, 0])
    with pytest.raises(ValueError, match="at most 10000 rows"):
        make_table("critical-sigma", s=list(range(1, 101)), d=list(range(1, 102)))
    with pytest.raises(ValueError, match="method must be one of"):
        make_table("hessian-sigma", method=["nope"])
    with pytest.raises(ValueError, match="k must be an integer in \\[1, 40\\]"):
        make_table("wishart", k=[41])
    with pytest.raises(ValueError, match="at least one value"):
        make_table("critical-sigma", s=[])
    assert len(make_table("critical-sigma", s=2.0, d=64).rows) == 1      # scalars


def test_make_table_stops_past_max_seconds():
    with pytest.raises(ValueError, match="max_seconds"):
        make_table("wishart", k=list(range(1, 41)), max_seconds=1e-9)


def test_kl_defaults_are_the_quadratic_example():
    import numpy as np

    from initmath.kl import quadratic_stationary
    law = quadratic_stationary(np.ones(100), lr=0.01, batch_size=100, noise_var=1.0)
    defaults = {p.name: p.default[0] for p in KINDS["kl-bound"].parameters}
    assert defaults["second_moment"] == pytest.approx(float(law.second_moment), rel=1e-12)
    assert defaults["log_C"] == pytest.approx(float(law.log_C), rel=1e-12)


@pytest.mark.parametrize("argv, prog, fragments", [
    # were a FileNotFoundError traceback after the work, status 1
    (["table", "critical-sigma", "--s", "1", "--d", "8", "--out", "/nonexistent/dir/x.md"],
     "initmath table critical-sigma", ["--out", "/nonexistent/dir"]),
    (["claims", "--out", "x.md", "--verification", "/missing.json"], "initmath claims",
     ["--verification", "/missing.json"]),
    (["plot", "gh-figure3", "--out", "/nonexistent/x.png", "--no-monte-carlo"], "initmath plot",
     ["--out"]),
    # were silently truncated to integers, status 0
    (["table", "critical-sigma", "--d", "1.5"], "initmath table critical-sigma",
     ["--d", "'1.5' is not an integer"]),
    (["table", "kl-bound", "--K", "2.5"], "initmath table kl-bound", ["--K", "integer"]),
    (["table", "wishart", "--k", "1.5"], "initmath table wishart", ["--k", "integer"]),
    (["sigma", "--s", "1", "--d", "64.5"], "initmath sigma", ["--d", "integer"]),
    # hung (parse_grid), IndexError (order 100), reported by the top-level parser
    (["table", "critical-sigma", "--d", "1:1e300:x1.0000001"], "initmath table critical-sigma",
     ["--d", "at most 10000"]),
    (["sigma", "--s", "1", "--d", "64", "--order", "100"], "initmath sigma",
     ["--order", "[1, 6]"]),
    (["table", "lyapunov", "--s", "1"], "initmath table lyapunov", ["unrecognized", "--s"]),
    (["table", "critical-sigma", "--d", "0"], "initmath table critical-sigma",
     ["--d: d must be an integer in [1, 2**53]"]),
    (["table", "critical-sigma", "--digits", "100000"], "initmath table critical-sigma",
     ["--digits"]),
    (["sigma", "--s", "0.5,1", "--d", "8"], "initmath sigma", ["--s", "initmath table"]),
    (["table", "critical-sigma", "--s", "0.5", "--d", "1:10000:1", "--a", "0,1"],
     "initmath table critical-sigma", ["at most 10000 rows"]),
])
def test_cli_errors_are_one_line_naming_the_subcommand(argv, prog, fragments, capsys,
                                                       tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _one_line_error(argv, capsys, prog, *fragments)
    assert not (tmp_path / "x.md").exists()


def test_cli_claims_rejects_a_file_that_is_not_a_record(capsys, tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "other.json").write_text('{"checks": 3}')
    for name in ("bad.json", "other.json"):
        _one_line_error(["claims", "--out", str(tmp_path / "c.md"), "--verification",
                         str(tmp_path / name)], capsys, "initmath claims", "--verification")


def test_cli_version(capsys):
    import initmath
    status, out, _err = _run(["--version"], capsys)
    assert status == 0 and out.strip() == f"initmath {initmath.__version__}"


def test_cli_comma_lists_and_both_spellings(capsys):
    assert _run(["table", "critical-sigma", "--s", "0.5,1,2", "--d", "16"], capsys)[0] == 0
    _, spaces, _ = _run(["table", "critical-sigma", "--s", "0.5", "1", "2", "--d", "16"], capsys)
    assert _run(["table", "critical-sigma", "--s", "0.5,1,2", "--d", "16"], capsys)[1] == spaces
    outputs = [_run(["table", "hessian-sigma", f"--d{sep}in", "8", f"--d{sep}out", "8,9",
                     "--method", "gordon"], capsys)[1] for sep in "-_"]
    assert outputs[0] == outputs[1] and outputs[0].count("\n") == 4


def test_cli_help_shows_each_default_once_and_one_spelling(capsys):
    for argv in [["--help"], ["sigma", "--help"], ["table", "--help"], ["plot", "--help"],
                 ["claims", "--help"]] + [["table", kind, "--help"] for kind in KINDS]:
        status, out, _ = _run(argv, capsys)
        assert status == 0 and out
        for line in out.splitlines():
            assert line.count("(default:") <= 1, (argv, line)
        assert "--d_in V" not in out and "--no_monte_carlo" not in out
    assert "--d-in" in _run(["table", "hessian-sigma", "--help"], capsys)[1]


def test_cli_verify_and_experiments_report_as_initmath(capsys):
    pytest.importorskip("torch")
    _one_line_error(["verify", "--bogus"], capsys, "initmath verify", "--bogus")
    _one_line_error(["verify", "--only", "("], capsys, "initmath verify", "--only")
    _one_line_error(["experiments", "--seed", "-1"], capsys, "initmath experiments", "--seed")
    status, out, _ = _run(["verify", "--help"], capsys)
    assert status == 0 and out.startswith("usage: initmath verify")


def test_cli_unexpected_errors_are_one_line(capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("boom")
    monkeypatch.setitem(KINDS, "critical-sigma", KINDS["critical-sigma"]._replace(values=broken))
    monkeypatch.delenv("INITMATH_TRACEBACK", raising=False)
    _one_line_error(["table", "critical-sigma", "--d", "8"], capsys,
                    "initmath table critical-sigma", "ZeroDivisionError", "boom")
