"""Hardening (issue 14): loading runs no code, memory is estimated before it is spent, and bad
inputs, damaged files and mismatched state end in clear errors."""

from __future__ import annotations

import builtins
import os
import pickle
import sqlite3
import time
import tracemalloc
import warnings

import numpy as np
import pytest

import repalign
from repalign import InputError, MemoryBudgetError
from repalign._memory import parse_size
from repalign.engine import load, sweep
from repalign.engine import statefile
from repalign.engine.sources import content_hash
from repalign.engine.store import measure_key
from repalign.engine.sweep import _cache_path


@pytest.fixture(autouse=True)
def _default_options(monkeypatch):
    monkeypatch.delenv("REPALIGN_MAX_MEMORY", raising=False)
    previous = repalign.set_options(max_memory=None)
    yield
    repalign.set_options(**previous)


class _Evil:
    """Unpickling this runs code: it creates the file ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (builtins.exec, (f"open({self.marker!r}, 'w').write('pwned')",))


# --------------------------------------------------------------------------- no code from files
def test_crafted_checkpoint_is_refused_and_runs_nothing(tmp_path):
    import torch

    from repalign.train import load_checkpoint, load_model

    marker = tmp_path / "pwned"
    path = tmp_path / "checkpoints" / "step_00000001.pt"
    path.parent.mkdir()
    torch.save({"format": 1, "step": 1, "payload": _Evil(marker)}, path)
    (path.with_suffix(".json")).write_text("{}")
    with pytest.raises(ValueError, match="cannot be loaded safely"):
        load_checkpoint(path)
    with pytest.raises(ValueError, match="cannot be loaded safely"):
        load_model(path)
    assert not marker.exists()
    # the same file unpickled the unsafe way would have run the payload: the test's control
    torch.load(path, weights_only=False)
    assert marker.read_text() == "pwned"


def test_checkpoint_round_trip_and_resume_with_another_model_shows_both_specs(tmp_path):
    from repalign.train import load_checkpoint
    from repalign.train.runconfig import run_config

    cfg = dict(tasks=["delaygo"], steps=2, batch_size=4, eval_every=2, eval_batch=8, layout="compact",
               rule_slots=3, rule_index={"delaygo": 1}, task_kwargs={"dt": 50.0}, checkpoints=[2],
               model={"type": "leaky_rnn", "n_hidden": 6, "activation": "tanh"})
    run_config(cfg, tmp_path / "run", progress=False, figure=False)
    ckpt = load_checkpoint(tmp_path / "run/checkpoints/step_00000002.pt")
    assert ckpt["model_spec"]["n_hidden"] == 6 and ckpt["model_spec"]["activation"] == "tanh"
    other = {**cfg, "model": {"type": "leaky_rnn", "n_hidden": 7, "activation": "relu"}}
    with pytest.raises(ValueError, match="different model") as info:
        run_config(other, tmp_path / "run", progress=False, figure=False)
    msg = str(info.value)
    assert '"n_hidden": 6' in msg and '"n_hidden": 7' in msg and '"tanh"' in msg and '"relu"' in msg


def _plant(tmp_path, measure, X, content: bytes):
    m = repalign.get_measure(measure)
    path = _cache_path(str(tmp_path / "r.db"), measure_key(m), content_hash(X))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(content)
    return path


@pytest.mark.parametrize("kind", ["pickle_as_npz", "object_array_npz", "truncated", "foreign_class"])
def test_planted_cache_entries_run_nothing_and_are_recomputed(tmp_path, kind):
    marker = tmp_path / "pwned"
    S = {f"s{i}": np.random.default_rng(i).standard_normal((12, 3)) for i in range(3)}
    X = S["s0"]
    if kind == "pickle_as_npz":
        content = pickle.dumps(_Evil(marker))
    elif kind == "object_array_npz":
        import io

        buf = io.BytesIO()
        np.savez(buf, __schema__=np.array([_Evil(marker)], dtype=object))
        content = buf.getvalue()
    elif kind == "truncated":
        good = statefile.dumps(repalign.get_measure("cka").prepare(X))
        content = good[: len(good) // 2]
    else:  # a well-formed state file naming a class outside repalign
        import io
        import json

        schema = {"format": statefile.FORMAT, "root": {"dataclass": "os:system", "fields": {}}}
        buf = io.BytesIO()
        np.savez(buf, __schema__=np.frombuffer(json.dumps(schema).encode(), dtype=np.uint8))
        content = buf.getvalue()
    path = _plant(tmp_path, "cka", X, content)
    # a legacy pickle cache entry next to it is never opened
    with open(path[:-4] + ".pkl", "wb") as f:
        pickle.dump(_Evil(marker), f)
    summary = sweep(S, "cka", tmp_path / "r.db", backend="serial", cache_prepared=True, progress=False)
    assert not marker.exists()
    assert summary.failed == 0 and summary.computed == 3
    M = load(tmp_path / "r.db").matrix("cka").loc[list(S), list(S)].to_numpy(copy=True)
    np.fill_diagonal(M, 1.0)  # pairs="all" computes no self-pairs
    np.testing.assert_allclose(M, repalign.pairwise(list(S.values()), "cka"), rtol=1e-12)
    state = statefile.load_file(path)  # the entry was rewritten as a valid state
    assert state.measure_key == repalign.get_measure("cka").key


def test_state_files_refuse_what_needs_pickle():
    with pytest.raises(statefile.StateFileError, match="without pickle"):
        statefile.dumps({"f": lambda x: x})
    with pytest.raises(statefile.StateFileError, match="dtype object"):
        statefile.dumps(np.array([object()]))
    with pytest.raises(statefile.StateFileError):
        statefile.loads(b"not a zip file")


# --------------------------------------------------------------------------- memory guard
def test_rsa_on_60000_conditions_fails_fast_before_allocating(monkeypatch):
    monkeypatch.setenv("REPALIGN_MAX_MEMORY", "2GB")
    X = np.random.default_rng(0).standard_normal((60_000, 2))
    repalign.get_measure("rsa")  # imports outside the timing
    tracemalloc.start()
    t = time.perf_counter()
    with pytest.raises(MemoryBudgetError) as info:
        repalign.compare(X, X, "rsa")
    seconds = time.perf_counter() - t
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    msg = str(info.value)
    assert seconds < 5 and peak < 50 * 2**20  # the 1.8e9-entry RDM was never started
    assert "GiB" in msg and "REPALIGN_MAX_MEMORY" in msg and "set_options" in msg and "60,000" in msg
    assert isinstance(info.value, MemoryError) and isinstance(info.value, ValueError)


@pytest.mark.parametrize("measure, shape, params", [
    ("rbf_cka", (3000, 3), {}),
    ("cka", (3000, 4000), {}),  # p > n: the Gram route
    ("rsa", (3000, 3), {"compare": "corr_cov"}),
    ("mutual_knn", (200_000, 2), {}),
])
def test_n_squared_measures_estimate_before_preparing(measure, shape, params):
    repalign.set_options(max_memory="20MB")
    X = np.broadcast_to(np.arange(shape[1], dtype=float), shape)  # no big allocation for the input
    with pytest.raises(MemoryBudgetError, match="set_options") as info:
        repalign.get_measure(measure, **params).check_memory(*shape, "A")
    assert f"on A ({shape[0]} samples x {shape[1]} features)" in str(info.value) and "GiB" in str(info.value)
    assert X.shape == shape


def test_linear_cka_is_not_refused_and_the_budget_can_be_raised():
    X = np.random.default_rng(0).standard_normal((400, 5))
    repalign.set_options(max_memory="1MB")
    repalign.compare(X, X, "cka")  # feature space: 5 x 5
    with pytest.raises(MemoryBudgetError):
        repalign.compare(X, X, "rsa")
    repalign.set_options(max_memory="1GB")
    assert repalign.compare(X, X, "rsa") == pytest.approx(1.0)


def test_pairwise_and_calibrate_check_memory_of_all_states():
    systems = [np.random.default_rng(i).standard_normal((300, 3)) for i in range(40)]
    repalign.set_options(max_memory="10MB")  # one RDM (~45k entries) fits, 40 of them twice do not
    repalign.compare(systems[0], systems[1], "rsa")
    with pytest.raises(MemoryBudgetError, match="40 prepared states"):
        repalign.pairwise(systems, "rsa")
    repalign.set_options(max_memory="5MB")  # one RDM's prepare fits; a batch of permuted RDMs does not
    repalign.compare(systems[0], systems[1], "rsa")
    with pytest.raises(MemoryBudgetError, match="permutation null"):
        repalign.calibrate(systems[0], systems[1], "rsa", n=10)


@pytest.mark.parametrize("text, expected", [("8GB", 8e9), ("512MiB", 512 * 2**20), ("1.5 G", 1.5e9),
                                            ("1e9", 1e9), (2**30, 2**30)])
def test_sizes_parse(text, expected):
    assert parse_size(text) == int(expected)


@pytest.mark.parametrize("bad", ["lots", "-1GB", "0", True, [1]])
def test_bad_sizes_are_refused(bad, monkeypatch):
    with pytest.raises(ValueError, match="max_memory"):
        repalign.set_options(max_memory=bad)
    monkeypatch.setenv("REPALIGN_MAX_MEMORY", "lots")
    with pytest.raises(ValueError, match="REPALIGN_MAX_MEMORY"):
        repalign.compare(np.eye(4), np.eye(4), "rsa")


def test_permuted_states_equal_re_prepared_systems():
    rng = np.random.default_rng(3)
    X, Y, rows = rng.standard_normal((11, 4)), rng.standard_normal((11, 12)), rng.permutation(11)
    cases = [("cka", {}), ("debiased_cka", {}), ("rbf_cka", {}), ("cka", {"kernel": "rbf", "debiased": True}),
             ("procrustes", {}), ("shape", {"alpha": 0.5}), ("rsa", {}), ("rsa", {"compare": "corr_cov"}),
             ("rsa", {"compare": "tau_a", "rdm": "euclidean"})]
    for name, params in cases:
        m = repalign.get_measure(name, **params)
        px, py = m.prepare(X), m.prepare(Y)
        permuted = repalign.Prepared(m._permute_state(py.state, rows), py.n_samples, py.n_features, py.measure_key)
        assert m.compare(px, permuted) == pytest.approx(m.compare(px, m.prepare(Y[rows])), abs=1e-12), name


def test_null_does_not_depend_on_the_batch_size(monkeypatch):
    from repalign.stats import nulls

    X = np.random.default_rng(1).standard_normal((30, 4))
    Y = X + np.random.default_rng(2).standard_normal((30, 4))
    a = repalign.calibrate(X, Y, "rsa", n=20, seed=5).null
    monkeypatch.setattr(nulls, "batch_size_for", lambda state_bytes: 7)
    b = repalign.calibrate(X, Y, "rsa", n=20, seed=5).null
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)  # same draws; only BLAS summation order differs
    assert nulls.batch_size_for(10**9) == 7
    monkeypatch.undo()
    assert nulls.batch_size_for(10**9) == nulls.MIN_BATCH and nulls.batch_size_for(8) == nulls.MAX_BATCH


# --------------------------------------------------------------------------- inputs
def _gen():
    yield [1.0, 2.0]


@pytest.mark.parametrize("bad, match", [
    (np.ones((5, 2)) + 1j, "complex"),
    (np.ma.masked_array(np.ones((5, 2)), mask=np.eye(5, 2)), "masked"),
    ((row for row in np.ones((5, 2))), "iterator"),
    (np.array([["a", "b"]] * 5), "numeric"),
    ("data.npy", "numeric"),
    ({"a": 1}, "numeric"),
    (None, "numeric"),
])
def test_non_array_inputs_are_refused_naming_the_argument(bad, match):
    good = np.random.default_rng(0).standard_normal((5, 2))
    with pytest.raises(InputError, match=match) as info:
        repalign.compare(good, bad, "cka")
    assert str(info.value).startswith("Y ")
    assert isinstance(info.value, TypeError) and isinstance(info.value, ValueError)


def test_complex_torch_refused_and_half_precision_accepted():
    import torch

    X = np.random.default_rng(0).standard_normal((20, 3))
    with pytest.raises(InputError, match="complex tensor"):
        repalign.compare(torch.tensor(X, dtype=torch.complex64), X, "cka")
    for dtype in (torch.bfloat16, torch.float16):
        t = torch.tensor(X, dtype=dtype)
        expected = repalign.compare(t.to(torch.float64).numpy(), X, "cka")
        assert repalign.compare(t, X, "cka") == expected


def test_empty_lists_behave_the_same_for_every_measure():
    for info in repalign.measures():
        with pytest.raises(ValueError, match="systems must contain at least one system"):
            repalign.pairwise([], info.name)
        with pytest.raises(ValueError, match="others must contain at least one system"):
            repalign.pairwise([np.eye(3)], info.name, others=[])
    with pytest.raises(InputError, match="systems must be a list"):
        repalign.pairwise((np.eye(3) for _ in range(2)), "cka")


@pytest.mark.parametrize("scale", [1e80, 1e-80])
def test_overflowing_scales_are_refused(scale):
    X = np.random.default_rng(0).standard_normal((10, 3))
    with pytest.raises(ValueError, match="magnitude") as info:
        repalign.compare(X * scale, X, "cka")
    assert str(info.value).startswith("X ")
    # just inside the range the score is right: CKA is scale invariant
    assert repalign.compare(X * 1e70, X, "cka") == pytest.approx(1.0, abs=1e-12)


def test_dsa_seed_and_device_checked_when_built():
    for bad in (-1, True, 1.5, "7"):
        with pytest.raises(ValueError, match="seed"):
            repalign.get_measure("dsa", seed=bad)
    with pytest.raises(ValueError, match="device 'gpu0'"):
        repalign.get_measure("dsa", device="gpu0")
    g = repalign.get_measure("dsa", seed=np.random.default_rng(4))
    seed = g.params["seed"]
    assert isinstance(seed, int) and g.key == repalign.get_measure("dsa", seed=seed).key


@pytest.mark.parametrize("name", ["cca", "pwcca"])
def test_cca_warns_when_ranks_fill_the_samples(name):
    rng = np.random.default_rng(5)
    X, Y = rng.standard_normal((8, 4)), rng.standard_normal((8, 4))
    with pytest.warns(RuntimeWarning, match="rank_x \\+ rank_y = 4 \\+ 4 >= n_samples = 8"):
        repalign.compare(X, Y, name)
    X, Y = rng.standard_normal((50, 4)), rng.standard_normal((50, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert repalign.compare(X, Y, name) < 0.9


# --------------------------------------------------------------------------- files and the CLI
def _cli(capsys, *argv):
    from repalign.cli import main

    rc = main(list(argv))
    err = capsys.readouterr().err.strip()
    return rc, err


def test_damaged_store_and_directory_give_one_line_and_exit_2(tmp_path, capsys):
    S = {f"s{i}": np.random.default_rng(i).standard_normal((10, 3)) for i in range(30)}
    db = tmp_path / "r.db"
    sweep(S, "cka", db, backend="serial", progress=False)
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    with open(db, "r+b") as f:  # header page intact, later pages overwritten
        f.seek(4096 * 3)
        f.write(np.random.default_rng(0).integers(0, 256, 4096 * 4, dtype=np.uint8).tobytes())
    np.save(tmp_path / "a.npy", S["s0"])
    (tmp_path / "c.yaml").write_text(f"store: {db}\nsystems: {{a: {tmp_path / 'a.npy'}}}\nmeasures: [cka]\n"
                                     "backend: serial\npairs: all_with_self\n")
    for argv in (["results", str(db)], ["sweep", str(tmp_path / "c.yaml"), "--no-progress"],
                 ["results", str(tmp_path)]):
        rc, err = _cli(capsys, *argv)
        assert rc == 2 and len(err.splitlines()) == 1, err
        assert ("is damaged" in err and str(db.name) in err) or "is a directory" in err


def test_cli_input_errors_name_a_and_b(tmp_path, capsys):
    np.save(tmp_path / "A.npy", np.random.default_rng(0).standard_normal((10, 3)))
    np.save(tmp_path / "B.npy", np.random.default_rng(0).standard_normal((11, 3)))
    A, B = str(tmp_path / "A.npy"), str(tmp_path / "B.npy")
    rc, err = _cli(capsys, "compare", A, B)
    assert rc == 2 and err.count("\n") == 0 and "A (" in err and "B (" in err and " X " not in err
    rc, err = _cli(capsys, "compare", A, A, "-p", "kernel=[rbf")
    assert rc == 2 and "--param kernel" in err and err.count("\n") == 0
    rc, err = _cli(capsys, "compare", f"{A}:key", A)
    assert rc == 2 and "without keys" in err


def test_train_config_errors_exit_2_before_training(tmp_path, capsys):
    cases = {"bad.yaml": ("tasks: [fdgo\nsteps: 2\n", "not valid YAML"),
             "key.yaml": ("tasks: [fdgo]\nsteps: 2\nmodel: {n_hiden: 8}\n", "unknown model key(s) ['n_hiden']"),
             "size.yaml": ("tasks: [fdgo]\nsteps: 2\nmodel: {n_hidden: 0}\n", "n_hidden must be a positive integer")}
    for name, (text, expected) in cases.items():
        (tmp_path / name).write_text(text)
        rc, err = _cli(capsys, "train", str(tmp_path / name), "--out", str(tmp_path / f"out_{name}"))
        assert rc == 2 and expected in err and err.count("\n") == 0, err
    (tmp_path / "file").write_text("keep")
    rc, err = _cli(capsys, "train", str(tmp_path / "size.yaml"), "--out", str(tmp_path / "file"))
    assert rc == 2 and "is an existing file" in err and (tmp_path / "file").read_text() == "keep"


def test_report_save_does_not_replace_foreign_files(tmp_path):
    from repalign.report.html import Report

    rep = Report("t")
    (tmp_path / "report.html").write_text("my notes")
    with pytest.raises(ValueError, match="not written by a repalign report"):
        rep.save(tmp_path)
    assert (tmp_path / "report.html").read_text() == "my notes"
    rep.save(tmp_path, overwrite=True)
    rep.save(tmp_path)  # its own files are replaced without fuss
    assert "repalign.report" in (tmp_path / "report.html").read_text()


def test_ridge_r2_predicts_a_single_unit(tmp_path):
    """Found by the property tests: a one-column Y crashed (sklearn predicts 1-D). Variance-weighted
    R^2 of [y, y] equals that of y, an independent reference."""
    rng = np.random.default_rng(8)
    X = rng.standard_normal((30, 3))
    y = X @ np.array([[1.0], [-2.0], [0.5]]) + 0.3 * rng.standard_normal((30, 1))
    one = repalign.compare(X, y, "ridge_r2")
    assert one == pytest.approx(repalign.compare(X, np.hstack([y, y]), "ridge_r2"), rel=1e-12)
    assert 0.8 < one < 1.0


def test_variation_below_float64_squares_is_refused_not_scored_nan():
    """Found by the random property run: a constant column at 3 beside a column varying by 1e-121
    passed the magnitude check, but every square underflowed and CKA returned NaN."""
    X = np.array([[3.0, -1.3e-121], [3.0, 1.0e-121], [3.0, 3.6e-121]])
    Y = np.random.default_rng(0).standard_normal((3, 2))
    for name in ("cka", "cka_angular", "procrustes"):
        with pytest.raises(ValueError, match="^X varies by at most .* underflow"):
            repalign.compare(X, Y, name)
    X2 = X.copy()
    X2[:, 1] *= 1e120  # the same geometry, rescaled: scored, and the constant column plays no part
    assert repalign.compare(X2, Y, "cka") == pytest.approx(repalign.compare(X2[:, 1:], Y, "cka"), rel=1e-12)


def test_dsa_names_the_system_with_a_zero_operator():
    """Found by the random property run: the error said 'A is the zero operator' (an internal name)."""
    X = np.random.default_rng(0).standard_normal((1, 12, 2))
    Y = np.zeros((1, 12, 2))
    Y[0, 5, 0] = 1.0  # one spike: the fitted map sends every state to 0
    with pytest.raises(ValueError, match="^Y has a zero DMD operator"):
        repalign.compare(X, Y, "dsa")


def test_dsa_estimate_counts_the_delay_embedding():
    """DSA's memory is the delay embedding: n_delays times the data's width. 20,000 time points of
    100 units fit a 100 MB budget as raw data (16 MB) but not with 50 delays (~2.4 GB)."""
    repalign.set_options(max_memory="100MB")
    repalign.get_measure("dsa", n_delays=1, rank=5).check_memory(20_000, 100, "A")
    with pytest.raises(MemoryBudgetError, match="delay embedding") as info:
        repalign.get_measure("dsa", n_delays=50, rank=5).check_memory(20_000, 100, "A")
    assert "100 units x 50 delays" in str(info.value) and "n_delays" in str(info.value)
    need, _ = repalign.get_measure("dsa", n_delays=50)._memory_need(20_000, 100)
    assert need == pytest.approx(8.0 * (3 * 20_000 * 5_000 + 2 * 5_000 ** 2))
