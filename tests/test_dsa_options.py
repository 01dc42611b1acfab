"""DSA's options from the tutorial's class: kernel DMD, Wasserstein scores, per-system parameters."""

import numpy as np
import pytest

import repalign as ra
from repalign.dynamics.dmd import DMD
from repalign.dynamics.dsa import DSA, dsa_from_operators
from repalign.dynamics.dsa_systems import broadcast_system_params, dsa_pairwise
from repalign.dynamics.examples import circle_oval_walk
from repalign.dynamics.kernel_dmd import KernelDMD
from repalign.dynamics.spectral import spectral_wasserstein


@pytest.fixture(scope="module")
def cow():
    d = circle_oval_walk(T=300, seed=1)
    return [d["circle"], d["oval"], d["walk"]]


def test_default_key_is_unchanged_and_options_enter_it_only_when_set():
    default = str(DSA().key)
    for option in ("kernel", "num_centers", "kernel_width", "kernel_degree", "wasserstein_compare"):
        assert option not in default
    assert "kernel" in str(DSA(kernel="rbf").key)
    assert "num_centers" in str(DSA(num_centers=0.2).key) and "0.2" in str(DSA(num_centers=0.2).key)
    assert DSA(num_centers=0.1).key == DSA().key
    assert DSA(seed=np.random.default_rng(0)).key == DSA(seed=DSA(seed=np.random.default_rng(0)).params["seed"]).key


def test_per_system_parameters_equal_separate_calls(cow):
    n_delays, rank = [2, 3, 4], 3
    got = dsa_pairwise(cow, n_delays=n_delays, rank=rank, amortise=False)
    ops = [DMD(n_delays=d, rank=rank).fit(x).A_v for d, x in zip(n_delays, cow)]
    for i in range(3):
        for j in range(3):
            want = dsa_from_operators([ops[i]], [ops[j]], amortise=False)[0, 0]
            assert got[i, j] == pytest.approx(want, abs=1e-12)
    # one parameter set for all == the registered measure's pairwise
    np.testing.assert_allclose(dsa_pairwise(cow, n_delays=3, rank=3), ra.pairwise(cow, "dsa", n_delays=3, rank=3),
                               atol=1e-12)
    # with others: a pair (for systems, for others), each scalar or per-system list
    cross = dsa_pairwise(cow[:2], [cow[2]], n_delays=([2, 3], 4), rank=3, amortise=False)
    want = [dsa_from_operators([ops[i]], [ops[2]], amortise=False)[0, 0] for i in range(2)]
    np.testing.assert_allclose(cross[:, 0], want, atol=1e-12)


def test_broadcasting_rules_and_errors():
    assert broadcast_system_params(5, 3, None, "n_delays") == ([5, 5, 5], None)
    assert broadcast_system_params([1, 2, 3], 3, None, "n_delays") == ([1, 2, 3], None)
    assert broadcast_system_params((1, [2, 3]), 2, 2, "rank") == ([1, 1], [2, 3])
    assert broadcast_system_params(None, 1, 2, "rank") == ([None], [None, None])
    with pytest.raises(ValueError, match="n_delays.*3 values"):
        broadcast_system_params([1, 2], 3, None, "n_delays")
    with pytest.raises(ValueError, match="rank.*pair"):
        broadcast_system_params([1, 2, 3], 2, 1, "rank")


def test_different_ranks_zero_pad_or_fall_back_to_wasserstein(cow):
    padded = dsa_pairwise(cow, n_delays=4, rank=[2, 3, 4], amortise=False)
    ops = [DMD(n_delays=4, rank=r).fit(x).A_v for r, x in zip([2, 3, 4], cow)]
    assert padded[0, 2] == pytest.approx(dsa_from_operators([ops[0]], [ops[2]], amortise=False)[0, 0], abs=1e-12)
    got = dsa_pairwise(cow, n_delays=4, rank=[2, 3, 3], wasserstein_compare="eig", amortise=False)
    e = [DMD(n_delays=4, rank=r).fit(x).eigenvalues for r, x in zip([2, 3, 3], cow)]
    assert got[0, 1] == pytest.approx(spectral_wasserstein(e[0], e[1], p=2), abs=1e-12)
    # equal sizes still use Procrustes over vector fields
    ops = [DMD(n_delays=4, rank=3).fit(x).A_v for x in cow[1:]]
    assert got[1, 2] == pytest.approx(dsa_from_operators([ops[0]], [ops[1]], amortise=False)[0, 0], abs=1e-12)


def test_wasserstein_scores_on_eigenvalues_and_singular_values(cow):
    for how in ("eig", "sv"):
        got = ra.compare(cow[0], cow[1], "dsa", n_delays=3, rank=4, score="wasserstein", wasserstein_compare=how)
        a, b = (DMD(n_delays=3, rank=4).fit(x).A_v for x in cow[:2])
        if how == "eig":
            x, y = np.linalg.eigvals(a), np.linalg.eigvals(b)
        else:
            x, y = np.linalg.svd(a, compute_uv=False), np.linalg.svd(b, compute_uv=False)
        # equal sizes: W2 = sqrt(mean |x_i - y_pi(i)|^2) at the best matching (brute force over 4! orders)
        from itertools import permutations

        best = min(np.mean(np.abs(x - y[list(p)]) ** 2) for p in permutations(range(4)))
        assert got == pytest.approx(np.sqrt(best), abs=1e-12)
    with pytest.raises(ValueError, match="wasserstein_compare"):
        DSA(score="wasserstein")
    with pytest.raises(ValueError, match="wasserstein_compare"):
        DSA(wasserstein_compare="trace")


def test_kernel_option_in_dsa_uses_kernel_dmd_and_keeps_invariances(cow):
    m = DSA(kernel="rbf", num_centers=40, n_delays=2, rank=6, seed=0)
    A = KernelDMD(n_delays=2, rank=6, kernel="rbf", num_centers=40, seed=0).fit(cow[0]).A_v
    np.testing.assert_array_equal(m.prepare(cow[0]).state.A, A)
    # a rotation of the units leaves the rbf kernel (distances) and hence the operator unchanged
    c, s = np.cos(0.7), np.sin(0.7)
    Q = np.array([[c, -s], [s, c]])
    assert ra.compare(cow[0], cow[0] @ Q, m) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="kernel"):
        DSA(kernel="sigmoid")
