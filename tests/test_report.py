"""hf-d2 report: one self-contained report.html, checked in a real headless Chromium.

The page is opened with the network switched off (DevTools offline emulation) and every request
the page makes is read from Chromium's performance log: only the file itself may be loaded. The
charts are read back from plotly's graph divs and the rendered SVG (points per trace = kept /
pruned counts), a hover label is triggered and must show the row's text as the source dataset
has it, and the label table must match the record and the coreset on disk.

Needs Debian's chromium and chromium-driver (``make test`` installs them); a missing browser is
a failure that says how to install it, never a skip.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import datasets
import numpy as np
import pyarrow.parquet as pq
import pytest
from tiny import keyword_rows

from hf_d2.cli import main
from hf_d2.evaluate.tables import summarize
from hf_d2.folders import Marker
from hf_d2.report import GENERATOR, nearest_kept, plotly_js, suppressed_by_neighbours

CHROMIUM = Path(os.environ.get("HF_D2_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("HF_D2_CHROMEDRIVER", "/usr/bin/chromedriver"))
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1280,900")
INSTALL = ("the report's browser test needs Debian's headless Chromium: run `make test` (it installs them), or "
           "`sudo apt-get install chromium chromium-driver`; elsewhere set HF_D2_CHROMIUM / HF_D2_CHROMEDRIVER")
ARTEFACTS = Path(os.environ.get("HF_D2_ARTEFACTS", Path(__file__).resolve().parents[1] / ".artefacts"))  # git-ignored
RENDER_TIMEOUT_S = 30


# ------------------------------------------------------------------------------ the browser


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the module, with a fresh empty profile and the performance log on."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not (path.is_file() and os.access(path, os.X_OK))]
    if missing:
        pytest.fail(f"{', '.join(missing)} not found: {INSTALL}.", pytrace=False)
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("selenium is missing: pip install -e '.[dev]' (make test does).", pytrace=False)
    profile = tempfile.mkdtemp(prefix="hf-d2-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def requested_urls(driver) -> list[str]:
    """Every URL the page asked for since the last call (DevTools Network.requestWillBeSent)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def open_offline(driver, page: Path) -> list[str]:
    """Opens ``page`` with the network off, waits until every plotly chart has drawn its traces,
    and returns the URLs the page requested."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get("about:blank")
    requested_urls(driver)  # drain what the browser did before this page
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.emulateNetworkConditions", {"offline": True, "latency": 0,
                                                                "downloadThroughput": -1, "uploadThroughput": -1})
    driver.get(page.resolve().as_uri())
    WebDriverWait(driver, RENDER_TIMEOUT_S).until(lambda d: d.execute_script(
        "const charts = Array.from(document.querySelectorAll('.js-plotly-plot'));"
        "return document.readyState === 'complete' && charts.length > 0 && charts.every(g => g._fullLayout && "
        "g.querySelectorAll('.scatterlayer .trace').length === g.data.length);"))
    time.sleep(0.2)  # let the last requestWillBeSent events reach the log
    return requested_urls(driver)


def assert_no_network(driver, page: Path, urls: list[str]) -> None:
    """Only the page itself was loaded (data:/blob: URLs are in-memory); then a deliberate fetch
    proves that the log does see network requests."""
    assert page.resolve().as_uri() in urls, f"the performance log missed the page itself: {urls}"
    outside = [url for url in urls if url != page.resolve().as_uri() and not url.startswith(("data:", "blob:"))]
    assert outside == [], f"the report made network requests: {outside}"
    driver.execute_script("fetch('http://192.0.2.1/probe').catch(() => null);")
    time.sleep(0.3)
    assert "http://192.0.2.1/probe" in requested_urls(driver), "the request log cannot see network requests"


def charts(driver) -> dict[str, list[dict]]:
    """Per chart id: its traces' name, points rendered in the SVG, error bars drawn and the
    plotly data (hovertext length, error_y array)."""
    return driver.execute_script("""
        const out = {};
        for (const g of document.querySelectorAll('.js-plotly-plot')) {
          const layers = g.querySelectorAll('.scatterlayer .trace');
          out[g.id] = g.data.map((trace, i) => ({
            name: trace.name, points: layers[i].querySelectorAll('path.point').length,
            errorbars: layers[i].querySelectorAll('g.errorbar').length,
            error: trace.error_y ? Array.from(trace.error_y.array) : null,
            length: g._fullData[i]._length}));
        }
        return out;""")


def hover_text(driver, chart_id: str, curve: int, point: int) -> str:
    """Hovers one point with plotly's own Fx.hover and returns the hover label's text."""
    from selenium.webdriver.support.ui import WebDriverWait

    layer = f"document.getElementById('{chart_id}').querySelector('.hoverlayer')"
    driver.execute_script(f"Plotly.Fx.unhover(document.getElementById('{chart_id}'));")
    WebDriverWait(driver, 5).until(lambda d: d.execute_script(f"return {layer}.textContent === '';"))
    driver.execute_script(f"Plotly.Fx.hover(document.getElementById('{chart_id}'), "
                          f"[{{curveNumber: {curve}, pointNumber: {point}}}]);")
    return WebDriverWait(driver, 5).until(lambda d: d.execute_script(
        f"const text = {layer}.textContent; return text.length ? text : null;"))


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def label_table(driver) -> dict[str, tuple[int, int]]:
    rows = driver.execute_script(
        "return Array.from(document.querySelectorAll('#label-counts tbody tr')).map(r => "
        "[r.dataset.label, r.querySelector('.before').textContent, r.querySelector('.after').textContent]);")
    return {label: (int(before.replace(",", "")), int(after.replace(",", ""))) for label, before, after in rows}


# ------------------------------------------------------------------------- prune --report


@pytest.fixture(scope="module")
def pruned(tmp_path_factory):
    """A real ``hf-d2 prune --report`` of 150 keyword rows: the bundled MiniLM embeds them and
    the head's training dynamics give the data map."""
    root = tmp_path_factory.mktemp("report")
    keyword_rows(150).save_to_disk(str(root / "data"))
    started = time.perf_counter()
    assert main(["prune", str(root / "data"), "--rate", "0.5", "--cache-dir", str(root / "cache"), "--output",
                 str(root / "pruned"), "--report", "-q"]) == 0
    return {"root": root, "folder": root / "pruned", "seconds": time.perf_counter() - started}


