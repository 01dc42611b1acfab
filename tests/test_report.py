"""Tests of repalign.report: a self-contained, escaped HTML report and its JSON twin."""

import base64
import json
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from repalign.report import Report, to_jsonable
from repalign.stats import resampled_null

PNG = b"\x89PNG\r\n\x1a\n"


def small_figure():
    fig = Figure(figsize=(2, 1.5))
    ax = fig.add_subplot(1, 1, 1)
    ax.plot([0, 1, 2], [0, 1, 4])
    return fig


@pytest.fixture
def built(tmp_path):
    rep = Report("Transfer <study> & co")
    rep.params({"seeds": 3, "tasks": ["fdgo", "delaygo"], "lr": 1e-3})
    rep.text("Intro with **bold**, `code` and\n\n- item one\n- item two")
    rep.section("Variance explained")
    rep.text("Malicious <script>alert('x')</script> text and a link https://example.com/x.png")
    rep.table({"fraction": 0.931234567, "p": 0.002, "verdict": "signal"}, caption="Null <test>")
    rep.figure(small_figure(), caption="Curves")
    png_path = tmp_path / "ext.png"
    small_figure().savefig(png_path, format="png")
    rep.section("Angles & rules")
    rep.figure(png_path, caption="From file")
    rep.table(pd.DataFrame({"seed": [0, 1], "angle": [0.1, np.nan]}), caption="per seed")
    rep.table([{"a": 1, "b": 2.5}, {"a": 3, "c": "x"}])
    rep.table([[1, 2], [3, 4]], header=["u", "v"])
    res = resampled_null(lambda rng: rng.normal(), n=20, seed=0, observed=3.0)
    rep.json("numbers", {"curve": np.array([0.25, 0.5, 1.0]), "k": np.int64(3), "bad": float("nan"),
                         "null": res, "nested": {"x": [1, 2]}})
    out = rep.save(tmp_path / "out")
    return rep, out, res


def test_files_and_sections(built):
    rep, out, _ = built
    assert out.name == "report.html" and out.is_file()
    assert (out.parent / "report.json").is_file()
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    for title in ("Variance explained", "Angles &amp; rules"):
        assert f"<h2>{title}</h2>" in text
    assert 'href="#sec-1"' in text and 'id="sec-2"' in text
    assert "<strong>bold</strong>" in text and "<code>code</code>" in text and "<li>item two</li>" in text
    # versions and timestamp
    for name in ("numpy", "scipy", "scikit-learn", "repalign", "python"):
        assert name in rep.versions and f">{name}<" in text
    assert rep.created in text


def test_figures_are_embedded_png(built):
    _, out, _ = built
    text = out.read_text(encoding="utf-8")
    payloads = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(payloads) == 2
    for p in payloads:
        assert base64.b64decode(p, validate=True).startswith(PNG)


def test_self_contained_no_external_references(built):
    _, out, _ = built
    text = out.read_text(encoding="utf-8")
    refs = re.findall(r'(?:src|href)\s*=\s*["\']?([^"\'\s>]+)', text, flags=re.I)
    assert refs, "expected the figure sources and table-of-contents anchors"
    for r in refs:
        assert r.startswith(("data:image/png;base64,", "#")), r
    assert "<link" not in text.lower() and "<script" not in text.lower() and "@import" not in text
    assert "url(" not in text


def test_user_text_is_escaped(built):
    _, out, _ = built
    text = out.read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in text
    assert "Transfer &lt;study&gt; &amp; co" in text
    assert "Null &lt;test&gt;" in text
    assert "<test>" not in text and "<study>" not in text


def test_json_round_trips_numbers(built):
    rep, out, res = built
    doc = json.loads((out.parent / "report.json").read_text())
    assert doc == json.loads(json.dumps(rep.to_dict()))
    assert doc["title"] == "Transfer <study> & co"
    assert doc["sections"] == ["Variance explained", "Angles & rules"]
    assert doc["params"] == {"seeds": 3, "tasks": ["fdgo", "delaygo"], "lr": 1e-3}
    data = doc["data"]["numbers"]
    assert data["curve"] == [0.25, 0.5, 1.0] and data["k"] == 3 and data["bad"] is None
    assert data["null"]["p_value"] == res.p_value and data["null"]["null"] == res.null.tolist()
    assert data["nested"] == {"x": [1, 2]}
    t0, t1, t2, t3 = doc["tables"]
    assert t0["section"] == "Variance explained" and t0["caption"] == "Null <test>"
    assert t0["rows"] == [["fraction", 0.931234567], ["p", 0.002], ["verdict", "signal"]]
    assert t1["columns"] == ["seed", "angle"] and t1["rows"] == [[0, 0.1], [1, None]]
    assert t2["columns"] == ["a", "b", "c"] and t2["rows"] == [[1, 2.5, None], [3, None, "x"]]
    assert t3["columns"] == ["u", "v"] and t3["rows"] == [[1, 2], [3, 4]]
    for key in ("numpy", "python", "platform"):
        assert key in doc["versions"]


