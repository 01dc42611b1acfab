"""Every study's report, rebuilt by ``repalign report`` from tiny saved runs, opened in Chromium.

``TINY_RUNS`` holds, for every reader registered in :mod:`repalign.report.studies`, a
seconds-long run of that study writing its outputs into a folder; a study that registers a
reader without adding a tiny run here fails ``test_every_reader_has_a_tiny_run``. The demo's
report is opened in ``tests/test_demo.py`` (it reuses that file's demo run).
"""

from __future__ import annotations

import json
import re

import pytest
from _browser import problems

from repalign.cli import main
from repalign.report.figstyle import paper_style
from repalign.report.studies import READERS


def _tiny_feedback_alignment(out):
    from repalign.studies import feedback_alignment as fa

    # n_blocks=2: the smallest network with deep layers, so seed 004's penalised setting runs too
    res = fa.run_study(fa.Config(epochs=1, null_draws=8, width=16, n_blocks=2, seed=0, penalised=True))
    fa.save(res, out)


def _tiny_groups(out):
    from repalign.studies import groups as gs

    res = gs.run_study(gs.Config(group="S3", steps=40, n_checkpoints=3, hidden=16, embed_dim=8, seed=0))
    gs.save(res, out)


def _tiny_groups_seeds(out):
    """``repalign study groups --seeds 0,1``: same file name as the single-seed run, own section."""
    from repalign.studies import groups as gs
    from repalign.studies import groups_seeds

    cfg = gs.Config(group="S3", steps=20, n_checkpoints=3, hidden=8, embed_dim=6)
    groups_seeds.save(groups_seeds.run_seeds(cfg, [0, 1]), out)


def _tiny_transfer(out):
    import torch

    from repalign.studies.transfer_study import run_study

    torch.set_num_threads(1)
    run_study(out, "quick", workers=1, hidden=6, batch_size=8, steps1=4, steps2=4, seeds=1, null_draws=10,
              probe_draws=4, probe_fresh=3, n_angles=3, n_checkpoints=2, save_every=2, ks=[1, 3],
              rulesets={"fdgo+delaygo": ["fdgo", "delaygo"]})


def _tiny_lorenz(out):
    """The demo's Lorenz setting (noise and ratio tests, two patterns, 20 trajectories)."""
    from repalign.studies import lorenz as lz
    from repalign.studies.lorenz_report import save

    cfg = lz.tiny_config(patterns=(0.5, 40.0), trials=20, n_restarts=0, tests=("noise", "ratio"), n_boot=100)
    save(lz.run_study(cfg), out)


def _tiny_compositional(out):
    """The tiny preset with two seeds (the fewest the group t-tests take) and short nulls."""
    import torch

    from repalign.studies import compositional as C

    torch.set_num_threads(1)
    params = {**C.default_params("tiny"), "seeds": [0, 1], "n_perm": 100, "n_boot": 100, "grid": [1.0],
              "n_checkpoints": 2}
    C.run_study(params, out, backend="serial", progress=False, log=lambda s: None)


def _tiny_compositional_mamba(out):
    """``--model mamba`` at the settings of tests/test_mamba_study.py (two seeds, DSA and CKA)."""
    import torch

    from repalign.studies import compositional as C

    torch.set_num_threads(1)
    p = C.default_params("tiny", model="mamba")
    p.update(seeds=[0, 1], grid=[1.0], n_checkpoints=2, n_perm=50, n_boot=50, paper_pipeline=False,
             measures=["dsa", "cka"], sensitivity={"pcs": [None], "ranks": [4]})
    C.run_study(p, out, backend="serial", progress=False, log=lambda s: None)


def _tiny_tutorial(out):
    """The settings of tests/test_tutorial_study.py's end-to-end run (both parts, one rank, one epoch)."""
    import torch

    from repalign.studies import tutorial as tu
    from repalign.studies.tutorial_report import save

    torch.set_num_threads(1)
    cfg = tu.tiny_config(T=200, ranks=(2,), forecast_delays=(1,), per_class=3, null_draws=3)
    save(tu.run_study(cfg, progress=lambda m: None, ckpt=str(out / "ck")), out)


TINY_RUNS = {"feedback_alignment": _tiny_feedback_alignment, "groups": _tiny_groups,
             "groups_seeds": _tiny_groups_seeds, "transfer": _tiny_transfer, "lorenz": _tiny_lorenz,
             "compositional": _tiny_compositional, "compositional_mamba": _tiny_compositional_mamba,
             "tutorial": _tiny_tutorial}


TUTORIAL = "DSA tutorial (seed 003): Circle, Oval, Walk and representational paths"


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    """One folder holding a tiny saved run of every study (figures also as SVG and PDF)."""
    root = tmp_path_factory.mktemp("studies")
    with paper_style("png,svg,pdf"):
        for name, run in TINY_RUNS.items():
            run(root / name)
    return root