@pytest.mark.slow
def test_prune_report_renders_offline_with_kept_and_pruned_points_and_hover_text(browser, pruned):
    folder = pruned["folder"]
    page = folder / "report.html"
    assert page.is_file() and "report.html" in Marker.read(folder).files  # the folder stays hf-d2's
    record = json.loads((folder / "selection.json").read_text())
    scores = pq.read_table(folder / "scores.parquet").to_pydict()
    assert {"confidence", "variability", "projection_x", "projection_y"} <= set(scores)
    kept, pruned_count = record["num_rows_after"], record["num_rows_before"] - record["num_rows_after"]
    assert sum(scores["kept"]) == kept == 75

    urls = open_offline(browser, page)
    drawn = charts(browser)
    assert set(drawn) == {"data-map", "projection"}
    for chart in drawn.values():
        by_name = {trace["name"]: trace for trace in chart}
        assert sorted(by_name) == ["kept", "pruned"]
        assert by_name["kept"]["points"] == by_name["kept"]["length"] == kept
        assert by_name["pruned"]["points"] == by_name["pruned"]["length"] == pruned_count

    source = keyword_rows(150)
    for chart_id in ("data-map", "projection"):
        names = [trace["name"] for trace in drawn[chart_id]]
        for curve in (names.index("kept"), names.index("pruned")):
            label = hover_text(browser, chart_id, curve, 3)
            row = int(re.search(r"row (\d+)", label).group(1))
            assert squash(source[row]["text"]) in squash(label), label
            assert f"label {source[row]['label']}" in label
            assert ("kept" in label) == (curve == names.index("kept"))
            is_kept = scores["kept"][scores["original_index"].index(row)]
            assert is_kept == (curve == names.index("kept"))

    coreset = Counter(str(value) for value in datasets.load_from_disk(str(folder))["label"])
    before = Counter(str(value) for value in source["label"])
    assert label_table(browser) == {label: (before[label], coreset[label]) for label in before}
    assert label_table(browser) == {label: (count, record["label_counts_after"][label])
                                    for label, count in record["label_counts_before"].items()}
    suppressed_rows = browser.execute_script("return document.querySelectorAll('#suppressed tbody tr').length")
    assert suppressed_rows > 0  # a d2 run with embeddings in the cache lists its suppressed rows
    assert_no_network(browser, page, urls)

    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTEFACTS / "report_screenshot.png"))
    size = page.stat().st_size
    (ARTEFACTS / "report_size.json").write_text(json.dumps(
        {"rows": record["num_rows_before"], "bytes": size, "plotly_js_bytes": len(plotly_js().encode()),
         "prune_seconds": round(pruned["seconds"], 1),
         "test": "tests/test_report.py::test_prune_report_renders_offline_with_kept_and_pruned_points_and_hover_text"},
        indent=2) + "\n")
    # plotly.js is embedded once; everything else (both charts' points and hover texts, the tables)
    # stays small: at most 500 bytes a row on top of 60 KB
    assert page.read_text().count("* plotly.js (basic - minified) v") == 1  # plotly.js embedded once (the basic bundle)
    extra = size - len(plotly_js().encode())
    assert extra < 60_000 + 500 * record["num_rows_before"], f"report.html is {size:,} bytes ({extra:,} beside plotly.js)"


