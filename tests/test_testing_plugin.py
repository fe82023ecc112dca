"""The pytest plugin of initmath.testing (initmath/testing/plugin.py), run on small test
files through pytest's pytester: the marker's budget, seeds, the family-wise accounting,
the device fixtures, marker validation, the entry point, and unmarked tests left alone."""
import importlib.metadata
import re

import pytest

import initmath.testing.plugin as plugin

# torch is imported here, once: pytester's in-process runs drop the modules they import,
# and torch cannot be imported twice in one process
try:
    import torch
except ImportError:
    torch = None

pytest_plugins = ["pytester"]

HEADER = re.compile(r"initmath\.testing: seed (\d+) \((random; )?replay with "
                    r"--initmath-seed=(\d+)\), device (\S+)")

SEEDS = """
import pytest
from initmath.testing._budget import active_budget, level_and_seed

@pytest.mark.statistical(false_alarm=1e-3, calls=3)
def test_seeds(record_property):
    import os
    record_property("seeds", [level_and_seed(None, None)[1] for _ in range(3)])
    record_property("budget_seed", active_budget().seed)
    record_property("env", os.environ.get("INITMATH_SEED"))

@pytest.mark.statistical
def test_other(record_property):
    record_property("budget_seed", active_budget().seed)
"""


def properties(result, name):
    """{test name: user property ``name``} of the call reports of an in-process run."""
    found = {}
    for report in result.reprec.getreports("pytest_runtest_logreport"):
        if report.when == "call":
            values = dict(report.user_properties)
            if name in values:
                found[report.nodeid.rpartition("::")[2]] = values[name]
    return found


def header(result):
    matches = [HEADER.search(line) for line in result.outlines]
    matches = [m for m in matches if m]
    assert len(matches) == 1, result.outlines[:8]
    return matches[0]


def test_marker_opens_the_budget_of_a_hypothesis_test(pytester):
    pytester.makepyfile("""
        import pytest
        from hypothesis import given, settings, strategies as st
        from initmath.testing import active_budget
        from initmath.testing._budget import default_device

        @pytest.mark.statistical(false_alarm=1e-4, per_example=2)
        @settings(max_examples=25, deadline=None, database=None)
        @given(st.integers())
        def test_given(x):
            budget = active_budget()
            assert (budget.calls, budget.total) == (50, 1e-4)
            assert budget.label.endswith("::test_given")
            assert default_device() == "cpu"

        @settings(max_examples=7, deadline=None, database=None)
        @pytest.mark.statistical(per_example=3)
        @given(st.integers())
        def test_settings_inside(x):
            assert active_budget().calls == 21

        @pytest.mark.statistical(calls=9)
        @settings(max_examples=25, deadline=None, database=None)
        @given(st.integers())
        def test_calls(x):
            assert active_budget().calls == 9

        @pytest.mark.statistical
        def test_plain_marked():
            assert (active_budget().calls, active_budget().total) == (1, 1e-6)

        @pytest.mark.statistical
        class TestClass:
            def test_method(self):
                assert active_budget().calls == 1

        @settings(max_examples=5, deadline=None, database=None)
        @given(st.integers())
        def test_unmarked_given(x):
            assert active_budget() is None

        def test_unmarked():
            assert active_budget() is None
            assert default_device() == "cpu"
    """)
    result = pytester.runpytest("--initmath-device=cpu")
    result.assert_outcomes(passed=7)
    from initmath.testing import active_budget
    assert active_budget() is None          # closed again after the inner run


def test_same_seed_same_draws_and_different_seed_different_draws(pytester, monkeypatch):
    monkeypatch.delenv("INITMATH_SEED", raising=False)
    pytester.makepyfile(SEEDS)
    first = properties(pytester.runpytest("--initmath-seed=7"), "seeds")["test_seeds"]
    again = properties(pytester.runpytest("--initmath-seed=7"), "seeds")["test_seeds"]
    other = properties(pytester.runpytest("--initmath-seed=8"), "seeds")["test_seeds"]
    assert first == again
    assert len(set(first)) == 3
    assert not set(first) & set(other)
    default = pytester.runpytest()
    assert header(default).group(1) == "0"
    assert properties(default, "budget_seed") == {"test_seeds": 0, "test_other": 0}


