"""The protocol, registry and boundary conventions shared by every measure."""

import numpy as np
import pytest

import repalign
from _helpers import assert_pairwise_matches_compare
from repalign.registry import INVARIANCES


def test_registry_metadata_is_complete_and_consistent():
    infos = repalign.measures()
    names = [m.name for m in infos]
    assert names == sorted(names) and len(set(names)) == len(names)
    assert {"cka", "debiased_cka", "rbf_cka", "cka_angular"} <= set(names)
    for m in infos:
        assert m.kind in ("distance", "similarity")
        assert set(m.invariances) <= set(INVARIANCES)
        assert len(m.range) == 2 and m.range[0] < m.range[1]
        assert m.summary, f"{m.name} has no docstring summary"
        if m.is_metric:
            assert m.kind == "distance", f"{m.name}: only distances can be metrics"
        assert repalign.get_measure(m.name).params == m.defaults


def test_three_d_input_is_flattened_trial_major():
    rng = np.random.default_rng(0)
    X3 = rng.standard_normal((4, 6, 3))
    Y3 = rng.standard_normal((4, 6, 5))
    flat = repalign.compare(X3.reshape(24, 3), Y3.reshape(24, 5), "cka")
    assert repalign.compare(X3, Y3, "cka") == flat
    assert np.array_equal(repalign.as_system(X3)[6], X3[1, 0])


def test_torch_and_xarray_inputs_are_accepted():
    import torch
    rng = np.random.default_rng(1)
    X, Y = rng.standard_normal((20, 3)), rng.standard_normal((20, 4))
    ref = repalign.compare(X, Y, "cka")
    assert repalign.compare(torch.tensor(X, dtype=torch.float32), Y, "cka") == pytest.approx(ref, abs=1e-6)
    assert isinstance(repalign.compare(torch.tensor(X), torch.tensor(Y), "cka"), float)

    class FakeDataArray:  # the xarray duck type used at the boundary (xarray itself is optional)
        def __init__(self, values):
            self.values, self.dims = values, ("sample", "unit")

    assert repalign.compare(FakeDataArray(X), Y, "cka") == pytest.approx(ref, abs=1e-14)


def test_prepared_states_are_reusable_and_checked():
    rng = np.random.default_rng(2)
    X, Y = rng.standard_normal((20, 3)), rng.standard_normal((20, 4))
    m = repalign.get_measure("cka")
    a, b = m.prepare(X), m.prepare(Y)
    assert m.compare(a, b) == pytest.approx(repalign.compare(X, Y, "cka"), abs=1e-15)
    other = repalign.get_measure("cka", debiased=True)
    with pytest.raises(ValueError, match="prepared by"):
        other.compare(a, b)


def test_get_measure_with_instance_and_override():
    m = repalign.get_measure("rbf_cka", threshold=0.3)
    assert m.params["kernel"] == "rbf" and m.params["threshold"] == 0.3
    m2 = repalign.get_measure(m, threshold=0.9)
    assert m2.params["threshold"] == 0.9 and m.params["threshold"] == 0.3


def test_pairwise_rejects_empty_and_mismatched():
    rng = np.random.default_rng(3)
    with pytest.raises(ValueError, match="at least one"):
        repalign.pairwise([], "cka")
    with pytest.raises(ValueError, match="same number of samples"):
        repalign.pairwise([rng.standard_normal((10, 2)), rng.standard_normal((11, 2))], "cka")


def test_cli_example_runs(capsys):
    from repalign.cli import main

    assert main(["example", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "cka" in out and "X vs Y" in out


def test_errors_from_prepare_name_the_argument():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((10, 3))
    with pytest.raises(ValueError, match=r"^Y has zero variance"):
        repalign.compare(X, np.ones((10, 3)), "cka")
    with pytest.raises(ValueError, match=r"^systems\[1\] has zero variance"):
        repalign.pairwise([X, np.ones((10, 3))], "cka")


# ----------------------------------------------------------------------------- the contract, for every measure
def _geometric_measures():
    return [m.name for m in repalign.measures() if m.input == "samples"]


@pytest.mark.parametrize("name", _geometric_measures())
def test_every_geometric_measure_keeps_the_contract(name):
    """Validation, no mutation, pairwise == per-pair loop, identity for metrics: for all measures."""
    rng = np.random.default_rng(12)
    latent = rng.standard_normal((60, 3))
    systems = [latent @ rng.standard_normal((3, 5)) + 0.3 * rng.standard_normal((60, 5)) for _ in range(3)]
    m = repalign.get_measure(name)
    M = assert_pairwise_matches_compare(systems, name, atol=1e-7)
    assert all(isinstance(v, float) for v in (repalign.compare(systems[0], systems[1], name),))
    if m.symmetric:
        np.testing.assert_allclose(M, M.T, atol=1e-12)
    if m.is_metric:
        np.testing.assert_allclose(np.diag(M), 0.0, atol=1e-6)
    bad = systems[1].copy()
    bad[4, 2] = np.nan
    with pytest.raises(ValueError, match="Y contains non-finite"):
        repalign.compare(systems[0], bad, name)
    if m.matched_samples:
        with pytest.raises(ValueError, match="same number of samples"):
            repalign.compare(systems[0], systems[1][:50], name)