@pytest.mark.slow
def test_report_command_rewrites_its_own_report_and_refuses_other_files(pruned, capsys, tmp_path):
    folder, cache = pruned["folder"], pruned["root"] / "cache"
    first = (folder / "report.html").read_bytes()
    assert main(["report", str(folder), "--cache-dir", str(cache)]) == 0
    assert "report.html" in capsys.readouterr().out
    assert (folder / "report.html").read_bytes() == first  # same inputs, same page (no timestamps)
    # --overwrite of the prune still recognises the folder (report.html is listed in the marker)
    assert "report.html" in Marker.read(folder).files
    # a file hf-d2 did not write is never replaced
    (tmp_path / "mine.html").write_text("<html>my notes</html>")
    assert main(["report", str(folder), "--output", str(tmp_path / "mine.html")]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "not written by hf-d2 report" in error
    assert (tmp_path / "mine.html").read_text() == "<html>my notes</html>"
    # without the cache, the neighbour list is skipped with a one-line note; the rest is there
    assert main(["report", str(folder), "--output", str(tmp_path / "elsewhere.html"), "--cache-dir",
                 str(tmp_path / "empty-cache")]) == 0
    text = (tmp_path / "elsewhere.html").read_text()
    assert "Skipped: the embeddings are not in the stage cache" in text and 'id="suppressed"' not in text
    assert f'<meta name="generator" content="{GENERATOR}' in text
    # --embeddings gives them back
    key = json.loads((folder / "selection.json").read_text())["embeddings"]["cache_key"]
    shutil.copy(cache / "embeddings" / f"{key}.npy", tmp_path / "emb.npy")
    assert main(["report", str(folder), "--output", str(tmp_path / "elsewhere.html"), "--embeddings",
                 str(tmp_path / "emb.npy"), "--cache-dir", str(tmp_path / "empty-cache")]) == 0
    assert 'id="suppressed"' in (tmp_path / "elsewhere.html").read_text()


# ----------------------------------------------------------------- select (no model at all)


def column_rows(num_rows: int = 240, seed: int = 0) -> datasets.Dataset:
    """keyword rows with a difficulty column and an embedding column that clusters by label."""
    rng = np.random.default_rng(seed)
    rows = keyword_rows(num_rows, seed=seed)
    labels = np.asarray(rows["label"])
    centres = rng.normal(size=(2, 16))
    embeddings = centres[labels] + rng.normal(scale=0.6, size=(num_rows, 16))
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    return rows.add_column("difficulty", rng.random(num_rows).tolist()).add_column(
        "emb", embeddings.astype(np.float32).tolist())


def test_select_report_shows_pruned_texts_from_the_source_and_neighbours_from_the_column(browser, tmp_path, capsys):
    rows = column_rows()
    rows.save_to_disk(str(tmp_path / "data"))
    assert main(["select", str(tmp_path / "data"), "--rate", "0.6", "--score-column", "difficulty",
                 "--embedding-column", "emb", "--output", str(tmp_path / "out"), "-q"]) == 0
    assert main(["report", str(tmp_path / "out"), "-q"]) == 0
    page = tmp_path / "out" / "report.html"
    assert "report.html" in Marker.read(tmp_path / "out").files
    text = page.read_text()
    assert "No data map" in text  # column scores have no training dynamics
    record = json.loads((tmp_path / "out" / "selection.json").read_text())
    scores = pq.read_table(tmp_path / "out" / "scores.parquet").to_pydict()
    pruned_rows = [row for row, kept in zip(scores["original_index"], scores["kept"]) if not kept]
    assert any(rows[row]["text"] in text for row in pruned_rows)  # read back from the source rows

    urls = open_offline(browser, page)
    (projection,) = charts(browser).values()
    by_name = {trace["name"]: trace for trace in projection}
    assert by_name["kept"]["points"] == record["num_rows_after"] == 96
    assert by_name["pruned"]["points"] == record["num_rows_before"] - record["num_rows_after"]
    label = hover_text(browser, "projection", [t["name"] for t in projection].index("pruned"), 0)
    row = int(re.search(r"row (\d+)", label).group(1))
    assert squash(rows[row]["text"]) in squash(label) and row in pruned_rows
    # the suppressed table: each listed row was pruned, and its neighbour is the nearest kept row
    listed = browser.execute_script("return Array.from(document.querySelectorAll('#suppressed tbody tr')).map("
                                    "r => [Number(r.cells[0].textContent), Number(r.cells[4].textContent)]);")
    assert listed
    embeddings = np.asarray(rows["emb"], dtype=np.float64)
    kept_ids = set(record["kept_row_ids"])
    for row, neighbour in listed:
        assert row not in kept_ids and neighbour in kept_ids
        distances = {other: np.linalg.norm(embeddings[row] - embeddings[other]) for other in kept_ids}
        assert neighbour == min(distances, key=distances.get)
    assert_no_network(browser, page, urls)


def test_in_memory_selection_shows_kept_texts_until_the_source_is_given(browser, tmp_path, capsys):
    """prune_with_scores on an in-memory Dataset, written with write_prune_folder: the record
    names no source, so only kept rows have text (and the page says how to fix it) until
    --source points at the rows."""
    import hf_d2
    from hf_d2.folders import acquire_lock, output_folder, release_lock, write_prune_folder
    from hf_d2.report import report_html

    rows = column_rows(120, seed=5)
    rows.save_to_disk(str(tmp_path / "data"))
    result = hf_d2.prune_with_scores(rows, 0.5, score_column="difficulty", embedding_column="emb")
    with output_folder(tmp_path / "out", kind="select") as output:
        write_prune_folder(output.staging, result.dataset, result.record, result.scores)
    kept = set(result.record.kept_row_ids)
    assert main(["report", str(tmp_path / "out"), "-q"]) == 0
    text = (tmp_path / "out" / "report.html").read_text()
    assert "Only kept rows show their text" in text and "--source PATH" in text
    assert text.count("(text not available)") >= 120 - len(kept)  # every pruned row's hover, at least
    assert all(rows[row]["text"] in text for row in sorted(kept)[:5])
    assert main(["report", str(tmp_path / "out"), "--source", str(tmp_path / "data"), "-q"]) == 0
    text = (tmp_path / "out" / "report.html").read_text()
    assert "Only kept rows" not in text and "(text not available)" not in text
    # another run writing the folder holds its lock: the report waits for nobody and says so
    lock = acquire_lock(tmp_path / "out", "--output")
    try:
        assert main(["report", str(tmp_path / "out")]) == 2
        assert "Another hf-d2 run" in capsys.readouterr().err
    finally:
        release_lock(lock)
    # a selection larger than max_points is drawn as a seeded sample, said so on the page
    sampled = report_html(tmp_path / "out", max_points=50, source=str(tmp_path / "data"))
    assert "Showing a uniform sample of 50 of the 120 rows" in sampled
    (tmp_path / "sampled.html").write_text(sampled)
    open_offline(browser, tmp_path / "sampled.html")
    (projection,) = charts(browser).values()
    assert sum(trace["points"] for trace in projection) == 50


# --------------------------------------------------------------------------- evaluate folder


def evaluate_folder(folder: Path) -> list[dict]:
    """results.json as hf-d2 evaluate writes it (tables.summarize over synthetic cells): two
    judges, d2 and random at three rates with three seeds, and the full-data row."""
    rng = np.random.default_rng(0)
    cells = []
    for judge in ("logistic", "tfidf"):
        for seed in range(3):
            cells.append({"method": "full", "rate": 0.0, "seed": seed, "judge": judge, "num_train": 200,
                          "accuracy": 0.9 + 0.01 * rng.random(), "macro_f1": 0.89, "train_seconds": 0.1})
            for method in ("d2", "random"):
                for rate in (0.3, 0.5, 0.7):
                    accuracy = 0.88 - rate / 10 + (0.02 if method == "d2" else 0.0) + 0.02 * rng.random()
                    cells.append({"method": method, "rate": rate, "seed": seed, "judge": judge,
                                  "num_train": int(200 * (1 - rate)), "accuracy": accuracy, "macro_f1": accuracy - 0.01,
                                  "train_seconds": 0.1})
    rows = summarize(cells, ["d2", "random"])
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps({"rows": rows, "cells": cells, "config": {
        "source": {"kind": "local", "path": "data"}, "num_pool": 200, "num_heldout": 100, "classifier": "probe",
        "probes": ["logistic", "tfidf"]}}))
    Marker("evaluate", ("results.json",), "test").write(folder)
    return rows


