"""The pytest plugin of :mod:`initmath.testing`: seeds, device and false-alarm budgets.

pytest loads it by itself wherever initmath is installed (entry point ``initmath`` in the
``pytest11`` group; ``-p no:initmath`` turns it off).  Tests without the marker are left
alone: the plugin only adds one line to the session header.  Example::

    import pytest
    from hypothesis import given, settings, strategies as st
    from initmath.testing import assert_moment_preserved

    @pytest.mark.statistical(false_alarm=1e-6, per_example=2)
    @settings(max_examples=50, deadline=None)
    @given(s=st.floats(0.5, 2.0), width=st.integers(4, 64))
    def test_my_init(s, width):          # the whole test fails correct code w.p. <= 1e-6
        assert_moment_preserved(my_init, s=s, width=width)       # 2 assertions per example,
        assert_moment_preserved(my_init, s=s, width=2 * width)   # 100 planned in all

Options (group "initmath"):

``--initmath-seed=SEED``
    The base seed of every statistical assertion: an integer (default 0, or the
    environment variable ``INITMATH_SEED``), or ``random`` for a fresh one (nightly runs).
    ``random`` is drawn once per run and written to ``INITMATH_SEED``, so subprocesses and
    xdist workers use the same; the header prints it: ``initmath.testing: seed 2718281828
    (random; replay with --initmath-seed=2718281828), device auto``.  Each assertion's seed
    is a hash of the base seed, the test's node id and the assertion's index in the test,
    so a rerun with the same base seed draws the same samples.
``--initmath-device=auto|cpu|cuda|cuda:N``
    Where the assertions of statistical tests simulate when called without ``device=``;
    ``auto`` (default) is CUDA when ``torch.cuda.is_available()``, else the CPU.  Resolved
    (torch imported) only when a statistical test or a device fixture first needs it.

Marker ``@pytest.mark.statistical(false_alarm=1e-6, per_example=1, calls=None)``: the
test, all its hypothesis examples together, fails correct code with probability at most
``false_alarm``.  The plugin opens :func:`~initmath.testing.false_alarm_budget` for the
test (from its setup to its teardown, so assertions in its fixtures count too) with
``calls`` = the marker's ``calls`` when given, else the number of examples hypothesis will
run (``max_examples`` from the test's settings or profile, plus its explicit ``@example``
cases; 1 for a test without ``@given``) times ``per_example``, the statistical assertions
per example.  Every assertion called without its own ``false_alarm=`` then gets
``0.99 * false_alarm / calls`` (Bonferroni); calls past the plan (hypothesis replaying or
shrinking a failure) share the remaining 1 %, so the total is never exceeded, but a test
that passes with more calls than planned gets a ``StatisticalBudgetWarning``: raise
``per_example`` or ``calls``.  The test's report carries the user property
``initmath_false_alarm``: ``{"total", "calls", "used", "spent"}`` (in JUnit XML too).
The device of ``--initmath-device`` is in force for the same span.

The assertions find the budget and the device by themselves (context variables): a
hypothesis ``@given`` test needs no fixture, and should request none of the
function-scoped ones below (hypothesis's ``function_scoped_fixture`` health check);
``initmath.testing.active_budget()`` gives the budget inside the test.

Fixtures:

``initmath_device`` (session)
    The resolved device, a ``torch.device``; skips the test when torch is not installed.
``initmath_cuda`` (session)
    ``torch.device("cuda")`` (``cuda:N`` under ``--initmath-device=cuda:N``); skips the
    test cleanly when CUDA is absent: use it for GPU-only tests.
``initmath_seed`` (function)
    An integer seed for the test's own sampling: a hash of the base seed and the node
    id, so fixed per test and changed by ``--initmath-seed``.
``initmath_budget`` (function)
    The test's :class:`~initmath.testing.FalseAlarmBudget`: the open one of a marked test;
    for an unmarked test a fresh, inactive one (1e-6 over one call).
"""
import argparse
import contextlib
import dataclasses
import os
import re
import secrets

import pytest

ENV = "INITMATH_SEED"
MARKER = "statistical"
MARKER_DOC = (
    "statistical(false_alarm=1e-6, per_example=1, calls=None): a statistical test of "
    "initmath.testing; all its assertions (every hypothesis example) together fail correct "
    "code with probability <= false_alarm, shared among calls (default: hypothesis "
    "max_examples times per_example) assertions. See initmath.testing.plugin.")
_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")


class StatisticalBudgetWarning(UserWarning):
    """A statistical test made more assertions than its marker planned."""


@dataclasses.dataclass
class _RunState:
    seed: int
    random: bool
    device: str
    previous_env: str | None
    resolved: str | None = None


