"""Tables (initmath.tables, initmath.latex) and the initmath command line."""
import csv
import io
import json
import math
import shutil
import subprocess
import sys

import mpmath
import pytest

from initmath import critical_sigma, hessian_sigma, wishart_trace_moment
from initmath.__main__ import main
from initmath.latex import Column, Math, Table, render, to_csv, to_json, to_latex, to_markdown
from initmath.tables import KINDS, make_table, parse_grid


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
    assert all(row[-3] >= optimized for row in rows)


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


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
def test_generated_latex_compiles(tmp_path):
    """Every kind, plain and siunitx, inside a minimal document."""
    bodies = []
    for kind in KINDS:
        small = {p.name: list(p.default[:2]) for p in KINDS[kind].parameters}
        table = make_table(kind, **small)
        bodies += [to_latex(table, digits=5, label=f"tab:{kind}"),
                   to_latex(table, digits=5, siunitx=True)]
    document = "\n".join([r"\documentclass{article}", r"\usepackage{booktabs}",
                          r"\usepackage{siunitx}", r"\usepackage{amsmath}",
                          r"\usepackage{amssymb}",
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
    from initmath.plots import PLOTS
    assert _PLOT_NAMES == tuple(PLOTS)


def test_cli_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    target = tmp_path / "fig.png"
    assert main(["plot", "gh-figure3", "--out", str(target), "--no-monte-carlo"]) == 0
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_claims_writes_the_report(tmp_path):
    target = tmp_path / "claims.md"
    assert main(["claims", "--out", str(target)]) == 0
    assert target.read_text().startswith("# Paper claims")
