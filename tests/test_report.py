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