@dataclasses.dataclass
class _TestState:
    budget: object
    stack: contextlib.ExitStack
    record: dict
    detail: str


_RUN = pytest.StashKey[_RunState]()
_TEST = pytest.StashKey[_TestState]()


def _seed_option(text):
    text = text.strip()
    if text.lower() == "random":
        return "random"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be an integer or 'random', got {text!r}") from None


def _device_option(text):
    text = text.strip().lower()
    if not _DEVICE.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"must be auto, cpu, cuda or cuda:N, got {text!r}")
    return text


def pytest_addoption(parser):
    group = parser.getgroup("initmath", "initmath.testing (statistical tests)")
    group.addoption(
        "--initmath-seed", dest="initmath_seed", type=_seed_option, default=None,
        metavar="SEED",
        help="base seed of the statistical assertions: an integer (default: $INITMATH_SEED, "
             "else 0) or 'random' for a fresh one per run (printed in the header)")
    group.addoption(
        "--initmath-device", dest="initmath_device", type=_device_option, default="auto",
        metavar="DEVICE",
        help="device of the statistical tests: auto (CUDA when available, the default), "
             "cpu, cuda or cuda:N")


def _base_seed(config):
    """(seed, drawn at random?) from --initmath-seed or INITMATH_SEED."""
    option = config.getoption("initmath_seed")
    env = os.environ.get(ENV, "").strip()
    if isinstance(option, int):
        return option, False
    if option is None:
        if not env:
            return 0, False
        if env.lower() != "random":
            try:
                return int(env), False
            except ValueError:
                raise pytest.UsageError(
                    f"{ENV} must be an integer or 'random', got {env!r}") from None
    # "random": drawn once, by the xdist controller when there is one (the workers get
    # the same command line, and the controller's INITMATH_SEED in their environment)
    if hasattr(config, "workerinput") and re.fullmatch(r"[+-]?\d+", env):
        return int(env), True
    return secrets.randbits(32), True


def pytest_configure(config):
    config.addinivalue_line("markers", MARKER_DOC)
    seed, drawn = _base_seed(config)
    previous = os.environ.get(ENV)
    if drawn or config.getoption("initmath_seed") is not None:
        os.environ[ENV] = str(seed)
    config.stash[_RUN] = _RunState(seed, drawn, config.getoption("initmath_device"),
                                   previous)


def pytest_unconfigure(config):
    state = config.stash.get(_RUN, None)
    if state is None:
        return
    if state.previous_env is None:
        os.environ.pop(ENV, None)
    else:
        os.environ[ENV] = state.previous_env


def pytest_report_header(config):
    state = config.stash[_RUN]
    how = "random; replay" if state.random else "replay"
    return (f"initmath.testing: seed {state.seed} ({how} with --initmath-seed={state.seed}), "
            f"device {state.device}")


def _resolve_device(config):
    """The device string for --initmath-device (torch imported here, lazily)."""
    state = config.stash[_RUN]
    if state.resolved is not None:
        return state.resolved
    choice = state.device
    if choice == "cpu":
        resolved = "cpu"
    else:
        try:
            import torch
        except ImportError:
            torch = None
        if choice == "auto":
            resolved = "cuda" if torch is not None and torch.cuda.is_available() else "cpu"
        elif torch is None or not torch.cuda.is_available():
            why = "torch is not installed" if torch is None else \
                "torch.cuda.is_available() is False"
            raise pytest.UsageError(f"--initmath-device={choice}, but CUDA is not "
                                    f"available ({why})")
        else:
            index = int(choice.partition(":")[2] or 0)
            if index >= torch.cuda.device_count():
                raise pytest.UsageError(f"--initmath-device={choice}, but torch sees "
                                        f"{torch.cuda.device_count()} CUDA device(s)")
            resolved = choice
    state.resolved = resolved
    return resolved


def _hypothesis_settings(function):
    """The settings hypothesis will run ``function`` with, or None if it is no @given test."""
    seen = set()
    while function is not None and id(function) not in seen:
        seen.add(id(function))
        if getattr(function, "is_hypothesis_test", False):
            return function, getattr(function, "_hypothesis_internal_use_settings", None)
        function = getattr(function, "__wrapped__", None)
    return None, None


def _examples(function):
    """(examples hypothesis runs, description) for a test function; (1, ...) for plain ones."""
    test, settings = _hypothesis_settings(function)
    if settings is None:
        return 1, "not a hypothesis test"
    phases = {getattr(phase, "name", str(phase)) for phase in settings.phases}
    generated = settings.max_examples if "generate" in phases else 0
    explicit = len(getattr(test, "hypothesis_explicit_examples", ()) or ()) \
        if "explicit" in phases else 0
    text = f"max_examples={generated}" + (f" + {explicit} @example" if explicit else "")
    return max(generated + explicit, 1), text


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return value


