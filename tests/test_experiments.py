"""The training-experiment pipeline (experiments/): data, the training loop, statistics,
the Hessian sharpness, and a --quick smoke run of the command line.

Scientific outcomes are not asserted here (docs/experiments.md reports them); what is
asserted are facts: an SGD step equals the closed-form softmax-regression gradient step,
the sharpness equals the top eigenvalue of the dense Hessian, intervals equal scipy's,
IDX files round-trip, and runs are deterministic and paired.
"""
import gzip
import math
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats as sps

import initmath
from experiments import __main__ as cli
from experiments import horii, skorski_lr, stats
from experiments.data import load_dataset, load_digits, load_idx, read_idx
from experiments.train import (
    History,
    build_mlp,
    derive_seed,
    initialize_,
    initialized_mlp,
    run,
    train,
)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: on a shared 2-core machine two threads are many times slower for
    these small models (docs/experiments.md)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def digits():
    return load_digits(seed=0)


# --------------------------------------------------------------------------- data
def _write_idx(path, array, compress=False):
    codes = {np.dtype(np.uint8): 0x08, np.dtype(np.float32): 0x0D}
    header = bytes([0, 0, codes[array.dtype], array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape)
    payload = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    with (gzip.open if compress else open)(path, "wb") as f:
        f.write(payload)


def _idx_folder(folder, n_train=40, n_test=20, side=4, classes=3, compress=False):
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, side, side), dtype=np.uint8)
        labels = (np.arange(n) % classes).astype(np.uint8)
        suffix = ".gz" if compress else ""
        _write_idx(os.path.join(folder, f"{split}-images-idx3-ubyte{suffix}"), images, compress)
        _write_idx(os.path.join(folder, f"{split}-labels-idx1-ubyte{suffix}"), labels, compress)
        arrays[split] = images, labels
    return arrays


@pytest.mark.parametrize("compress", [False, True])
def test_idx_round_trip_and_standardisation(tmp_path, compress):
    arrays = _idx_folder(tmp_path, compress=compress)
    data = load_idx(tmp_path, "fashion-mnist")
    images, labels = arrays["train"]
    assert data.name == "fashion-mnist" and data.classes == 3
    np.testing.assert_array_equal(data.y_train, labels)
    flat = images.reshape(len(images), -1) / 255.0
    expected = (flat - flat.mean(axis=0)) / flat.std(axis=0)
    np.testing.assert_allclose(data.x_train, expected, rtol=1e-5, atol=1e-5)
    test_flat = arrays["t10k"][0].reshape(20, -1) / 255.0      # train statistics, not test
    np.testing.assert_allclose(data.x_test, (test_flat - flat.mean(0)) / flat.std(0),
                               rtol=1e-5, atol=1e-5)


def test_read_idx_float_type(tmp_path):
    values = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    _write_idx(tmp_path / "x", values)
    np.testing.assert_array_equal(read_idx(tmp_path / "x"), values)


def test_idx_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        read_idx(tmp_path / "missing")
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "bad")
    _write_idx(tmp_path / "short", np.zeros(5, np.uint8))
    (tmp_path / "short").write_bytes((tmp_path / "short").read_bytes()[:-1])
    with pytest.raises(ValueError, match="header says shape"):
        read_idx(tmp_path / "short")
    with pytest.raises(ValueError, match="not a folder"):
        load_idx(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="not found"):
        load_idx(tmp_path)
    with pytest.raises(ValueError, match="dataset must be one of"):
        load_idx(tmp_path, "cifar")
    with pytest.raises(ValueError, match="give --data"):
        load_dataset("mnist")


def test_idx_images_labels_mismatch(tmp_path):
    _idx_folder(tmp_path)
    _write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(7, np.uint8))
    with pytest.raises(ValueError, match="do not match"):
        load_idx(tmp_path)