def test_save_to_html_file_name(tmp_path):
    rep = Report("x")
    rep.section("only")
    path = rep.save(tmp_path / "deep" / "my.html")
    assert path == tmp_path / "deep" / "my.html" and path.is_file()
    assert json.loads((tmp_path / "deep" / "my.json").read_text())["sections"] == ["only"]


def test_torch_version_only_when_imported(monkeypatch):
    import sys
    import types

    fake = types.ModuleType("torch")
    fake.__version__ = "9.9.9"
    monkeypatch.setitem(sys.modules, "torch", fake)
    assert Report("t").versions["torch"] == "9.9.9"
    monkeypatch.delitem(sys.modules, "torch")
    assert "torch" not in Report("t").versions


@dataclass
class Point:
    x: float
    y: np.ndarray


def test_to_jsonable_conversions():
    obj = {1: np.float32(0.5), "b": np.bool_(True), "p": Point(np.inf, np.arange(3)), "t": (1, "s")}
    assert to_jsonable(obj) == {"1": 0.5, "b": True, "p": {"x": None, "y": [0, 1, 2]}, "t": [1, "s"]}
    with pytest.raises(ValueError, match=r"obj\['s'\].*set"):
        to_jsonable({"s": {1, 2}})


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda r: r.section(""), "title"),
        (lambda r: r.section(3), "title"),
        (lambda r: r.figure(b"GIF89a"), "not a PNG"),
        (lambda r: r.figure("/nonexistent/x.png"), "no PNG file"),
        (lambda r: r.figure(42), "fig must"),
        (lambda r: r.table(5), "rows must"),
        (lambda r: r.table({"a": [1, 2], "b": [1]}), "equal lengths"),
        (lambda r: r.params([1]), "params must"),
        (lambda r: (r.json("n", 1), r.json("n", 2)), "already used"),
        (lambda r: r.json("n", object()), "no JSON form"),
    ],
)
def test_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call(Report("t"))


def test_caller_objects_not_mutated(tmp_path):
    arr = np.array([1.0, np.nan])
    params = {"a": [1, 2]}
    rows = [{"a": 1}]
    rep = Report("t")
    rep.params(params)
    rep.json("arr", arr)
    rep.table(rows)
    rep.save(tmp_path)
    assert np.isnan(arr[1]) and params == {"a": [1, 2]} and rows == [{"a": 1}]


# ---------------------------------------------------------------------------- headline first
def test_section_puts_finding_first_and_folds_params_and_json(tmp_path):
    rep = Report("r")
    rep.summary({"seeds": [0, 1], "wall time": "3 s"})
    rep.section("Alpha", finding="Alpha works: 0.93 [0.90, 0.95], p = 0.002 (signal).",
                params={"k": 10, "tasks": ["a", "b"]}, data={"x": np.arange(3)})
    rep.json("more", {"y": 1})
    rep.text("body text")
    rep.table([{"a": 1.23456}])
    rep.section("Beta")  # older callers: no finding
    rep.text("b")
    html = rep.save(tmp_path).read_text()
    sec1 = html.split('<section id="sec-1">', 1)[1].split("</section>", 1)[0]
    # heading, then the finding, then the body, then the folded parameters and JSON (in that order)
    assert sec1.startswith('<h2>Alpha</h2><p class="finding">Alpha works: 0.93 [0.90, 0.95]')
    i_body, i_params = sec1.index("body text"), sec1.index('<details class="params">')
    i_json, i_more = sec1.index('<summary>alpha (raw JSON'), sec1.index('<summary>more (raw JSON')
    assert i_body < sec1.index("<table>") < i_params < i_json < i_more
    assert sec1.rstrip().endswith("</details>")
    assert "<details open" not in html
    # the contents panel links each section with its finding; Beta's absence of one is shown
    nav = html.split('<nav class="contents"', 1)[1].split("</nav>", 1)[0]
    assert '<a href="#sec-1">Alpha</a><p class="finding">Alpha works' in nav
    assert '<a href="#summary">' in nav and 'id="summary"' in html
    assert '<p class="finding none">' in html.split('<section id="sec-2">', 1)[1]
    assert rep.missing_findings() == ["Beta"]
    doc = json.loads((tmp_path / "report.json").read_text())
    assert doc["findings"] == {"Alpha": "Alpha works: 0.93 [0.90, 0.95], p = 0.002 (signal).", "Beta": None}
    assert doc["section_params"] == {"Alpha": {"k": 10, "tasks": ["a", "b"]}}
    assert doc["data"]["alpha"] == {"x": [0, 1, 2]} and doc["summary"]["seeds"] == [0, 1]