def test_evaluate_report_draws_one_line_per_method_and_judge_with_95_percent_error_bars(browser, tmp_path):
    rows = evaluate_folder(tmp_path / "eval")
    assert main(["report", str(tmp_path / "eval"), "-q"]) == 0
    page = tmp_path / "eval" / "report.html"
    assert "report.html" in Marker.read(tmp_path / "eval").files
    urls = open_offline(browser, page)
    drawn = charts(browser)
    assert set(drawn) == {"accuracy", "accuracy-vs-random"}
    lines = [trace for trace in drawn["accuracy"] if trace["error"] is not None]
    assert sorted(trace["name"] for trace in lines) == ["d2 (logistic)", "d2 (tfidf)", "random (logistic)",
                                                        "random (tfidf)"]
    assert all(trace["points"] == 3 and trace["errorbars"] == 3 for trace in lines)
    assert sum(trace["name"] == "full data" for trace in drawn["accuracy"]) == 2  # one per judge
    for trace in lines:
        method, judge = trace["name"].rstrip(")").split(" (")
        expected = [100 * row["accuracy_ci"] for row in rows if row["method"] == method and row["judge"] == judge]
        np.testing.assert_allclose(trace["error"], expected, rtol=1e-9)
        assert all(value > 0 for value in trace["error"])  # three seeds: real intervals
    differences = drawn["accuracy-vs-random"]
    assert sorted(trace["name"] for trace in differences) == ["d2 (logistic)", "d2 (tfidf)"]
    assert all(trace["errorbars"] == 3 for trace in differences)
    table = browser.execute_script("return Array.from(document.querySelectorAll('#evaluate-table tbody tr')).map("
                                   "r => Array.from(r.cells).map(c => c.textContent));")
    assert len(table) == len(rows)
    d2_row = next(row for row in rows if row["method"] == "d2" and row["judge"] == "logistic" and row["rate"] == 0.5)
    cells = next(cells for cells in table if cells[:3] == ["logistic", "d2", "0.5"])
    assert cells[6] == f"{100 * d2_row['accuracy_vs_random']:+.2f} ± {100 * d2_row['accuracy_vs_random_ci']:.2f}"
    assert_no_network(browser, page, urls)