def test_every_reader_has_a_tiny_run():
    assert {r.name for r in READERS} <= set(TINY_RUNS), "add a tiny run of the new study to TINY_RUNS"


@pytest.mark.parametrize("name", sorted(TINY_RUNS))
def test_study_report_in_browser(study_dir, name, report_browser, capsys):
    out = study_dir / f"report_{name}.html"
    assert main(["report", str(study_dir / name), "--out", str(out)]) == 0
    assert "1 sections" in capsys.readouterr().out
    result = report_browser.check(out, f"study_{name}")
    assert problems(result) == []
    doc = json.loads(out.with_suffix(".json").read_text())
    assert result["n_sections"] == len(doc["sections"]) == 1
    assert result["n_images"] == len(doc["figures"]) >= 1
    for label in ("phone", "desktop"):
        assert result["screenshots"][label].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_one_report_from_every_study(study_dir):
    """The studies' outputs side by side become one report, one section each, with findings,
    the figures' SVG/PDF twins listed and the data behind every figure."""
    assert main(["report", str(study_dir)]) == 0
    html = (study_dir / "report.html").read_text()
    doc = json.loads((study_dir / "report.json").read_text())
    assert len(doc["sections"]) == len(TINY_RUNS)
    assert all(f and len(f) > 40 for f in doc["findings"].values())
    assert len(re.findall(r'<section id="sec-\d+"><h2>[^<]+</h2><p class="finding">', html)) == len(TINY_RUNS)
    assert set(doc["data"]) >= {"feedback_alignment", "groups_S3", "groups_S3_seeds", "transfer", "lorenz",
                                "compositional_leaky_rnn", "compositional_mamba", "tutorial"}
    assert doc["summary"]["seeds"] == ("feedback_alignment 0, groups 0, groups 0 1, compositional 0 1, "
                                       "compositional 0 1, lorenz 0, transfer 0, tutorial 0")
    assert "torch" in doc["summary"]["versions"]
    for fig in doc["figures"]:
        assert fig["data"], fig["caption"]
        assert sorted(f.rsplit(".", 1)[1] for f in fig["files"]) == ["pdf", "png", "svg"], fig["files"]
    # one groups reader, two shapes: the multi-seed file gets its own section
    assert doc["sections"] == ["Feedback alignment", "Group operation: S3", "Group operation: S3, 2 seeds",
                               "Compositional learning (leaky_rnn)", "Compositional learning (mamba)",
                               "Lorenz attractor test cases (Guilhot et al. 2024)", "Transfer geometry", TUTORIAL]
    multi = json.loads((study_dir / "groups_seeds" / "groups_S3.json").read_text())
    assert doc["data"]["groups_S3_seeds"] == multi and multi["seeds"] == [0, 1]
    n_gen = sum(r["generalisation_step"] is not None for r in multi["per_seed"])
    assert f"2 seeds: {n_gen} of 2 generalised" in doc["findings"]["Group operation: S3, 2 seeds"]
    # the penalised setting's deep-layer mean and its verdict are in the feedback finding
    fa_json = json.loads((study_dir / "feedback_alignment" / "feedback_alignment.json").read_text())
    deep = fa_json["deep_layer_mean"]
    assert deep == {k: fa_json["penalised"]["networks"]["dfa_penalised"]["deep_layer_mean"][k] for k in deep}
    fa_finding = doc["findings"]["Feedback alignment"]
    assert f"deep-layer mean cosine {deep['observed']:.3f}" in fa_finding and f": {deep['verdict']};" in fa_finding
    assert deep["seed_rule"] in fa_finding
    # transfer: every recorded figure but the per-network sanity plots is embedded, with its data
    tr = json.loads((study_dir / "transfer" / "transfer.json").read_text())
    embedded = [f for f in doc["figures"] if f["section"] == "Transfer geometry"]
    assert len(embedded) == sum(not k.startswith("sanity/") for k in tr["figures"])
    assert doc["data"]["transfer"] == tr
    # lorenz: the study's own verdict leads its finding, then the first effect with its interval
    lz = json.loads((study_dir / "lorenz" / "lorenz.json").read_text())
    lz_finding = doc["findings"]["Lorenz attractor test cases (Guilhot et al. 2024)"]
    assert lz_finding.startswith(lz["verdict"]["headline"])
    effect, row = next(iter(lz["noise_effects"].items()))
    assert all(f"dsa - {m} " in lz_finding and d["winner"] in lz_finding for m, d in row["vs_dsa"].items())
    # compositional: the detected expected orderings per measure, as counted in its JSON
    co = json.loads((study_dir / "compositional" / "compositional.json").read_text())
    co_finding = doc["findings"]["Compositional learning (leaky_rnn)"]
    assert all(f"{m} {sum(r['detected'] for r in eo['pairs'])} of {len(eo['pairs'])}" in co_finding
               for m, eo in co["expected_ordering"].items())
    # --model mamba: the separation verdict of every measure is in the finding
    mb = json.loads((study_dir / "compositional_mamba" / "compositional.json").read_text())
    mb_finding = doc["findings"]["Compositional learning (mamba)"]
    for m, s in mb["mamba"]["separation"].items():
        assert f"{m} " in mb_finding and (f"(p {s['p']:.2g}): {'separated' if s['separated'] else 'not separated'}"
                                          in mb_finding)
    assert any(f["files"][0].endswith("compositional_mamba.png") for f in doc["figures"])
    # tutorial: the study's own finding sentences, its JSON, and the tutorial's printed 0.0013 beside repalign's
    tu = json.loads((study_dir / "tutorial" / "study_tutorial.json").read_text())
    assert doc["findings"][TUTORIAL] == " ".join(tu["findings"]) and doc["data"]["tutorial"] == tu
    printed = next(t for t in doc["tables"] if t["section"] == TUTORIAL and t["caption"].startswith("What the tutorial"))
    assert [r[3] for r in printed["rows"][1:]] == [tu["dynamics"]["printed"]["repalign_seed0"]["2"][i][j]
                                                   for i, j in ((0, 1), (0, 2), (1, 2))]
    assert printed["rows"][0][2] == 0.0012
    assert {f["caption"].split(" ")[0] for f in doc["figures"] if f["section"] == TUTORIAL} == {
        "DSA", "test", "representational", "paths"}
    # the study's own JSON numbers are what the report shows
    fa = json.loads((study_dir / "feedback_alignment" / "feedback_alignment.json").read_text())
    assert doc["data"]["feedback_alignment"] == fa
    table = next(t for t in doc["tables"] if t["section"] == "Feedback alignment")
    assert [r[2] for r in table["rows"]] == [r["observed"] for m in fa["networks"].values() for r in m["layers"]]


