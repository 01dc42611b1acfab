"""The multi-seed report card: binomial intervals, held-out tuning, sensitivity, resume (issue 24)."""

import json
import re

import numpy as np
import pytest
from scipy.stats import binomtest

from repalign.report_card import CaseResult, binomial_interval, parse_seeds, run_case, run_multiseed_card
from repalign.report_card import tuning as tuning_mod
from repalign.report_card.cases import CASES
from repalign.report_card.rates import quantiles, summarise, verdict
from repalign.report_card.tuning import choose
from repalign.cli import main

TINY_GRID = {"rank": (2, 3), "n_delays": (1, 2)}


# ---------------------------------------------------------------------------- intervals and summaries
@pytest.mark.parametrize("method", ["wilson", "exact"])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_binomial_interval_matches_scipy(method, confidence):
    for n in (1, 2, 7, 20):
        for k in range(n + 1):
            ci = binomtest(k, n).proportion_ci(confidence_level=confidence, method=method)
            lo, hi = binomial_interval(k, n, confidence, method)
            assert lo == pytest.approx(ci.low, abs=1e-10) and hi == pytest.approx(ci.high, abs=1e-10), (k, n)


def test_the_issue_example_is_the_wilson_interval():
    lo, hi = binomial_interval(17, 20)
    assert (round(lo, 2), round(hi, 2)) == (0.64, 0.95)


def test_bad_interval_arguments_raise():
    with pytest.raises(ValueError, match="method"):
        binomial_interval(1, 2, method="bayes")
    with pytest.raises(ValueError, match="confidence"):
        binomial_interval(1, 2, confidence=1.0)
    with pytest.raises(ValueError, match="k <= n"):
        binomial_interval(3, 2)


def test_verdict_and_summary():
    assert verdict(binomial_interval(17, 20), 20) == "PASS"
    assert verdict(binomial_interval(2, 20), 20) == "FAIL"
    assert verdict(binomial_interval(11, 20), 20) == "MIXED"
    s = summarise(["PASS", "FAIL", "PASS", "n.a.", "ERROR", "PASS"], [1.0, 4.0, 2.0, None, None, 3.0])
    assert (s["n_pass"], s["n_seeds"], s["n_not_applicable"], s["n_error"]) == (3, 4, 1, 1)
    assert s["pass_rate"] == 0.75 and s["interval"] == list(binomial_interval(3, 4))
    assert s["score_median"] == np.median([1, 4, 2, 3]) and s["score_iqr"] == list(np.percentile([1, 4, 2, 3], [25, 75]))


def test_quantiles_with_censored_scores():
    x = [0.3, 1.0, 2.5, 4.0, 7.0]
    assert quantiles(x) == pytest.approx(list(np.percentile(x, [25, 50, 75])))
    # None = never lost up to the largest level: above every finite score
    assert quantiles([1.0, None, None, None, 2.0]) == [2.0, None, None]


def test_parse_seeds():
    assert parse_seeds("0-3,7, 9-10") == [0, 1, 2, 3, 7, 9, 10]
    assert parse_seeds([5, 1]) == [1, 5]
    for bad in ("", "3-1", "a-b", "1,1", [-1]):
        with pytest.raises(ValueError, match="seeds"):
            parse_seeds(bad)


def test_choose_rule():
    grid = {"rank": (2, 3, 4), "n_delays": (1, 2)}
    # (rank, n_delays) -> (passes, judged); (4, 1) rejected by the measure (n = 0)
    counts = {(2, 1): (5, 5), (2, 2): (3, 5), (3, 1): (5, 5), (3, 2): (5, 5), (4, 2): (5, 5), (4, 1): (0, 0)}
    # tied at 5/5: (2,1) neighbours 3/5, 5/5 -> 0.8; (3,1) 5/5, 5/5 -> 1.0 (plus rejected (4,1) ignored);
    # (3,2): 3/5, 5/5, 5/5 -> 0.87; (4,2): 5/5 -> 1.0; tie (3,1) vs (4,2) -> the smaller rank
    assert choose(grid, counts) == {"rank": 3, "n_delays": 1}
    assert choose(grid, {(4, 1): (0, 0)}) is None
    assert choose(grid, {(4, 1): (0, 0), (4, 2): (0, 5)}) == {"rank": 4, "n_delays": 2}


# ---------------------------------------------------------------------------- held-out tuning on a recording case
@pytest.fixture
def recording_case(monkeypatch):
    """A case that records every call; it passes with rank 2 on seeds >= 1000 but with rank 3 below
    (so tuning on the evaluation seeds would pick another rank), except on every 4th seed."""
    calls = []

    def case(measure, params, quick, seed):
        calls.append((seed, dict(params or {})))
        good = 2 if seed >= 1000 else 3
        ok = params.get("rank") == good and seed % 4 != 1
        return CaseResult("_rec", measure, float(seed), ok, "records its calls", {"params": params})

    monkeypatch.setitem(CASES, "_rec", case)
    monkeypatch.setitem(tuning_mod.TUNING_GRIDS, "dsa", {"*": TINY_GRID})
    return calls