@pytest.mark.slow
def test_report_of_a_real_evaluate_run(browser, tmp_path):
    """The results.json of a real (tiny) hf-d2 evaluate run: logistic probes on the bundled
    MiniLM's embeddings, d2 and random at two rates, two seeds."""
    from hf_d2.evaluate import evaluate

    report = evaluate(keyword_rows(120, flipped=set(range(0, 120, 7))), output_dir=tmp_path / "eval",
                      methods=["d2", "random"], rates=[0.3, 0.6], seeds=2, classifier="probe", probe=["logistic"],
                      offline=True, cache_dir=str(tmp_path / "cache"), plots=False)
    assert main(["report", str(tmp_path / "eval"), "-q"]) == 0
    page = tmp_path / "eval" / "report.html"
    urls = open_offline(browser, page)
    lines = {trace["name"]: trace for trace in charts(browser)["accuracy"] if trace["error"] is not None}
    assert sorted(lines) == ["d2", "random"]
    for method, trace in lines.items():
        rows = sorted((row for row in report.rows if row["method"] == method), key=lambda row: row["rate"])
        assert trace["points"] == trace["errorbars"] == len(rows) == 2
        np.testing.assert_allclose(trace["error"], [100 * row["accuracy_ci"] for row in rows], rtol=1e-9)
    assert_no_network(browser, page, urls)


# ------------------------------------------------------------------------ rules and errors