def test_report_command_errors(tmp_path, study_dir, capsys):
    """User mistakes end in one line on stderr and exit status 2 (see repalign.cli.main)."""
    for argv, message in ((["report", str(tmp_path)], "no study output"),
                          (["report", str(tmp_path / "missing")], "not a directory"),
                          (["report", str(study_dir / "groups"), "--out", str(tmp_path / "r.txt")],
                           "--out must be an .html")):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1


def test_report_command_replaces_its_own_report(tmp_path, study_dir):
    """--out names a file: rebuilding into an existing report of repalign's is allowed."""
    out = tmp_path / "r.html"
    assert main(["report", str(study_dir / "groups"), "--out", str(out)]) == 0
    assert main(["report", str(study_dir / "groups"), "--out", str(out)]) == 0


def test_two_runs_of_a_study_are_kept_apart(study_dir, tmp_path):
    """A second run of the same study elsewhere in the folder gets its own section and data key."""
    import shutil

    root = tmp_path / "all"
    shutil.copytree(study_dir / "groups", root / "a")
    shutil.copytree(study_dir / "groups", root / "b")
    assert main(["report", str(root)]) == 0
    doc = json.loads((root / "report.json").read_text())
    assert doc["sections"] == ["Group operation: S3"] * 2
    assert set(doc["data"]) == {"groups_S3", "groups_S3_2"} and doc["data"]["groups_S3"] == doc["data"]["groups_S3_2"]


def test_transfer_finding_counts_survivors():
    """The transfer finding counts the calibrated comparisons that survive and quotes the first
    calibrated one; with one seed per rule set it says that nothing is calibrated."""
    from repalign.report.readers_transfer import transfer_finding

    nets = [{"ruleset": rs, "seed": s, "accuracy": {"stage2": {"delayanti": a}}}
            for rs, s, a in (("A", 0, 0.5), ("A", 1, 0.7), ("B", 0, 0.9), ("B", 1, 0.95))]
    rows = [{"claim": "claim one", "estimate": 0.2, "interval": [0.1, 0.3], "n": 2, "verdict": "survives"},
            {"claim": "claim two", "estimate": 0.0, "interval": [-0.1, 0.1], "n": 2, "verdict": "does not survive"},
            {"claim": "claim three", "estimate": 0.5, "interval": [0.45, 0.55], "n": 2, "verdict": "survives"}]
    res = {"params": {"model": "mpn", "hidden": 8, "new_task": "delayanti"}, "networks": nets, "findings": rows}
    text = transfer_finding(res)
    assert "2 seed(s) per rule set: 2 of 3 headline comparisons survive" in text
    assert "claim one: 0.20 [0.10, 0.30], survives" in text and "A 0.50 to 0.70; B 0.90 to 0.95" in text
    one = {**res, "networks": nets[::2],
           "findings": [{**r, "interval": None, "verdict": "not calibrated (fewer than 2 seeds per group)"}
                        for r in rows]}
    text = transfer_finding(one)
    assert "none of the 3 headline comparisons is calibrated" in text and "claim one: 0.200, not calibrated" in text