def test_finding_can_be_set_later_and_is_checked():
    rep = Report("r")
    with pytest.raises(ValueError, match="no section yet"):
        rep.finding("x")
    rep.section("A")
    rep.finding("A holds.")
    assert rep.to_dict()["findings"] == {"A": "A holds."}
    with pytest.raises(ValueError, match="finding"):
        rep.section("B", finding="  ")
    with pytest.raises(ValueError, match="params must"):
        rep.section("C", finding="c", params=[1])


def test_tables_scroll_in_their_own_box():
    rep = Report("r")
    rep.section("s", finding="f")
    rep.table([{f"column {i}": i * 1.5 for i in range(30)}])
    assert '<div class="tablewrap"><table>' in rep.to_html()
    assert ".tablewrap{max-width:100%;overflow-x:auto" in rep.to_html()


def test_figure_data_and_files_go_to_json(tmp_path):
    from repalign.report.figstyle import paper_style, save_figure

    with paper_style("png,svg"):
        png = save_figure(small_figure(), tmp_path / "f.png")
    rep = Report("r")
    rep.section("s", finding="f")
    rep.figure(png, caption="curve", data={"x": [0, 1, 2], "y": np.array([0.0, 1.0, 4.0])})
    fig = rep.to_dict()["figures"][0]
    assert fig["id"] == "fig-1" and fig["section"] == "s" and fig["caption"] == "curve"
    assert fig["data"] == {"x": [0, 1, 2], "y": [0.0, 1.0, 4.0]}
    assert fig["files"] == [str(tmp_path / "f.png"), str(tmp_path / "f.svg")]
    assert 'id="fig-1"' in rep.to_html()


# ---------------------------------------------------------------------------- numbers
@pytest.mark.parametrize("width, decimals", [(0.0439, 3), (0.43, 2), (4.3, 1), (43.0, 0), (0.1, 2), (1.0, 1)])
def test_decimals_for_two_significant_digits_of_the_width(width, decimals):
    from repalign.report.tables import decimals_for

    assert decimals_for(width) == decimals
    # two significant digits of the width survive the rounding, a third does not
    assert round(width, decimals) == pytest.approx(float(f"{width:.2g}"))


def test_interval_text_and_json():
    from repalign.report.tables import Interval

    iv = Interval(0.26341, 0.24123, 0.28512)
    assert str(iv) == "0.263 [0.241, 0.285]"
    assert str(Interval(12.345, 10.1, 14.9)) == "12.3 [10.1, 14.9]"
    assert str(Interval(0.5)) == "0.500" and str(Interval(-2e-16, decimals=3)) == "0.000"
    assert str(Interval.from_sem(1.0, 0.05)) == "1.00 [0.95, 1.05]"  # width 0.1: 2 digits
    assert str(Interval.from_sem(1.0, None)) == "1.00" and str(Interval(float("nan"))) == "n/a"
    assert to_jsonable({"c": iv}) == {"c": {"mean": 0.26341, "lo": 0.24123, "hi": 0.28512}}
    with pytest.raises(ValueError, match="lo must be a number"):
        Interval(0.1, "a", 0.2)
    rep = Report("r")
    rep.table([{"m": iv}])
    assert "<td>0.263 [0.241, 0.285]</td>" in rep.to_html()
    assert rep.to_dict()["tables"][0]["rows"][0][0]["mean"] == 0.26341  # exact in the JSON


def test_pivot_long_to_wide():
    from repalign.report.tables import pivot

    rows = [{"pair": p, "stage": s, "mean": 10 * i + j} for i, p in enumerate(["a-b", "a-c"])
            for j, s in enumerate([0.0, 0.5, 1.0])]
    wide = pivot(rows, "pair", "stage", "mean", column_label=lambda s: f"stage {s:g}")
    assert wide == [{"pair": "a-b", "stage 0": 0, "stage 0.5": 1, "stage 1": 2},
                    {"pair": "a-c", "stage 0": 10, "stage 0.5": 11, "stage 1": 12}]
    assert pivot(rows[:4], "pair", "stage", "mean")[1] == {"pair": "a-c", "0.0": 10, "0.5": None, "1.0": None}
    with pytest.raises(ValueError, match="two rows"):
        pivot(rows + rows[:1], "pair", "stage", "mean")
    with pytest.raises(ValueError, match="no key"):
        pivot([{"pair": "x"}], "pair", "stage", "mean")