def test_suppressed_rule_is_empty_without_a_reverse_pass_and_names_displaced_rows_with_one():
    import hf_d2

    rows = column_rows(300, seed=3)
    # exp(-gamma_reverse * d) is 0 at gamma_reverse = 1e4 (no reverse updates) and large at 0.1
    for gamma_reverse, expect_any in ((1e4, False), (0.1, True)):
        result = hf_d2.prune_with_scores(rows, 0.5, method="d2", score_column="difficulty", embedding_column="emb",
                                         gamma_reverse=gamma_reverse, prefilter=0.0, use_cache=False)
        scores = result.scores
        kept, forward = np.asarray(scores["kept"]), np.asarray(scores["forward_score"])
        found = suppressed_by_neighbours(forward, kept)
        # without reverse updates D2 keeps exactly the top forward scores: nothing is suppressed
        assert (found.size > 0) == expect_any
        assert not kept[found].any() and np.all(np.diff(forward[found]) <= 0)
        top = np.argsort(-forward, kind="stable")[:kept.sum()]
        assert set(found) == set(top) - set(np.flatnonzero(kept))
    labels = np.array([0, 0, 0, 1, 1, 1])
    forward = np.array([5.0, 4.0, 3.0, 9.0, 8.0, np.nan])
    kept = np.array([True, False, True, False, True, False])
    assert suppressed_by_neighbours(forward, kept).tolist() == [3]  # top 3 overall: 3, 4, 0; 4 and 0 kept
    assert suppressed_by_neighbours(forward, kept, labels).tolist() == [3, 1]  # top 2 of label 0, top 1 of label 1


def test_nearest_kept_matches_brute_force_in_blocks():
    rng = np.random.default_rng(1)
    embeddings = rng.normal(size=(500, 8)).astype(np.float32)
    kept = rng.random(500) < 0.3
    queries = np.flatnonzero(~kept)[:25]
    found, distances = nearest_kept(embeddings, queries, kept, chunk=37)
    for query, neighbour, distance in zip(queries, found, distances):
        candidates = np.flatnonzero(kept)
        gaps = np.linalg.norm(embeddings[candidates].astype(np.float64) - embeddings[query], axis=1)
        assert neighbour == candidates[gaps.argmin()] and distance == pytest.approx(gaps.min(), rel=1e-6)


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    cases = [
        ([str(tmp_path / "nowhere")], "is not a folder"),
        ([str(tmp_path)], "holds neither selection.json"),
    ]
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "results.json").write_text("{not json")
    cases.append(([str(tmp_path / "run")], "is not valid JSON"))
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "results.json").write_text(json.dumps({"rows": []}))
    cases.append(([str(tmp_path / "empty")], "has no result rows"))
    evaluate_folder(tmp_path / "eval")
    cases.append(([str(tmp_path / "eval"), "--output", str(tmp_path / "report.txt")], "must end in .html"))
    for args, message in cases:
        assert main(["report", *args]) == 2
        error = capsys.readouterr().err.strip()
        assert len(error.splitlines()) == 1 and message in error, error
    assert not (tmp_path / "report.txt").exists() and not (tmp_path / "eval" / "report.html").exists()


def test_missing_embeddings_file_and_mismatched_embeddings_are_errors(tmp_path, capsys):
    rows = column_rows(60)
    rows.save_to_disk(str(tmp_path / "data"))
    assert main(["select", str(tmp_path / "data"), "--rate", "0.5", "--score-column", "difficulty",
                 "--embedding-column", "emb", "--output", str(tmp_path / "out"), "-q"]) == 0
    np.save(tmp_path / "short.npy", np.zeros((10, 4), dtype=np.float32))
    for flag, message in ((str(tmp_path / "absent.npy"), "No embeddings file"), (str(tmp_path / "short.npy"),
                                                                                    "have shape (10, 4)")):
        assert main(["report", str(tmp_path / "out"), "--embeddings", flag]) == 2
        error = capsys.readouterr().err.strip()
        assert len(error.splitlines()) == 1 and message in error, error
    assert not (tmp_path / "out" / "report.html").exists()


def test_missing_plotly_is_an_install_hint_before_any_work(tmp_path, monkeypatch, capsys):
    evaluate_folder(tmp_path / "eval")
    monkeypatch.setitem(sys.modules, "plotly", None)
    assert main(["report", str(tmp_path / "eval")]) == 2
    assert "pip install 'hf-d2[report]'" in capsys.readouterr().err
    keyword_rows(20).save_to_disk(str(tmp_path / "data"))
    assert main(["prune", str(tmp_path / "data"), "--rate", "0.5", "--output", str(tmp_path / "out"), "--report"]) == 2
    assert "pip install 'hf-d2[report]'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