def test_random_seed_is_printed_shared_and_replayable(pytester, monkeypatch):
    monkeypatch.delenv("INITMATH_SEED", raising=False)
    pytester.makepyfile(SEEDS)
    fresh = pytester.runpytest("--initmath-seed=random")
    match = header(fresh)
    seed = match.group(1)
    assert match.group(2) and match.group(3) == seed
    # one seed for the whole run: every test, and the environment of subprocesses
    assert properties(fresh, "budget_seed") == {"test_seeds": int(seed), "test_other": int(seed)}
    assert properties(fresh, "env") == {"test_seeds": seed}
    replay = pytester.runpytest(f"--initmath-seed={seed}")
    assert header(replay).group(2) is None
    assert properties(replay, "seeds") == properties(fresh, "seeds")
    assert header(pytester.runpytest("--initmath-seed=random")).group(1) != seed
    # the environment is given back after the run; INITMATH_SEED=random works too
    import os
    assert "INITMATH_SEED" not in os.environ
    monkeypatch.setenv("INITMATH_SEED", "random")
    by_env = pytester.runpytest()
    assert header(by_env).group(2)
    assert os.environ["INITMATH_SEED"] == "random"


@pytest.mark.parametrize("option, message", [
    ("--initmath-seed=abc", "argument --initmath-seed: must be an integer or 'random'"),
    ("--initmath-device=gpu", "argument --initmath-device: must be auto, cpu, cuda"),
])
def test_bad_options_are_usage_errors(pytester, option, message):
    pytester.makepyfile("def test_a(): pass")
    result = pytester.runpytest(option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{message}*"])


def test_family_wise_accounting_and_over_plan_warning(pytester):
    pytester.makepyfile("""
        import pytest
        from hypothesis import given, settings, strategies as st
        from initmath.testing._budget import level_and_seed

        @pytest.mark.statistical(false_alarm=1e-3)
        @settings(max_examples=10, deadline=None, database=None)
        @given(st.integers())
        def test_planned(x):
            level_and_seed(None, None)

        @pytest.mark.statistical(false_alarm=1e-3, per_example=1)
        @settings(max_examples=10, deadline=None, database=None)
        @given(st.integers())
        def test_over_plan(x):
            level_and_seed(None, None)
            level_and_seed(None, None)

        @pytest.mark.statistical(calls=5)
        def test_own_level():
            assert level_and_seed(0.01, None)[0] == 0.01
    """)
    result = pytester.runpytest()
    result.assert_outcomes(passed=3, warnings=1)
    result.stdout.fnmatch_lines([
        "*StatisticalBudgetWarning: test_family_wise_accounting_and_over_plan_warning.py"
        "::test_over_plan made 20 statistical assertions, but its @pytest.mark.statistical "
        "planned 10 (max_examples=10 x per_example=1)*raise per_example= or calls=*"])
    assert "test_planned made" not in result.stdout.str()
    records = properties(result, "initmath_false_alarm")
    planned, over = records["test_planned"], records["test_over_plan"]
    assert (planned["total"], planned["calls"], planned["used"]) == (1e-3, 10, 10)
    assert planned["spent"] == pytest.approx(0.99e-3)
    assert (over["calls"], over["used"]) == (10, 20)
    assert 0.99e-3 < over["spent"] <= 1e-3
    assert records["test_own_level"]["used"] == 1   # counted, its own level not charged
    assert records["test_own_level"]["calls"] == 5


def test_a_failing_test_does_not_warn(pytester):
    pytester.makepyfile("""
        import pytest
        from initmath.testing._budget import level_and_seed

        @pytest.mark.statistical
        def test_fails():
            level_and_seed(None, None)
            level_and_seed(None, None)
            assert False
    """)
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    assert properties(result, "initmath_false_alarm")["test_fails"]["used"] == 2


def test_device_fixture_is_the_resolved_device(initmath_device):
    assert initmath_device == torch.device("cuda" if torch.cuda.is_available() else "cpu")


def test_statistical_tests_run_on_the_resolved_device(pytester, monkeypatch):
    # as if CUDA were present: assertions of marked tests default to the plugin's device
    monkeypatch.setattr(plugin, "_resolve_device", lambda config: "cuda:3")
    pytester.makepyfile("""
        import pytest
        from initmath.testing._budget import default_device

        @pytest.mark.statistical
        def test_marked():
            assert default_device() == "cuda:3"

        def test_unmarked():
            assert default_device() == "cpu"
    """)
    pytester.runpytest().assert_outcomes(passed=2)


@pytest.mark.skipif(torch is None, reason="needs torch")
def test_cuda_fixture_skips_without_cuda(pytester):
    pytester.makepyfile("""
        import pytest
        from initmath.testing._budget import default_device

        def test_gpu(initmath_cuda):
            assert initmath_cuda.type == "cuda"

        @pytest.mark.statistical
        def test_device(initmath_device):
            assert default_device() == str(initmath_device)
    """)
    result = pytester.runpytest("-rs")
    if torch.cuda.is_available():
        result.assert_outcomes(passed=2)
    else:
        result.assert_outcomes(passed=1, skipped=1)
        result.stdout.fnmatch_lines(["SKIPPED*needs CUDA*"])
        explicit = pytester.runpytest("--initmath-device=cuda", "-k", "test_device")
        explicit.assert_outcomes(errors=1, deselected=1)
        explicit.stdout.fnmatch_lines(["*--initmath-device=cuda, but CUDA is not available*"])


def test_bad_marker_arguments_name_the_argument(pytester):
    pytester.makepyfile("""
        import pytest

        @pytest.mark.statistical(false_alarm=2)
        def test_level(): pass

        @pytest.mark.statistical(per_example=0)
        def test_per_example(): pass

        @pytest.mark.statistical(calls=2.5)
        def test_calls(): pass

        @pytest.mark.statistical(false_alaram=1e-3)
        def test_typo(): pass
    """)
    result = pytester.runpytest()
    result.assert_outcomes(errors=4)
    result.stdout.fnmatch_lines([
        "*ERROR at setup of test_level*",
        "@pytest.mark.statistical on *::test_level: false_alarm must be finite and lie in "
        "[[]1e-300, 0.5[]], got 2*",                  # [[] and []]: literal brackets
        "*ERROR at setup of test_per_example*",
        "@pytest.mark.statistical on *: per_example must be an integer >= 1, got 0",
        "*ERROR at setup of test_calls*",
        "@pytest.mark.statistical on *: calls must be an integer >= 1, got 2.5",
        "*ERROR at setup of test_typo*",
        "@pytest.mark.statistical on *: unknown argument(s) false_alaram*",
    ])


def test_registered_through_the_entry_point(request):
    entries = importlib.metadata.entry_points(group="pytest11")
    assert any(e.name == "initmath" and e.value == "initmath.testing.plugin" for e in entries)
    assert request.config.pluginmanager.get_plugin("initmath") is plugin


def test_an_unmarked_test_file_runs_unchanged(pytester, monkeypatch):
    monkeypatch.delenv("INITMATH_SEED", raising=False)
    pytester.makepyfile("""
        import os
        from initmath.testing import active_budget

        def test_a():
            assert active_budget() is None
            assert "INITMATH_SEED" not in os.environ

        def test_b(): pass
    """)

    def lines(*args):
        result = pytester.runpytest("-rA", *args)
        result.assert_outcomes(passed=2)
        # timings vary; "plugins:" lists initmath when it is loaded
        return [re.sub(r" in [\d.]+s", "", line) for line in result.outlines
                if not line.startswith("plugins:")]

    with_plugin, without = lines(), lines("-p", "no:initmath")
    extra = [line for line in with_plugin if line not in without]
    assert len(extra) == 1 and extra[0].startswith("initmath.testing: seed 0 (replay with ")
    assert [line for line in with_plugin if line not in extra] == without
    assert not any("initmath" in line for line in lines("-q"))


def test_plugin_import_is_cheap():
    import subprocess
    import sys
    code = ("import sys, initmath.testing.plugin; "
            "print([m for m in ('torch', 'hypothesis') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
