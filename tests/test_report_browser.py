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

    res = fa.run_study(fa.Config(epochs=1, null_draws=8, width=16, n_blocks=1, seed=0))
    fa.save(res, out)


def _tiny_groups(out):
    from repalign.studies import groups as gs

    res = gs.run_study(gs.Config(group="S3", steps=40, n_checkpoints=3, hidden=16, embed_dim=8, seed=0))
    gs.save(res, out)


TINY_RUNS = {"feedback_alignment": _tiny_feedback_alignment, "groups": _tiny_groups}


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
    assert set(doc["data"]) >= {"feedback_alignment", "groups_S3"}
    assert doc["summary"]["seeds"] == "feedback_alignment 0, groups 0" and "torch" in doc["summary"]["versions"]
    for fig in doc["figures"]:
        assert fig["data"], fig["caption"]
        assert sorted(f.rsplit(".", 1)[1] for f in fig["files"]) == ["pdf", "png", "svg"], fig["files"]
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
