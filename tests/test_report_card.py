"""The metric report card (repalign.report_card) and the `repalign bench` command."""

import csv
import json

import numpy as np
import pytest

import repalign
from repalign.report_card import NOT_APPLICABLE, CaseResult, run_case, run_report_card, to_distance
from repalign.report_card.cases import CASES, DEFAULT_CASES, distance_matrix, silhouette
from repalign.cli import main
from _helpers import toy_measures
from repalign.registry import Measure


class _Blind(Measure):
    """A measure that cannot tell systems apart: every distance is 1."""

    name = "_blind_test_measure"
    kind = "distance"
    range = (0.0, 1.0)
    matched_samples = False
    input = "trials"

    def _prepare(self, trials):
        return None

    def _compare(self, a, b):
        return 1.0


@pytest.fixture
def blind():
    """Registered only for the duration of one test, so that no other test sees it."""
    with toy_measures(_Blind):
        yield _Blind.name


@pytest.mark.parametrize("case", ["circle_oval_walk", "fixed_point_topology"])
def test_dsa_passes_circle_oval_walk_and_fixed_point_topology(case):
    r = run_case(case, "dsa", quick=True, seed=0)
    assert r.passed is True, r.detail
    if case == "circle_oval_walk":
        D = np.asarray(r.detail["distance"])
        assert D[0, 1] < min(D[0, 2], D[1, 2])
        assert r.score == pytest.approx(D[0, 1] / min(D[0, 2], D[1, 2]))
    else:
        assert r.score > 0
        assert r.detail["condition_average_max_difference"] < 1e-12  # the averages really coincide
        assert r.score == pytest.approx(silhouette(np.asarray(r.detail["distance"]), r.detail["labels"]))


def test_a_blind_measure_fails_the_cases(blind):
    for case in DEFAULT_CASES:  # ReSi's cases (trained networks) have their own blind test in test_resi.py
        r = run_case(case, blind, quick=True, seed=0)
        assert r.passed is False, (case, r.score)


@pytest.mark.parametrize("measure", ["cka", "procrustes"])
def test_matched_sample_measures_are_not_applicable_to_independent_realisations(measure):
    assert repalign.get_measure(measure).info().matched_samples
    for case in ("circle_oval_walk", "lorenz_regimes", "noise_robustness", "fixed_point_topology"):
        r = run_case(case, measure, quick=True, seed=0)
        assert r.score is None and r.passed is None and r.status == "n.a."
        assert r.detail["reason"] == NOT_APPLICABLE


def test_card_machinery_with_cka_and_procrustes(tmp_path):
    lines = []
    card = run_report_card(["cka", "procrustes"], ["circle_oval_walk", "deformation", "motifs"], quick=True,
                           seed=0, progress=lines.append)
    assert len(card.results) == 6 and len(lines) == 6
    table = card.table()
    assert table[0] == ["measure", "circle_oval_walk", "deformation", "motifs"]
    assert [row[0] for row in table[1:]] == ["cka", "procrustes"]
    assert table[1][1] == "n.a."
    for m in ("cka", "procrustes"):
        deform = card.cell(m, "deformation")
        d = deform.detail
        # the verdict follows from the numbers it reports
        invariant = max(d["deformations"].values()) < 0.5 * d["ring_line_distance"]
        assert deform.passed == (invariant and d["spearman"] > 0.8)
        assert d["d_interp"][0] == pytest.approx(0.0, abs=1e-6)  # the ring against itself
        motifs = card.cell(m, "motifs")
        shared, dist = np.asarray(motifs.detail["shared"]), np.asarray(motifs.detail["distance"])
        assert np.allclose(dist[shared == 3], 0.0, atol=1e-6)  # identical motif lists, same seed
        assert motifs.score < 0 and motifs.passed
    paths = card.write(tmp_path)
    data = json.loads((tmp_path / "report_card.json").read_text())
    assert {(r["measure"], r["case"]) for r in data["results"]} == {(r.measure, r.case) for r in card.results}
    rows = list(csv.DictReader(open(tmp_path / "report_card.csv")))
    assert len(rows) == 6 and {r["status"] for r in rows} <= {"PASS", "FAIL", "n.a."}
    for case in card.cases:
        png = tmp_path / f"{case}.png"
        assert png in paths and png.stat().st_size > 1000


def test_same_seed_same_card_cell():
    a = run_case("motifs", "cka", quick=True, seed=3)
    b = run_case("motifs", "cka", quick=True, seed=3)
    assert a.detail["distance"] == b.detail["distance"]
    c = run_case("motifs", "cka", quick=True, seed=4)
    assert a.detail["distance"] != c.detail["distance"]


def test_to_distance_conventions():
    S = np.array([[1.0, 0.5], [0.5, 1.0]])
    np.testing.assert_allclose(to_distance(S, "cka"), np.arccos(S))
    np.testing.assert_allclose(to_distance(S, "rsa"), 1.0 - S)
    np.testing.assert_allclose(to_distance(S, "procrustes"), S)


def test_distance_matrix_is_symmetric_with_zero_diagonal_and_does_not_mutate():
    rng = np.random.default_rng(0)
    data = [rng.normal(size=(2, 30, 3)) for _ in range(3)]
    copies = [x.copy() for x in data]
    D = distance_matrix(data, "cka", {})
    assert np.allclose(D, D.T) and np.all(np.diag(D) == 0) and np.all(D >= 0)
    for x, c in zip(data, copies):
        np.testing.assert_array_equal(x, c)


def test_bad_names_raise_value_error():
    with pytest.raises(ValueError, match="case must be one of"):
        run_case("nope", "cka")
    with pytest.raises(ValueError, match="unknown measure"):
        run_case("motifs", "not_a_measure")
    with pytest.raises(ValueError, match="unknown case"):
        run_report_card(["cka"], ["nope"])
    with pytest.raises(ValueError, match="unknown measure"):
        run_report_card(["not_a_measure"], ["motifs"])


def test_every_case_returns_a_case_result_with_a_criterion():
    assert len(CASES) >= 6
    r = run_case("deformation", "cka", quick=True, seed=1)
    assert isinstance(r, CaseResult) and "Spearman" in r.criterion


def test_bench_command_writes_the_table(tmp_path, capsys):
    rc = main(["bench", "--measures", "cka", "--cases", "motifs,circle_oval_walk", "--quick", "--seed", "1",
               "--out", str(tmp_path), "--no-figures"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "motifs" in out and "n.a." in out and "PASS" in out
    assert (tmp_path / "report_card.json").exists() and (tmp_path / "report_card.csv").exists()
