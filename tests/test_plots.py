"""Plots: files are written, non-empty, valid PNG / SVG; the data map and projection read a real
prune output folder; a missing matplotlib is a one-line install hint."""

import json
import sys
import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest
from tiny import keyword_rows

from hf_d2.cli import main
from hf_d2.plots import plot_accuracy, plot_data_map, plot_projection, project_2d, prune_output_arrays

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ROWS = [
    {"method": "full", "rate": 0.0, "seeds": [0, 1], "accuracy_mean": 0.8, "accuracy_std": 0.01,
     "macro_f1_mean": 0.79, "macro_f1_std": 0.01, "num_train": 100, "train_seconds": 3.0},
    *({"method": method, "rate": rate, "seeds": [0, 1], "accuracy_mean": 0.75 - rate / 10, "accuracy_std": 0.02,
       "macro_f1_mean": 0.7, "macro_f1_std": 0.02, "num_train": 50, "train_seconds": 1.0}
      for method in ("d2", "random") for rate in (0.3, 0.5, 0.7)),
]


def assert_png(path):
    assert path.stat().st_size > 0 and path.read_bytes()[:8] == PNG_MAGIC


def assert_svg(path):
    assert path.stat().st_size > 0 and ElementTree.parse(path).getroot().tag.endswith("svg")


def test_accuracy_plot_from_rows_and_from_a_results_folder(tmp_path):
    assert_png(plot_accuracy(ROWS, tmp_path / "a.png"))
    assert_svg(plot_accuracy(ROWS, tmp_path / "a.svg", metric="macro_f1"))
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "results.json").write_text(json.dumps({"rows": ROWS}))
    assert main(["plot", str(tmp_path / "run")]) == 0
    for name in ("accuracy.png", "macro_f1.png"):
        assert_png(tmp_path / "run" / name)
    assert_svg(tmp_path / "run" / "accuracy.svg")


def test_data_map_and_projection_from_arrays(tmp_path):
    rng = np.random.default_rng(0)
    kept = rng.random(300) < 0.4
    assert_png(plot_data_map(rng.random(300), rng.random(300) * 0.5, kept, tmp_path / "map.png"))
    assert_svg(plot_projection(rng.normal(size=(300, 16)), kept, tmp_path / "proj.svg", labels=np.arange(300) % 2))
    with pytest.raises(ValueError, match="one length"):
        plot_data_map(rng.random(3), rng.random(4), [True] * 3, tmp_path / "bad.png")
    with pytest.raises(ValueError, match="must end in"):
        plot_projection(rng.normal(size=(5, 2)), [True] * 5, tmp_path / "proj.jpg")


def test_projection_is_pca():
    rng = np.random.default_rng(1)
    points = np.outer(rng.normal(size=500), [3.0, 0.0, 0.0]) + rng.normal(scale=0.1, size=(500, 3)) + 7.0
    projected = project_2d(points)
    assert projected.shape == (500, 2) and abs(projected.mean()) < 1e-9
    assert np.corrcoef(projected[:, 0], points[:, 0])[0, 1] > 0.99


def test_missing_matplotlib_is_an_install_hint(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ValueError, match=r"pip install 'hf-d2\[plots\]'"):
        plot_accuracy(ROWS, tmp_path / "a.png")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "results.json").write_text(json.dumps({"rows": ROWS}))
    assert main(["plot", str(tmp_path / "run")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_plot_refuses_a_folder_that_is_no_output(tmp_path, capsys):
    assert main(["plot", str(tmp_path)]) == 2
    assert "neither results.json" in capsys.readouterr().err


@pytest.mark.slow
def test_data_map_and_projection_of_a_prune_output(tmp_path, capsys):
    keyword_rows(120).save_to_disk(str(tmp_path / "data"))
    cache = tmp_path / "cache"
    assert main(["prune", str(tmp_path / "data"), "--rate", "0.5", "--cache-dir", str(cache),
                 "--output", str(tmp_path / "pruned")]) == 0
    assert main(["plot", str(tmp_path / "pruned"), "--output", str(tmp_path / "plots")]) == 0
    for name in ("data_map", "projection"):
        assert_png(tmp_path / "plots" / f"{name}.png")
        assert_svg(tmp_path / "plots" / f"{name}.svg")
    # the scores table holds the data map and the projection: no cache needed
    arrays = prune_output_arrays(tmp_path / "pruned")
    assert arrays["kept"].sum() == 60 and arrays["confidence"].shape == (120,) and arrays["projection"].shape == (120, 2)
    record = json.loads((tmp_path / "pruned" / "selection.json").read_text())
    embeddings = cache / "embeddings" / f"{record['embeddings']['cache_key']}.npy"
    np.testing.assert_allclose(np.abs(prune_output_arrays(tmp_path / "pruned", embeddings_path=embeddings)["projection"]),
                               np.abs(arrays["projection"]), atol=1e-6)
    assert main(["plot", str(tmp_path / "pruned"), "--embeddings", str(embeddings), "--output", str(tmp_path / "again"),
                 "--format", "png"]) == 0
    assert_png(tmp_path / "again" / "data_map.png") and assert_png(tmp_path / "again" / "projection.png")
    # plotting into the prune folder itself keeps it an hf-d2 folder that --overwrite may replace
    assert main(["plot", str(tmp_path / "pruned"), "--format", "png"]) == 0
    assert main(["prune", str(tmp_path / "data"), "--rate", "0.5", "--cache-dir", str(cache),
                 "--output", str(tmp_path / "pruned"), "--overwrite"]) == 0


def test_the_accuracy_plot_shows_the_tables_95_percent_intervals(tmp_path):
    import matplotlib

    rows = [dict(row, accuracy_ci=0.03, macro_f1_ci=0.03) for row in ROWS]
    with matplotlib.rc_context({"svg.fonttype": "none"}):  # text as text, to read the title
        text = plot_accuracy(rows, tmp_path / "a.svg").read_text()
    assert "mean ± 95% interval, 2 seeds" in text and "std" not in text
