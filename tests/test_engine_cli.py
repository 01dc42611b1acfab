"""`repalign sweep / compare / results` and the figures of a results table."""

from __future__ import annotations

import io
import json

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import repalign  # noqa: E402
from repalign.cli import main  # noqa: E402
from repalign.engine import load, sweep  # noqa: E402
from repalign.engine.figures import (  # noqa: E402
    cluster_order,
    distance_matrix,
    heatmap,
    mds_embedding,
    path_coordinates,
    plot_embedding,
    to_distance,
)


@pytest.fixture
def data_dir(tmp_path):
    rng = np.random.default_rng(5)
    for i in range(4):
        np.save(tmp_path / f"sys{i}.npy", rng.standard_normal((25, 3)))
    return tmp_path


def test_cli_sweep_results_compare(data_dir, capsys):
    cfg = data_dir / "cfg.yaml"
    cfg.write_text("store: r.db\nsystems: 'sys*.npy'\nmeasures:\n  - name: cka\n    params: {kernel: rbf}\nbackend: serial\n")
    assert main(["sweep", str(cfg), "--no-progress", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["total"], summary["computed"], summary["failed"]) == (6, 6, 0)

    assert main(["results", str(data_dir / "r.db"), "--measure", "cka", "--format", "csv"]) == 0
    import pandas as pd

    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    row = table[(table.system_a == "sys0") & (table.system_b == "sys2")]
    X, Y = np.load(data_dir / "sys0.npy"), np.load(data_dir / "sys2.npy")
    expected = repalign.compare(X, Y, "cka", kernel="rbf")
    assert row.score.iloc[0] == pytest.approx(expected, rel=1e-12)

    assert main(["results", str(data_dir / "r.db"), "-m", "cka", "--matrix", "-f", "csv", "-o",
                 str(data_dir / "m.csv")]) == 0
    M = pd.read_csv(data_dir / "m.csv", index_col=0)
    assert M.shape == (4, 4) and M.loc["sys2", "sys0"] == pytest.approx(expected, rel=1e-12)

    assert main(["compare", str(data_dir / "sys0.npy"), str(data_dir / "sys2.npy"), "--measure", "cka",
                 "--param", "kernel=rbf", "--param", "sigma=none", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["score"] == pytest.approx(expected, rel=1e-12) and out["params"]["kernel"] == "rbf"
    assert main(["compare", str(data_dir / "sys0.npy"), str(data_dir / "sys2.npy"), "-p", "threshold=0.3",
                 "-p", "kernel=rbf"]) == 0
    expected_03 = repalign.compare(X, Y, "cka", kernel="rbf", threshold=0.3)
    assert f"{expected_03:.10g}" in capsys.readouterr().out


def test_cli_errors_are_clear(data_dir, capsys):
    cfg = data_dir / "bad.yaml"
    cfg.write_text("systems: 'sys*.npy'\nmeasures:\n  - name: cka\n    params: {kernal: rbf}\n")
    assert main(["sweep", str(cfg)]) == 2
    assert "config field 'measures[0].params'" in capsys.readouterr().err
    (data_dir / "broken.npy").write_bytes(b"\x93NUMPY garbage")
    assert main(["compare", str(data_dir / "sys0.npy"), str(data_dir / "broken.npy")]) == 2
    assert "could not read" in capsys.readouterr().err
    assert main(["compare", str(data_dir / "sys0.npy"), str(data_dir / "nope.npy")]) == 2
    assert "file not found" in capsys.readouterr().err
    assert main(["results", str(cfg)]) == 2
    assert "not a repalign results database" in capsys.readouterr().err
    assert main(["results", str(data_dir / "x.db"), "--format", "parquet"]) == 2
    assert "no results database" in capsys.readouterr().err


# --------------------------------------------------------------------------- figures
def test_to_distance_conversions():
    S = np.array([[1.0, 0.5, np.nan], [0.5, 1.0, 0.0], [np.nan, 0.0, 1.0]])
    with pytest.raises(ValueError, match="missing off-diagonal"):
        to_distance(S, "rsa")
    S[0, 2] = S[2, 0] = 0.875
    # the measure's own conversion (Measure.to_distance): RSA's range ends at 1, so d = 1 - s
    expected = 1.0 - S
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(to_distance(S, "rsa"), expected, atol=1e-15)
    off = ~np.eye(3, dtype=bool)
    np.testing.assert_allclose(to_distance(S, "rsa")[off], repalign.get_measure("rsa").to_distance(S)[off])
    # a distance is used as it is (symmetrised, zero diagonal); a negative one is refused
    D = np.array([[0.0, 0.3], [0.5, 0.0]])
    np.testing.assert_allclose(to_distance(D, "procrustes"), [[0.0, 0.4], [0.4, 0.0]], atol=1e-15)
    with pytest.raises(ValueError, match="non-negative"):
        to_distance(-np.ones((2, 2)), "procrustes")


def test_mds_recovers_planar_geometry_and_is_seeded():
    import pandas as pd
    rng = np.random.default_rng(0)
    P = rng.standard_normal((8, 2))
    D = np.linalg.norm(P[:, None] - P[None], axis=-1)
    names = [f"ckpt{i}" for i in range(8)]
    Df = pd.DataFrame(D, index=names, columns=names)
    E1, E2 = mds_embedding(Df, seed=3), mds_embedding(Df, seed=3)
    pd.testing.assert_frame_equal(E1, E2)
    E = E1.to_numpy()
    De = np.linalg.norm(E[:, None] - E[None], axis=-1)
    np.testing.assert_allclose(De, D, atol=0.05 * D.max())  # planar distances are reproduced
    path = path_coordinates(E1, ["ckpt0", "ckpt3", "ckpt5"])
    np.testing.assert_array_equal(path, E[[0, 3, 5]])
    with pytest.raises(ValueError, match="not in the embedding"):
        path_coordinates(E1, ["ckpt0", "nope"])
    ax = plot_embedding(E1, path=["ckpt0", "ckpt1", "ckpt2"])
    assert len(ax.lines) == 1 and ax.lines[0].get_xydata().shape == (3, 2)


def test_heatmap_cluster_order_groups_clusters(tmp_path):
    rng = np.random.default_rng(1)
    base = [rng.standard_normal((30, 4)) for _ in range(2)]
    S = {}
    for i in range(6):  # interleaved names of two tight clusters
        S[f"m{i}"] = base[i % 2] + 0.05 * rng.standard_normal((30, 4))
    sweep(S, "cka", tmp_path / "r.db", backend="serial", progress=False)
    res = load(tmp_path / "r.db")
    D = distance_matrix(res, "cka")
    order = cluster_order(D.to_numpy())
    groups = [int(D.index[i][1:]) % 2 for i in order]
    assert groups in ([0, 0, 0, 1, 1, 1], [1, 1, 1, 0, 0, 0])
    ax, names = heatmap(res, "cka")
    assert [int(n[1:]) % 2 for n in names] in ([0, 0, 0, 1, 1, 1], [1, 1, 1, 0, 0, 0])
    assert [t.get_text() for t in ax.get_xticklabels()] == names
    img = ax.images[0].get_array()
    assert img.shape == (6, 6)
    ax.figure.savefig(tmp_path / "h.png")
