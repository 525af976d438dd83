"""hf-d2 select: writes the pruned dataset and selection.json; bad input is one line, exit 2."""

import json
import os
import subprocess
import sys

import datasets
import numpy as np
import pytest

import hf_d2
from hf_d2.cli import main


@pytest.fixture
def dataset_dir(tmp_path):
    rng = np.random.default_rng(5)
    dataset = datasets.Dataset.from_dict({
        "text": [f"row {i}" for i in range(80)],
        "label": rng.integers(0, 3, 80).tolist(),
        "difficulty": rng.random(80).tolist(),
        "emb": rng.normal(size=(80, 5)).astype(np.float32).tolist(),
    })
    dataset.save_to_disk(str(tmp_path / "source"))
    return tmp_path / "source", dataset


def run(*args):
    return main([str(a) for a in args])


def test_select_writes_the_same_coreset_as_the_python_api(dataset_dir, tmp_path):
    source, dataset = dataset_dir
    assert run("select", source, "--rate", 0.6, "--score-column", "difficulty", "--embedding-column", "emb",
               "--k", 4, "--gamma-reverse", 0.5, "--output", tmp_path / "out") == 0
    written = datasets.load_from_disk(str(tmp_path / "out"))
    expected = dataset.d2_prune(rate=0.6, score_column="difficulty", embedding_column="emb", k=4, gamma_reverse=0.5)
    assert written["text"] == expected["text"] and written.num_rows == 32
    record = json.loads((tmp_path / "out" / "selection.json").read_text())
    assert record["kept_row_ids"] == [int(t.split()[1]) for t in written["text"]]
    assert record["method_params"]["k"] == 4 and record["method_params"]["gamma_reverse"] == 0.5
    assert record["source"]["path"] == str(source)
    assert hf_d2.selection_record(written).kept_row_ids == record["kept_row_ids"]


@pytest.mark.parametrize("suffix", ["parquet", "csv", "json"])
def test_select_reads_files(dataset_dir, tmp_path, suffix):
    _, dataset = dataset_dir
    path = tmp_path / f"data.{suffix}"
    flat = dataset.remove_columns("emb")
    getattr(flat, f"to_{suffix}")(str(path))
    assert run("select", path, "--rate", 0.5, "--method", "hard", "--score-column", "difficulty",
               "--output", tmp_path / "out") == 0
    written = datasets.load_from_disk(str(tmp_path / "out"))
    assert sorted(written["difficulty"]) == pytest.approx(sorted(dataset["difficulty"])[40:])


def test_existing_output_is_refused_and_only_an_earlier_output_is_replaced(dataset_dir, tmp_path, capsys):
    source, _ = dataset_dir
    output = tmp_path / "out"
    output.mkdir()
    (output / "precious.txt").write_text("keep me")
    args = ["select", source, "--rate", 0.5, "--method", "random", "--output", output]
    assert run(*args) == 2
    err = capsys.readouterr().err  # never a suggestion to pass the --overwrite that would then be refused
    assert "holds files hf-d2 did not write" in err and "--overwrite never replaces such a folder" in err
    assert "pass --overwrite" not in err
    assert run(*args, "--overwrite") == 2  # not written by hf-d2: --overwrite refuses too
    assert "holds files hf-d2 did not write" in capsys.readouterr().err
    assert (output / "precious.txt").read_text() == "keep me"
    mine = tmp_path / "mine"
    assert run("select", source, "--rate", 0.8, "--method", "random", "--output", mine) == 0
    assert run("select", source, "--rate", 0.5, "--method", "random", "--output", mine, "--overwrite") == 0
    assert datasets.load_from_disk(str(mine)).num_rows == 40


def test_failed_run_leaves_previous_output(dataset_dir, tmp_path):
    source, _ = dataset_dir
    output = tmp_path / "out"
    assert run("select", source, "--rate", 0.5, "--method", "random", "--output", output) == 0
    assert run("select", source, "--rate", 0.5, "--score-column", "nope", "--embedding-column", "emb",
               "--output", output, "--overwrite") == 2
    assert datasets.load_from_disk(str(output)).num_rows == 40


