"""The reduced demo end to end (``repalign demo --quick``), run twice."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest

from repalign.cli import main
from repalign.studies.demo import STAGES

N_SECTIONS = len(STAGES) - 1  # one report section per computing stage ("report" itself has none)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    docs = []
    for _ in range(2):
        assert main(["demo", "--quick", "--out", str(out), "--no-progress"]) == 0
        docs.append(json.loads((out / "report.json").read_text()))
    return out, docs


def test_report_html_embeds_figures(runs):
    out, _ = runs
    html = (out / "report.html").read_text()
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    # transfer: 2 rule sets x (2 epochs + angles) + scatter; learning: 2 + 3 MDS; feedback: 1
    assert len(images) >= 12
    for b64 in images:
        assert base64.b64decode(b64)[:8] == b"\x89PNG\r\n\x1a\n"
    assert 'src="http' not in html and "<script" not in html


def test_json_holds_every_analysis(runs):
    _, (doc, _) = runs
    data = doc["data"]
    tr = data["transfer"]
    assert {n["ruleset"] for n in tr["networks"]} == {"go+dlygo", "anti+dlygo"}
    for n in tr["networks"]:
        for epoch in ("stimulus", "response"):
            e = n["epochs"][epoch]
            cross, own = np.array(e["cross"], float), np.array(e["self"], float)
            assert cross.size == own.size == e["n_components"] > 1
            assert np.all(np.diff(cross) >= -1e-12) and np.all(cross <= own + 1e-9)  # Ky Fan bound
            assert 0 < e["null"]["uniform"]["p_value"] <= 1
            # the uniform null's mean is k / units
            assert e["null"]["uniform"]["null_mean"] == pytest.approx(e["n_components"] / tr["params"]["hidden"],
                                                                      abs=0.05)
        assert 0 <= n["rule"]["span_fraction"] <= 1 + 1e-12
    agg = tr["aggregate"]["anti+dlygo"]["stimulus"]["cross"]
    assert len(agg["mean"]) == tr["networks"][0]["epochs"]["stimulus"]["n_components"]
    # the report states the random-basis verdict for every rule set and epoch
    statement = tr["basis_statement"]["text"]
    assert statement.count("random bases") == 4
    lr = data["learning"]
    assert set(lr["measures"]) == {"dsa", "procrustes", "cka"}
    groups = {m["group"] for m in lr["systems"]}
    assert groups == {"frozen", "finetune", "scratch"}
    for name, block in lr["measures"].items():
        D = np.array(block["dissimilarity"], float)
        assert D.shape == (len(lr["systems"]),) * 2 and np.all(np.isfinite(D)), name
        assert {(r["group_a"], r["group_b"]) for r in block["between"]} >= {("frozen", "finetune"),
                                                                             ("frozen", "scratch")}
    # stage 0 of the frozen and fine-tuned networks is the same pretrained network
    names = [m["system"] for m in lr["systems"]]
    i, j = names.index("frozen_s0@0.00"), names.index("finetune_s0@0.00")
    assert lr["measures"]["procrustes"]["dissimilarity"][i][j] == pytest.approx(0, abs=1e-6)
    card = data["report_card"]
    assert {r["measure"] for r in card["cells"]} == {"procrustes", "cka"}
    assert all(c["n_seeds"] == 4 and c["interval"] is not None for c in card["cells"])  # both cases apply
    assert data["feedback_alignment"]["networks"]["dfa"]["layers"]
    assert any(t["section"] == "Report card" for t in doc["tables"])


def test_second_run_reuses_everything(runs):
    _, (first, second) = runs
    s1, s2 = first["data"]["run"]["stages"], second["data"]["run"]["stages"]
    assert s1["transfer"]["trained"] == 4 and s1["transfer"]["analysed"] == 2
    assert s2["transfer"]["trained"] == 0 and s2["transfer"]["loaded"] == 4 and s2["transfer"]["analysis_reused"] == 2
    assert s1["learning"]["trained"] == 2 and s1["learning"]["pairs_computed"] > 0
    assert s2["learning"]["trained"] == 0 and s2["learning"]["pairs_computed"] == 0
    assert s2["learning"]["pairs_cached"] == s1["learning"]["pairs_computed"]
    for stage in ("report card", "transfer", "learning", "feedback alignment", "compositional"):
        assert not s1[stage]["reused"] and s2[stage]["reused"], stage
    assert second["data"]["run"]["seconds"] < first["data"]["run"]["seconds"]
    # reused results are the same numbers
    assert second["data"]["transfer"]["networks"] == first["data"]["transfer"]["networks"]
    assert second["data"]["learning"]["measures"] == first["data"]["learning"]["measures"]


def test_transfer_arguments_are_checked(tmp_path):
    from repalign.studies.transfer_run import run_transfer

    with pytest.raises(ValueError, match="model"):
        run_transfer(model="lstm-ish", out_dir=tmp_path, quick=True)
    with pytest.raises(ValueError, match="two pretraining tasks"):
        run_transfer(rulesets={"one": ["fdgo"]}, out_dir=tmp_path, quick=True)
    with pytest.raises(ValueError, match="unknown parameter"):
        run_transfer(out_dir=tmp_path, quick=True, null_drawz=10)


def test_plastic_networks_get_the_modulation_analysis(tmp_path):
    from repalign.studies.transfer_run import run_transfer

    r = run_transfer(rulesets={"anti+dlygo": ["fdanti", "delaygo"]}, seeds=(0,), model="plastic", out_dir=tmp_path,
                     quick=True, hidden=16, steps1=15, steps2=8, null_draws=50, probe_draws=5, n_components=4,
                     n_checkpoints=2)
    n = r["networks"][0]
    for epoch in ("stimulus", "response"):
        m = n["modulation"][epoch]
        assert 0 <= m["fraction"] <= 1 + 1e-12 and len(m["cross"]) == 4
        assert np.all(np.array(m["cross"]) <= np.array(m["self"]) + 1e-9)
    assert "modulation_stimulus" in r["aggregate"]["anti+dlygo"]
    assert r["counters"] == {"trained": 2, "loaded": 0, "analysed": 1, "analysis_reused": 0}


def test_run_history_lists_both_runs(runs):
    out, (_, second) = runs
    history = second["data"]["run_history"]
    assert len(history) == 2 and history[1]["seconds"] < history[0]["seconds"]
    assert json.loads((out / "run_history.json").read_text()) == history


def test_report_in_browser(runs, report_browser):
    """The quick demo's report as a reader meets it: images decode, links land, no console
    errors, no sideways scrolling on a phone or a desktop, every section headline first."""
    from _browser import problems

    out, (_, doc) = runs
    result = report_browser.check(out / "report.html", "demo")
    assert problems(result) == []
    assert result["n_images"] == len(doc["figures"]) >= 12
    assert result["n_sections"] == len(doc["sections"]) == N_SECTIONS


def test_sections_state_their_findings(runs):
    out, (_, doc) = runs
    html = (out / "report.html").read_text()
    assert all(f and len(f) > 40 for f in doc["findings"].values()), doc["findings"]
    heads = re.findall(r'<section id="sec-\d+"><h2>([^<]+)</h2><p class="finding">', html)
    assert len(heads) == len(doc["sections"])
    # the contents panel links every section and repeats its finding
    nav = html.split('<nav class="contents"', 1)[1].split("</nav>", 1)[0]
    for i in range(1, len(doc["sections"]) + 1):
        assert f'href="#sec-{i}"' in nav
    assert nav.count('<p class="finding">') == len(doc["sections"])
    # raw JSON only folded: every <pre> sits inside a <details>
    assert html.count("<pre>") == len(re.findall(r"<details class=\"json\"><summary>[^<]*</summary><pre>", html))
    # the learning table is pivoted: one row per group pair, stages as columns
    t = next(t for t in doc["tables"] if t["section"] == "Dissimilarity over learning")
    assert t["columns"] == ["pair", "stage 0", "stage 0.5", "stage 1"] and len(t["rows"]) == 3
    assert doc["summary"]["reused"].startswith(f"{N_SECTIONS} of {N_SECTIONS} stages")
    assert all(f["data"] is not None for f in doc["figures"])


def test_report_command_rebuilds_without_recomputing(runs, tmp_path, capsys):
    out, (_, doc) = runs
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    assert main(["report", str(out), "--out", str(tmp_path / "again.html")]) == 0
    assert f"{N_SECTIONS} sections" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == before  # nothing rewritten
    again = json.loads((tmp_path / "again.json").read_text())
    for key in ("sections", "findings", "tables", "data", "params", "summary"):
        assert again[key] == doc[key], key
