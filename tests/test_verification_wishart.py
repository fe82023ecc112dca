"""Fast fixed-seed subset of the Wishart / LDLT Monte Carlo checks (controls included)."""
import pytest

pytest.importorskip("torch")

from verification import ok, run_check
from verification.wishart import checks

CHECKS = {c.name: c for c in checks()}


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_quick_check_behaves_as_it_must(name):
    result = run_check(CHECKS[name], seed=0, quick=True)
    assert ok(result), (result.verdict, result.z)


def test_there_are_negative_controls_for_both_formulas():
    controls = [c.name for c in CHECKS.values() if c.negative_control]
    assert any("tr S" in n for n in controls) and sum("LDLT" in n for n in controls) >= 2