def test_digits_split_is_seeded_stratified_and_standardised(digits):
    again, other = load_digits(seed=0), load_digits(seed=1)
    np.testing.assert_array_equal(digits.x_train, again.x_train)
    assert not np.array_equal(digits.y_train, other.y_train)
    # stratified: every class keeps its share of the 1797 images to within one image
    counts = np.bincount(digits.y_test) / np.bincount(np.r_[digits.y_train, digits.y_test])
    assert np.all(np.abs(counts - 0.3) < 0.02)
    moving = digits.x_train.std(axis=0) > 0
    np.testing.assert_allclose(digits.x_train.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(digits.x_train.std(axis=0)[moving], 1, rtol=1e-4)
    with pytest.raises(ValueError, match="test_fraction"):
        load_digits(test_fraction=1.0)
    with pytest.raises(ValueError, match="seed"):
        load_digits(seed=-1)


# --------------------------------------------------------------------------- training loop
def test_initialization_scales():
    net = build_mlp([64, 64, 64, 10])
    gen = torch.Generator().manual_seed(0)
    assert initialize_(net, "fractional-moment", gen, s=0.8)[0] == pytest.approx(
        float(initmath.critical_sigma(0.8, 64)), rel=1e-12)
    g = math.sqrt(2) * math.exp(1.2 / (64 - 2.4))         # Sussillo & Abbott, N = 64
    assert initialize_(net, "random-walk", gen)[0] == pytest.approx(g / 8, rel=1e-14)
    assert initialize_(net, "kaiming", gen)[1] == pytest.approx(math.sqrt(2 / 64), rel=1e-14)
    stds = initialize_(net, "normal", gen, sigma=0.3)
    assert stds == [0.3] * 3 and all(bool((m.bias == 0).all()) for m in net[::2])
    assert float(net[0].weight.detach().std()) == pytest.approx(0.3, rel=0.05)   # s.e. 0.9%
    with pytest.raises(ValueError, match="scheme must be one of"):
        initialize_(net, "orthogonal", gen)
    with pytest.raises(ValueError, match="takes exactly"):
        initialize_(net, "normal", gen)
    with pytest.raises(ValueError, match="sigma"):
        initialize_(net, "normal", gen, sigma=-1.0)
    with pytest.raises(ValueError, match="at least an input"):
        build_mlp([64])


def test_same_seed_is_common_random_numbers():
    """Schemes of one seed share the normal draws: sigma = a and sigma = b give weights
    exactly proportional (a paired design); another seed gives other draws."""
    a = initialized_mlp([8, 8, 3], "normal", seed=5, sigma=0.1)
    b = initialized_mlp([8, 8, 3], "normal", seed=5, sigma=0.4)
    c = initialized_mlp([8, 8, 3], "normal", seed=6, sigma=0.1)
    torch.testing.assert_close(4 * a[0].weight, b[0].weight)
    assert not torch.equal(a[0].weight, c[0].weight)


def test_sgd_step_is_softmax_regression_gradient_step(digits):
    """One full-batch epoch on a linear model is one step w - lr * X^T (softmax - Y) / n."""
    net = build_mlp([64, 10])
    initialize_(net, "normal", torch.Generator().manual_seed(0), sigma=0.05)
    w0, b0 = (p.detach().double().numpy().copy() for p in (net[0].weight, net[0].bias))
    x, y = digits.x_train.astype(np.float64), digits.y_train
    logits = x @ w0.T + b0
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    residual = (p - np.eye(10)[y]) / len(y)
    train(net, digits, lr=0.5, epochs=1, batch_size=len(y), seed=0)
    np.testing.assert_allclose(net[0].weight.detach().numpy(), w0 - 0.5 * residual.T @ x,
                               atol=2e-6)
    np.testing.assert_allclose(net[0].bias.detach().numpy(), b0 - 0.5 * residual.sum(0),
                               atol=2e-6)
    # negative control: the same comparison with a different learning rate must fail
    assert not np.allclose(net[0].weight.detach().numpy(), w0 - 0.4 * residual.T @ x,
                           atol=2e-6)


def test_runs_are_deterministic_and_record_what_was_asked(digits):
    kwargs = dict(lr=0.05, epochs=4, batch_size=100, record_every=2)
    a = run([64, 16, 10], "kaiming", digits, seed=3, **kwargs)
    b = run([64, 16, 10], "kaiming", digits, seed=3, **kwargs)
    c = run([64, 16, 10], "kaiming", digits, seed=4, **kwargs)
    assert isinstance(a, History) and list(a.epochs) == [0, 2, 4] and not a.diverged
    for field in ("train_loss", "test_acc", "weight_msq"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert a.train_loss[-1] != c.train_loss[-1]
    net = initialized_mlp([64, 16, 10], "kaiming", seed=3)
    msq = sum(float(m.weight.detach().square().sum()) for m in net[::2]) / (64 * 16 + 16 * 10)
    assert a.weight_msq[0] == pytest.approx(msq, rel=1e-6)
    with pytest.raises(ValueError, match="lr"):
        train(net, digits, lr=0.0, epochs=1, batch_size=10, seed=0)
    with pytest.raises(ValueError, match="batch_size"):
        train(net, digits, lr=0.1, epochs=1, batch_size=0, seed=0)


def test_divergence_is_recorded_not_hidden(digits):
    h = run([64, 32, 10], "normal", digits, seed=0, lr=1e6, epochs=5, batch_size=100,
            sigma=1.0)
    assert h.diverged and h.epochs[-1] < 5 and not np.isfinite(h.train_loss[-1])


def test_derive_seed_separates_labels():
    seeds = {derive_seed(0, "x", i) for i in range(1000)}
    assert len(seeds) == 1000 and all(0 <= s < 2 ** 63 for s in seeds)


# --------------------------------------------------------------------------- statistics
@given(st.lists(st.floats(-10, 10), min_size=3, max_size=12).filter(
    lambda v: np.std(v) > 1e-3))
def test_t_interval_is_scipys(values):
    ci = stats.t_interval(values)
    low, high = sps.ttest_1samp(values, 0.0).confidence_interval(0.95)
    assert ci.low == pytest.approx(low, abs=1e-9) and ci.high == pytest.approx(high, abs=1e-9)


def test_paired_is_ttest_rel_and_detects_a_shift():
    rng = np.random.default_rng(0)
    base = rng.normal(size=20)
    shifted = base + 0.5 + 0.1 * rng.normal(size=20)
    d = stats.paired(shifted, base)
    assert d.p_value == pytest.approx(sps.ttest_rel(shifted, base).pvalue, rel=1e-12)
    assert d.low > 0                                      # a real shift is detected
    null = stats.paired(base + 0.1 * rng.normal(size=20), base)
    assert null.low < 0 < null.high                       # and no shift is not
    assert math.isnan(stats.t_interval([1.0, np.inf, 2.0]).estimate)   # diverged: no mean


@given(st.lists(st.floats(1e-6, 1), min_size=1, max_size=10))
def test_holm_bounds(p):
    adjusted = np.array(stats.holm(p))
    assert np.all(adjusted >= np.array(p) - 1e-15) and np.all(adjusted <= 1)
    assert np.all(adjusted <= np.minimum(np.array(p) * len(p), 1) + 1e-15)   # <= Bonferroni
    order = np.argsort(p)
    assert np.all(np.diff(adjusted[order]) >= -1e-15)     # monotone in the raw p-values


def test_bootstrap_interval_near_t_interval_for_a_mean():
    x = np.random.default_rng(1).normal(size=40)
    boot = stats.bootstrap_interval(40, lambda i: x[i].mean(), seed=0)
    t = stats.t_interval(x)
    assert boot.estimate == pytest.approx(t.estimate)
    assert (boot.high - boot.low) == pytest.approx(t.high - t.low, rel=0.15)
    undefined = stats.bootstrap_interval(5, lambda i: np.nan, seed=0, resamples=50)
    assert math.isnan(undefined.low)


def test_horii_crossing_and_minimiser():
    log_sigma = np.log([0.01, 0.1, 1.0])
    # ratio 10 -> 1/10 linearly in log: crosses 1 exactly at the middle point's log sigma
    assert horii._crossing(log_sigma, np.array([10.0, 1.0, 0.1])) == pytest.approx(np.log(0.1))
    assert horii._crossing(log_sigma, np.array([10.0, 100.0, 3.0])) != horii._crossing(
        log_sigma, np.array([10.0, 1.0, 0.1]))
    assert math.isnan(horii._crossing(log_sigma, np.array([0.5, 0.4, 0.3])))
    grid = np.linspace(-3, 0, 7)
    assert horii._minimiser(grid, (grid + 1.2) ** 2) == pytest.approx(-1.2)   # exact vertex
    assert horii._minimiser(grid, -grid) == grid[-1]          # minimum at the grid's end


# --------------------------------------------------------------------------- sharpness
def test_sharpness_is_top_eigenvalue_of_dense_hessian(digits):
    net = initialized_mlp([64, 3, 10], "kaiming", seed=0).double()
    x = torch.as_tensor(digits.x_train[:100]).double()
    y = torch.as_tensor(digits.y_train[:100])
    params = list(net.parameters())
    shapes = [p.shape for p in params]
    flat = torch.cat([p.detach().reshape(-1) for p in params])

    def loss_of(theta):
        chunks, i = [], 0
        for shape in shapes:
            chunks.append(theta[i:i + shape.numel()].reshape(shape))
            i += shape.numel()
        out = torch.func.functional_call(net, dict(zip(
            [n for n, _ in net.named_parameters()], chunks)), (x,))
        return torch.nn.functional.cross_entropy(out, y)

    dense = torch.autograd.functional.hessian(loss_of, flat, vectorize=True)
    top = float(torch.linalg.eigvalsh(dense)[-1])
    assert skorski_lr.sharpness(net, x, y, seed=0) == pytest.approx(top, rel=1e-6)


def test_largest_stable_lr_definition():
    grid = np.array([0.1, 0.2, 0.4, 0.8])

    def fake(stable_up_to):
        def train_at(lr):
            final = 0.5 if lr <= stable_up_to else 2.0         # initial loss is 1
            return History(np.array([0, 1]), np.array([1.0, final]), *[np.zeros(2)] * 4,
                           False)
        return train_at

    assert skorski_lr.largest_stable_lr(fake(0.3), grid) == (0.2, False)
    assert skorski_lr.largest_stable_lr(fake(1.0), grid) == (0.8, True)      # censored
    lr, censored = skorski_lr.largest_stable_lr(fake(0.01), grid)
    assert math.isnan(lr) and not censored


# --------------------------------------------------------------------------- command line
def test_quick_cli_writes_every_table_and_figure(tmp_path):
    cli.main(["--quick", "--out", str(tmp_path), "--seed", "1", "--device", "cpu"])
    names = set(os.listdir(tmp_path))
    for stem in ("horii_per_sigma", "horii_summary", "horii_vs_he", "gh_summary",
                 "gh_vs_kaiming", "skorski_summary", "skorski_paired"):
        assert {stem + ".md", stem + ".tex"} <= names
    assert {"horii_fig2_fig5.png", "horii_fig3_fig4.png", "gh_figure5.png",
            "skorski_lr.png", "results.md"} <= names
    assert (tmp_path / "gh_summary.tex").read_text().count(r"\toprule") == 1


def test_quick_cli_on_idx_files(tmp_path):
    (tmp_path / "idx").mkdir()
    _idx_folder(tmp_path / "idx")
    cli.main(["--quick", "--only", "gh", "--out", str(tmp_path / "out"), "--data",
              str(tmp_path / "idx"), "--dataset", "mnist"])
    assert "dataset mnist (40 train / 20 test)" in (tmp_path / "out" / "results.md").read_text()


@pytest.mark.parametrize("argv, message", [
    (["--seed", "-1"], "--seed"),
    (["--dataset", "mnist"], "give --data"),
    (["--device", "nonsense"], "--device")])
def test_cli_rejects_bad_arguments(argv, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv + ["--quick", "--out", str(tmp_path)])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_doctests_of_the_experiments_package():
    """The experiments package is not under pytest's testpaths (it needs the extras), so
    its docstring examples run here."""
    import doctest
    import importlib
    attempted = 0
    for name in ("data", "train", "stats", "horii", "gh_mnist", "skorski_lr", "report"):
        module = importlib.import_module(f"experiments.{name}")
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0, name
        attempted += result.attempted
    assert attempted >= 10