def test_tuning_never_touches_an_evaluation_seed(recording_case, tmp_path):
    calls = recording_case
    seeds, tune = list(range(8)), [1000, 1001, 1002]
    card = run_multiseed_card(["dsa"], ["_rec"], seeds=seeds, tuning_seeds=tune, sensitivity_seeds=(), quick=True)
    first_eval = next(i for i, (s, _) in enumerate(calls) if s < 1000)
    assert {s for s, _ in calls[:first_eval]} == set(tune)  # tuning: only tuning seeds, before any evaluation
    assert all(s in seeds for s, _ in calls[first_eval:])
    assert len(calls) == 4 * len(tune) + len(seeds)  # every grid point x tuning seed, then the evaluation
    d = card.to_dict()
    assert d["tuning_seeds"] == tune and d["evaluation_seeds"] == seeds
    assert not set(d["tuning_seeds"]) & set(d["evaluation_seeds"])
    assert d["chosen"]["dsa"]["_rec"]["params"]["rank"] == 2 and "held-out" in d["chosen"]["dsa"]["_rec"]["rule"]
    assert all(p["rank"] == 2 for s, p in calls[first_eval:])
    # rank 2 fails every evaluation seed: the held-out choice is reported as it is
    cell = d["cells"][0]
    assert (cell["n_pass"], cell["n_seeds"], cell["verdict"]) == (0, 8, "FAIL")
    assert cell["interval"] == list(binomial_interval(0, 8))
    # tuning seeds 1000-1002: rank 2 passes but on 1001 (1001 % 4 == 1), rank 3 never
    assert d["tuning"]["dsa"]["_rec"]["k"] == [[2, 2], [0, 0]] and d["tuning"]["dsa"]["_rec"]["n"] == [[3, 3], [3, 3]]
    with pytest.raises(ValueError, match="disjoint"):
        run_multiseed_card(["dsa"], ["_rec"], seeds=seeds, tuning_seeds=[7, 1000])


def test_sensitivity_panel_and_no_tuning(recording_case):
    calls = recording_case
    card = run_multiseed_card(["dsa"], ["_rec"], seeds=range(8), tuning_seeds=None, quick=True)
    sens = card.sensitivity["dsa"]["_rec"]
    # rank 3 passes on seeds 0-7 except 1 and 5; rank 2 never
    assert sens["k"] == [[0, 0], [6, 6]] and sens["n"] == [[8, 8], [8, 8]]
    assert card.cells[("dsa", "_rec")]["params_rule"].startswith("defaults")
    assert {s for s, _ in calls} == set(range(8))


def test_resume_reuses_finished_cells(recording_case, tmp_path):
    calls = recording_case
    kw = dict(measures=["dsa"], cases=["_rec"], seeds=range(4), tuning_seeds=[1000], quick=True, out=tmp_path)
    first = run_multiseed_card(**kw)
    n_calls = len(calls)
    assert first.run["tuning"]["computed"] == 4 and first.run["evaluation"]["computed"] == 4
    assert len(list((tmp_path / "cells").rglob("*.json"))) == 4 + 4 + 3 * 4  # sensitivity reuses the chosen point
    again = run_multiseed_card(**kw)
    assert len(calls) == n_calls  # nothing recomputed
    assert again.run["evaluation"] == {**again.run["evaluation"], "computed": 0, "reused": 4}
    assert again.to_dict()["cells"] == first.to_dict()["cells"]
    # a cell whose file is gone, or holds another key, is computed again (and only that one)
    files = sorted((tmp_path / "cells").rglob("*.json"))
    files[0].unlink()
    stored = json.loads(files[1].read_text())
    stored["key"]["seed"] = 99
    files[1].write_text(json.dumps(stored))
    third = run_multiseed_card(**kw)
    assert len(calls) == n_calls + 2
    assert third.to_dict()["cells"] == first.to_dict()["cells"]


# ---------------------------------------------------------------------------- a tiny real run, through the CLI
def test_tiny_multiseed_card_from_the_command_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(tuning_mod.TUNING_GRIDS, "dsa", {"*": TINY_GRID})
    rc = main(["bench", "--seeds", "0-2", "--tuning-seeds", "1000", "--quick", "--measures", "dsa,cka",
               "--cases", "circle_oval_walk", "--jobs", "2", "--out", str(tmp_path)])
    assert rc == 0
    out = capsys.readouterr().out
    assert re.search(r"dsa\s+\d/3 (PASS|FAIL|MIXED) \[0\.\d\d, [01]\.\d\d\]", out), out
    d = json.loads((tmp_path / "report_card.json").read_text())
    cells = {(c["measure"], c["case"]): c for c in d["cells"]}
    dsa, cka = cells[("dsa", "circle_oval_walk")], cells[("cka", "circle_oval_walk")]
    assert cka["n_seeds"] == 0 and cka["n_not_applicable"] == 3 and cka["verdict"] == "n.a."
    chosen = d["chosen"]["dsa"]["circle_oval_walk"]["params"]
    assert d["tuning"]["dsa"]["circle_oval_walk"]["chosen"] == {k: chosen[k] for k in TINY_GRID}
    # each seed's verdict is the single-seed card's verdict with the chosen parameters
    for seed, status, score in zip(dsa["seeds"], dsa["statuses"], dsa["scores"]):
        r = run_case("circle_oval_walk", "dsa", chosen, quick=True, seed=seed)
        assert (r.status, r.score) == (status, pytest.approx(score))
    assert dsa["pass_rate"] == dsa["n_pass"] / 3 and dsa["interval"] == list(binomial_interval(dsa["n_pass"], 3))
    assert dsa["score_median"] == pytest.approx(np.median(dsa["scores"]))
    sens = d["sensitivity"]["dsa"]["circle_oval_walk"]
    assert sens["seeds"] == [0, 1, 2] and sens["n"][1][0] == 0  # rank 3 with 1 delay: rejected (2-D system)
    assert (tmp_path / "sensitivity_circle_oval_walk.png").stat().st_size > 1000
    assert (tmp_path / "report_card.csv").read_text().count("\n") == 3