# ---------------------------------------------------------------------------- figures
def test_paper_style_formats_fonts_and_palette(tmp_path):
    import matplotlib as mpl

    from repalign.report.figstyle import OKABE_ITO, current_formats, paper_style, parse_formats, save_figure

    assert parse_formats("svg, PDF") == ("png", "svg", "pdf")
    with pytest.raises(ValueError, match="not one of"):
        parse_formats("png,jpg")
    with pytest.raises(ValueError, match=r"where the PNG goes"):
        save_figure(small_figure(), tmp_path / "x.svg")
    cycle_before = mpl.rcParams["axes.prop_cycle"]
    with paper_style("png,svg,pdf") as fmts:
        assert fmts == current_formats() == ("png", "svg", "pdf")
        fig = Figure(figsize=(2, 1.5))
        ax = fig.add_subplot()
        (line,) = ax.plot([0, 1], [0, 1])
        ax.set(xlabel="time (ms)", ylabel="rate (Hz)")
        assert line.get_color().lower() == OKABE_ITO[0].lower()
        save_figure(fig, tmp_path / "f.png")
    assert current_formats() == ("png",) and mpl.rcParams["axes.prop_cycle"] == cycle_before
    assert (tmp_path / "f.png").read_bytes().startswith(PNG)
    assert (tmp_path / "f.pdf").read_bytes().startswith(b"%PDF")
    svg = (tmp_path / "f.svg").read_text()
    assert "<svg" in svg and "time (ms)" in svg and "DejaVu Sans" in svg  # text kept as text, one font


def test_study_figures_label_their_axes():
    from repalign.report.figstyle import unlabelled_axes
    from repalign.studies import transfer as T

    curve = {"cross": np.linspace(0.1, 0.5, 5), "self": np.linspace(0.5, 1.0, 5)}
    figs = [T.plot_variance_curves(curve), T.plot_angle_spectrum([np.linspace(0.1, 1.4, 5)], labels=["a"]),
            T.plot_seed_scatter([0.1, 0.2], [0.3, 0.4], xlabel="null", ylabel="observed")]
    for fig in figs:
        assert unlabelled_axes(fig) == []
    bare = Figure()
    bare.add_subplot().plot([0, 1])
    assert len(unlabelled_axes(bare)) == 2


def test_study_commands_take_figure_format():
    import argparse

    from repalign.cli import build_parser
    from repalign.commands.study import _styled
    from repalign.report.figstyle import current_formats

    args = build_parser().parse_args(["study", "groups", "--out", "x", "--figure-format", "png,svg,pdf"])
    assert args.figure_format == "png,svg,pdf"
    assert _styled(lambda a: current_formats())(argparse.Namespace(figure_format="pdf")) == ("png", "pdf")
    assert build_parser().parse_args(["demo", "--figure-format", "svg"]).figure_format == "svg"


def test_demo_report_card_finding_counts_passes():
    from repalign.report.demo import _section_report_card

    from repalign.report_card.rates import summarise

    def row(m, c, statuses):
        return {"measure": m, "case": c, **summarise(statuses, [1.0] * len(statuses))}

    card = {"evaluation_seeds": [0, 1, 2, 3], "interval": {"method": "wilson", "confidence": 0.95},
            "cells": [row("dsa", "ring", ["PASS"] * 4), row("cka", "ring", ["FAIL", "PASS", "FAIL", "FAIL"]),
                      row("dsa", "walk", ["PASS"] * 4), row("rsa", "walk", ["ERROR"] * 4),
                      row("procrustes", "walk", ["n.a."] * 4)]}
    rep = Report("r")
    _section_report_card(rep, {"card": card, "table": [["measure"], ["dsa"]]}, {"quick": False})
    assert rep.to_dict()["findings"]["Report card"] == (
        "Over seeds 0, 1, 2, 3: 2 of 4 applicable measure-case cells PASS (the 95% wilson interval of the pass "
        "rate lies above 0.5); not PASS: cka on ring (1/4 MIXED [0.05, 0.70]), rsa on walk (ERROR) "
        "(1 not applicable).")


def test_span_of_values():
    from repalign.report.tables import span

    assert span([0.2101, None, 0.2149]) == "0.21"  # both ends print the same
    assert span([0.5, 0.1, float("nan")], ".1f") == "0.1 to 0.5" and span([None]) == "n/a"