def statistical_plan(marker, function=None):
    """(false_alarm, calls, description) of a ``statistical`` marker on ``function``.

    Raises ValueError naming the bad argument.
    """
    from ._statistics import FALSE_ALARM, check_level

    kwargs = dict(marker.kwargs)
    if len(marker.args) > 1:
        raise ValueError(f"takes at most one positional argument (false_alarm), got "
                         f"{len(marker.args)}")
    if marker.args:
        if "false_alarm" in kwargs:
            raise ValueError("false_alarm given twice")
        kwargs["false_alarm"] = marker.args[0]
    unknown = sorted(set(kwargs) - {"false_alarm", "per_example", "calls"})
    if unknown:
        raise ValueError(f"unknown argument(s) {', '.join(unknown)}; it takes false_alarm, "
                         f"per_example and calls")
    total = check_level(kwargs.get("false_alarm", FALSE_ALARM), "false_alarm")
    per_example = _positive_int(kwargs.get("per_example", 1), "per_example")
    calls = kwargs.get("calls")
    if calls is not None:
        return total, _positive_int(calls, "calls"), f"calls={calls}"
    examples, text = _examples(function)
    return total, examples * per_example, f"{text} x per_example={per_example}"


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    # a plain hook (not a wrapper), before the fixtures are set up: pytest.fail here
    # leaves the other plugins' setup wrappers intact
    marker = item.get_closest_marker(MARKER)
    if marker is None:
        return
    problem = None      # failed outside the except blocks: no chained traceback
    try:
        total, calls, detail = statistical_plan(marker, getattr(item, "obj", None))
        device = _resolve_device(item.config)
    except ValueError as error:
        problem = f"@pytest.mark.{MARKER} on {item.nodeid}: {error}"
    except pytest.UsageError as error:
        problem = str(error)
    if problem is not None:
        pytest.fail(problem, pytrace=False)
    from . import _budget

    stack = contextlib.ExitStack()
    budget = stack.enter_context(
        _budget.false_alarm_budget(total, calls, label=item.nodeid))
    stack.enter_context(_budget.device_scope(device))
    record = {"total": total, "calls": calls, "used": 0, "spent": 0.0}
    item.stash[_TEST] = _TestState(budget, stack, record, detail)
    item.user_properties.append(("initmath_false_alarm", record))


def _update(state):
    state.record.update(used=state.budget.used, spent=state.budget.spent)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    state = item.stash.get(_TEST, None)
    if state is None:
        return (yield)
    try:
        result = yield
    except BaseException:
        _update(state)   # a failing test reruns examples to shrink: over-plan is expected
        raise
    _update(state)
    budget = state.budget
    if budget.used > budget.calls:
        item.warn(StatisticalBudgetWarning(
            f"{item.nodeid} made {budget.used} statistical assertions, but its "
            f"@pytest.mark.{MARKER} planned {budget.calls} ({state.detail}): the "
            f"{budget.used - budget.calls} past the plan shared the 1% reserve of "
            f"false_alarm={budget.total:g}, each at a lower level (less power); raise "
            f"per_example= or calls= in the marker"))
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    try:
        return (yield)
    finally:
        state = item.stash.get(_TEST, None)
        if state is not None:
            del item.stash[_TEST]
            _update(state)
            state.stack.close()


@pytest.fixture(scope="session")
def initmath_device(pytestconfig):
    """The device of --initmath-device (auto: CUDA when available), a torch.device."""
    torch = pytest.importorskip("torch")
    return torch.device(_resolve_device(pytestconfig))


@pytest.fixture(scope="session")
def initmath_cuda(pytestconfig):
    """A CUDA torch.device; the test is skipped when CUDA is not available."""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA (torch.cuda.is_available() is False)")
    choice = pytestconfig.stash[_RUN].device
    return torch.device(choice if choice.startswith("cuda:") else "cuda")


@pytest.fixture
def initmath_seed(request):
    """A seed of this test's own: a hash of the base seed and its node id."""
    from ._budget import base_seed, derived_seed

    return derived_seed(base_seed(), request.node.nodeid, "fixture")


@pytest.fixture
def initmath_budget(request):
    """The FalseAlarmBudget of a statistical test; a fresh inactive one for other tests."""
    state = request.node.stash.get(_TEST, None)
    if state is not None:
        return state.budget
    from ._budget import FalseAlarmBudget, base_seed
    from ._statistics import FALSE_ALARM

    return FalseAlarmBudget(FALSE_ALARM, 1, base_seed(), request.node.nodeid)