@pytest.mark.parametrize("args, message", [
    (["--rate", "1.5", "--method", "random"], "fraction of rows to REMOVE and must be in [0, 1)"),
    (["--rate", "0.5", "--score-column", "nope", "--embedding-column", "emb"], "Column 'nope'"),
    (["--rate", "0.5", "--method", "d2"], "needs --score-column (or --scores-from) and --embedding-column"),
    (["--rate", "0.5", "--score-column", "difficulty", "--embedding-column", "emb", "--k", "80"],
     "must be smaller than the number of examples"),
    (["--rate", "0.5", "--method", "nonsense"], "argument --method: invalid choice"),
    (["--rate", "0.5", "--method", "random", "--k", "3"], "does not take the parameter"),
])
def test_bad_input_is_one_line_exit_2(dataset_dir, tmp_path, capsys, args, message):
    source, _ = dataset_dir
    assert run("select", source, *args, "--output", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_console_script_exit_code_and_help(dataset_dir, tmp_path):
    source, _ = dataset_dir
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    bad = subprocess.run([sys.executable, "-m", "hf_d2.cli", "select", str(tmp_path / "missing"), "--rate", "0.5",
                          "--method", "random",
                          "--output", str(tmp_path / "out")], capture_output=True, text=True, env=env)
    assert bad.returncode == 2
    assert bad.stderr.strip() == ("hf-d2 select: error: File not found: '" + str(tmp_path / "missing")
                                  + "'; pass an existing save_to_disk folder or a .csv/.json/.jsonl/.parquet file.")
    shown = subprocess.run([sys.executable, "-m", "hf_d2.cli", "select", "--help"], capture_output=True, text=True,
                           env=env)
    for flag in ("--rate", "--score-column", "--embedding-column", "--output", "--method", "--k", "--gamma-forward",
                 "--gamma-reverse", "--prefilter", "--partition", "--seed", "--overwrite", "--add-columns"):
        assert flag in shown.stdout


def test_scores_from_saved_dynamics(dataset_dir, tmp_path):
    """hf-d2 select --scores-from reads the difficulty and the AUM pre-filter from a dynamics
    folder (what hf_d2.DynamicsCallback.save and hf-d2 score write)."""
    from hf_d2.difficulty import DifficultyResult, load_result
    from hf_d2.difficulty.head import HeadConfig, head_dynamics_table

    source, dataset = dataset_dir
    embeddings = np.array(dataset["emb"], dtype=np.float32)
    table = head_dynamics_table(embeddings, np.array(dataset["label"]), HeadConfig(epochs=3), num_labels=3)
    DifficultyResult(table, {"source": "test", "num_rows": 80}).save(tmp_path / "dynamics")
    assert run("select", source, "--rate", 0.5, "--scores-from", tmp_path / "dynamics", "--difficulty", "el2n",
               "--embedding-column", "emb", "--output", tmp_path / "out") == 0
    record = json.loads((tmp_path / "out" / "selection.json").read_text())
    assert record["difficulty"]["score"] == "el2n" and record["difficulty"]["source"].startswith("dynamics from")
    # d2 with dynamics drops the rows whose mean margin over training is below -0.5 first (AUM's rule)
    saved = load_result(tmp_path / "dynamics")
    margins = (saved.arrays.gold_prob - saved.arrays.max_other_prob).mean(axis=1)
    assert record["prefilter_margin"] == 0.5 and record["prefilter"] == pytest.approx(np.mean(margins < -0.5))
    direct = dataset.add_column("s", saved.scores("el2n").tolist()).add_column("a", saved.scores("aum").tolist())
    expected = direct.d2_prune(rate=0.5, score_column="s", prefilter_column="a", prefilter=record["prefilter"],
                               embedding_column="emb", partition="label", reverse="relative", duplicates="near")
    assert datasets.load_from_disk(str(tmp_path / "out"))["text"] == expected["text"]
    # dynamics recorded on other rows (another row count) are refused
    small = head_dynamics_table(embeddings[:40], np.array(dataset["label"][:40]), HeadConfig(epochs=3), num_labels=3)
    DifficultyResult(small, {"num_rows": 40}).save(tmp_path / "small")
    assert run("select", source, "--rate", 0.5, "--scores-from", tmp_path / "small", "--embedding-column", "emb",
               "--output", tmp_path / "o2") == 2
