"""What hf-d2 promises: nothing the user had is lost, and no run reports success on garbage.

Each test is one finding of the trust review (issue 12): it failed before and passes now.
"""

import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import datasets
import numpy as np
import pytest
from tiny import keyword_rows, save_tiny_roberta

import hf_d2
from hf_d2.cli import main
from hf_d2.folders import MARKER_FILE, OutputFolderError, output_folder


def cli(*args):
    return main([str(a) for a in args])


@pytest.fixture
def source(tmp_path):
    rng = np.random.default_rng(5)
    dataset = datasets.Dataset.from_dict({
        "text": [f"row {i}" for i in range(60)], "label": (np.arange(60) % 2).tolist(),
        "difficulty": rng.random(60).tolist(), "emb": rng.normal(size=(60, 4)).astype(np.float32).tolist()})
    path = tmp_path / "source"
    dataset.save_to_disk(str(path))
    return path


def select(source, output, *extra):
    return cli("select", source, "--rate", 0.5, "--score-column", "difficulty", "--embedding-column", "emb",
               "--output", output, *extra)


# ------------------------------------------------------------------------------ data loss


def test_overwrite_never_deletes_a_users_folder(source, tmp_path, capsys):
    folder = tmp_path / "thesis"
    (folder / "chapters").mkdir(parents=True)
    (folder / "thesis.txt").write_text("years of work")
    (folder / "chapters" / "one.txt").write_text("chapter one")
    assert select(source, folder, "--overwrite") == 2
    assert "holds files hf-d2 did not write" in capsys.readouterr().err
    assert (folder / "thesis.txt").read_text() == "years of work" and (folder / "chapters" / "one.txt").exists()


def test_overwrite_replaces_an_hf_d2_folder_but_not_one_with_a_file_added(source, tmp_path, capsys):
    output = tmp_path / "out"
    assert select(source, output) == 0 and (output / MARKER_FILE).is_file()
    assert select(source, output, "--overwrite") == 0  # our own folder: replaced
    (output / "notes.txt").write_text("mine")
    assert select(source, output, "--overwrite") == 2
    assert "holds files hf-d2 did not write (notes.txt)" in capsys.readouterr().err
    assert (output / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("where", ["the input", "a parent of the input", "inside the input"])
def test_the_input_is_never_an_output(source, tmp_path, capsys, where):
    target = {"the input": source, "a parent of the input": tmp_path, "inside the input": source / "sub"}[where]
    before = sorted(p.name for p in source.iterdir())
    assert select(source, target, "--overwrite") == 2
    assert "overlaps" in capsys.readouterr().err
    assert sorted(p.name for p in source.iterdir()) == before
    assert datasets.load_from_disk(str(source)).num_rows == 60


def test_an_output_holding_the_cache_is_refused(tmp_path, capsys):
    cache = tmp_path / "out" / "cache"
    cache.mkdir(parents=True)
    (cache / "precious.npy").write_bytes(b"x")
    assert cli("prune", "rotten_tomatoes", "--rate", 0.5, "--max-examples", 50, "--cache-dir", cache,
               "--output", tmp_path / "out", "--overwrite") == 2
    assert "overlaps" in capsys.readouterr().err and (cache / "precious.npy").exists()


def test_push_export_dir_cannot_replace_its_source(source, tmp_path, capsys):
    assert select(source, tmp_path / "out") == 0
    assert cli("push", tmp_path / "out", "me/x", "--dry-run", "--export-dir", tmp_path / "out", "--overwrite") == 2
    assert "overlaps" in capsys.readouterr().err
    assert datasets.load_from_disk(str(tmp_path / "out")).num_rows == 30 and (tmp_path / "out" / "selection.json").exists()


def test_two_concurrent_writers_one_wins_the_other_fails_at_once(tmp_path):
    target = tmp_path / "out"
    entered, release = threading.Event(), threading.Event()
    errors = []

    def first():
        with output_folder(target, kind="test") as folder:
            (folder.staging / "a.txt").write_text("first")
            entered.set()
            release.wait(10)

    thread = threading.Thread(target=first)
    thread.start()
    entered.wait(10)
    try:
        with output_folder(target, kind="test") as folder:
            (folder.staging / "a.txt").write_text("second")
    except OutputFolderError as error:
        errors.append(str(error))
    release.set()
    thread.join()
    assert len(errors) == 1 and "Another hf-d2 run" in errors[0] and "is writing" in errors[0]
    assert (target / "a.txt").read_text() == "first"


def test_two_prune_processes_on_one_output_exactly_one_succeeds(source, tmp_path):
    """Two real processes racing for one --output: one writes, the other says another run is
    writing; the folder holds the winner's coreset."""
    script = ("import importlib, sys, time\np = importlib.import_module(\"hf_d2.prune\")\n"
              "original = p.run_plan\n"
              "def slow(*a, **k):\n    time.sleep(4)\n    return original(*a, **k)\n"
              "p.run_plan = slow\n"
              "from hf_d2.cli import main\nsys.exit(main(sys.argv[1:]))\n")
    runner = tmp_path / "slow_select.py"
    runner.write_text(script)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    commands = [[sys.executable, str(runner), "select", str(source), "--rate", rate, "--score-column", "difficulty",
                 "--embedding-column", "emb", "--output", str(tmp_path / "shared")] for rate in ("0.5", "0.8")]
    processes = [subprocess.Popen(c, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for c in commands]
    results = [(p.wait(120), p.stderr.read()) for p in processes]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    loser = next(err for code, err in results if code == 2)
    assert "Another hf-d2 run" in loser and len(loser.strip().splitlines()) == 1
    assert datasets.load_from_disk(str(tmp_path / "shared")).num_rows in (30, 12)


def test_a_failed_run_leaves_nothing_behind(tmp_path, capsys):
    data = tmp_path / "data.csv"
    datasets.Dataset.from_dict({"text": ["a", "b"], "score": [0.5, 1.5]}).to_csv(str(data))
    output = tmp_path / "new" / "deeper" / "out"
    assert cli("score", data, "--text-column", "text", "--label-column", "score", "--model", "bundled-minilm",
               "--output", output) == 2
    assert "regression target" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()  # no output, no staging folder, no lock, no parents
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv"]


def test_folders_follow_the_umask(source, tmp_path):
    previous = os.umask(0o022)
    try:
        assert select(source, tmp_path / "out") == 0
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "out" / "selection.json").stat().st_mode) == 0o644


# -------------------------------------------------------------------------- garbage refused


def test_a_one_epoch_variability_run_is_refused_before_training(tmp_path, capsys):
    assert cli("prune", "rotten_tomatoes", "--rate", 0.5, "--max-examples", 50, "--difficulty-source", "finetune",
               "--epochs", 1, "--cache-dir", tmp_path / "cache", "--output", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "'variability' score compares epochs and needs at least 2" in err and "--epochs 3" in err
    assert not (tmp_path / "cache").exists() and not (tmp_path / "out").exists()  # nothing ran


def test_a_model_that_predicts_one_class_is_caught(tmp_path, capsys):
    import torch
    from transformers import AutoModelForSequenceClassification

    model = save_tiny_roberta(tmp_path / "tiny")
    stuck = AutoModelForSequenceClassification.from_pretrained(model)
    with torch.no_grad():  # a head biased so hard towards class 0 that a tiny learning rate never moves it
        stuck.classifier.out_proj.bias.copy_(torch.tensor([50.0, -50.0]))
    stuck.save_pretrained(model)
    keyword_rows(64).save_to_disk(str(tmp_path / "data"))
    capsys.readouterr()
    common = ["prune", tmp_path / "data", "--rate", 0.5, "--difficulty-source", "finetune", "--model", model,
              "--epochs", 2, "--learning-rate", "1e-9", "--max-length", 16, "--cache-dir", tmp_path / "cache"]
    assert cli(*common, "--output", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "it did not learn" in err and "--allow-degenerate" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
    assert cli(*common, "--allow-degenerate", "--output", tmp_path / "out") == 0  # the explicit escape
    record = json.loads((tmp_path / "out" / "selection.json").read_text())
    assert any("did not learn" in warning for warning in record["warnings"])


def test_a_difficulty_that_cannot_rank_is_an_error_that_says_what_to_change(tmp_path):
    flat = datasets.Dataset.from_dict({"text": ["x"] * 40, "label": [0, 1] * 20, "emb": [[0.0, 1.0]] * 40})
    with pytest.raises(ValueError, match="it did not learn.*--head-epochs.*--allow-degenerate"):
        flat.d2_prune(rate=0.5, embedding_column="emb", cache_dir=str(tmp_path))
    kept = flat.d2_prune(rate=0.5, embedding_column="emb", cache_dir=str(tmp_path), allow_degenerate=True)
    assert kept.num_rows == 20 and hf_d2.selection_record(kept).warnings


def test_a_label_column_with_one_class_is_refused(tmp_path, capsys):
    datasets.Dataset.from_dict({"text": ["a", "b", "c"], "label": [1, 1, 1]}).save_to_disk(str(tmp_path / "one"))
    assert cli("prune", tmp_path / "one", "--rate", 0.5, "--output", tmp_path / "out") == 2
    assert "has only one class" in capsys.readouterr().err


@pytest.mark.parametrize("bad", [None, "", "   "])
def test_missing_or_empty_texts_are_one_line_and_drop_empty_drops_them(tmp_path, capsys, bad):
    rows = keyword_rows(40).to_list()
    rows[3]["text"], rows[17]["text"] = bad, bad
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "data"))
    assert cli("prune", tmp_path / "data", "--rate", 0.5, "--output", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "Column 'text' has 2 missing, empty or whitespace-only text(s) (rows 3, 17)" in err
    assert "--drop-empty" in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert cli("prune", tmp_path / "data", "--rate", 0.5, "--drop-empty", "--cache-dir", tmp_path / "cache",
               "--output", tmp_path / "out") == 0
    record = json.loads((tmp_path / "out" / "selection.json").read_text())
    assert record["num_rows_before"] == 38 and 3 not in record["kept_row_ids"] and 17 not in record["kept_row_ids"]


def test_a_missing_local_path_is_file_not_found(tmp_path, capsys):
    assert cli("prune", tmp_path / "nowhere.csv", "--rate", 0.5, "--output", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "File not found" in err and "Hub" not in err.split("File not found")[0]


def test_from_selection_refuses_another_file_with_the_same_row_count(source, tmp_path, capsys):
    assert select(source, tmp_path / "first") == 0
    impostor = datasets.load_from_disk(str(source)).map(lambda row: {"text": row["text"].upper()})
    impostor.save_to_disk(str(tmp_path / "impostor"))
    capsys.readouterr()
    assert cli("select", tmp_path / "impostor", "--from-selection", tmp_path / "first", "--output", tmp_path / "o") == 2
    assert "not the rows this record was made from" in capsys.readouterr().err
    moved = tmp_path / "moved"
    source.rename(moved)  # the same rows elsewhere are accepted
    assert cli("select", moved, "--from-selection", tmp_path / "first", "--output", tmp_path / "again") == 0


def test_a_record_hashed_by_hf_d2_0_2_still_reselects(source, tmp_path, capsys):
    """0.2.0 hashed the rows' Arrow chunks as stored; its records still find their rows."""
    from hf_d2.cache import rows_hash

    datasets.load_from_disk(str(source)).save_to_disk(str(tmp_path / "chunked"), num_shards=2)  # two Arrow files
    assert select(tmp_path / "chunked", tmp_path / "first") == 0
    record = json.loads((tmp_path / "first" / "selection.json").read_text())
    on_disk = datasets.load_from_disk(str(tmp_path / "chunked"))
    assert on_disk.data.column("text").num_chunks == 2
    old_hash = rows_hash(on_disk, on_disk.column_names, as_stored=True)
    assert old_hash != record["source"]["content_hash"]  # the stored chunks make the old hash differ
    record["source"].update(content_hash=old_hash, fingerprint=None)
    (tmp_path / "first" / "selection.json").write_text(json.dumps(record))
    assert cli("select", tmp_path / "chunked", "--from-selection", tmp_path / "first", "--rate", 0.6,
               "--output", tmp_path / "again") == 0, capsys.readouterr().err


@pytest.mark.parametrize("repo", ["not a repo", "bad-/name", "a/b/c", "me/x.git", "me--x/y"])
def test_push_dry_run_validates_the_repo_id(source, tmp_path, capsys, repo):
    assert select(source, tmp_path / "out") == 0
    capsys.readouterr()
    assert cli("push", tmp_path / "out", repo, "--dry-run") == 2
    assert "is not a Hub repository id" in capsys.readouterr().err


def test_dry_run_is_as_strict_as_a_run(tmp_path, capsys):
    datasets.Dataset.from_dict({"text": list("abcde"), "label": [0, 1, 0, 1, 0]}).to_csv(str(tmp_path / "five.csv"))
    for args in (["rotten_tomatoes", "--rate", 7], ["rotten_tomatoes", "--rate", 0.5, "--k", 0],
                 [tmp_path / "five.csv", "--rate", 0.5]):
        assert cli("prune", *args, "--dry-run") == 2
        dry = capsys.readouterr().err
        assert cli("prune", *args, "--output", tmp_path / "out") == 2
        real = capsys.readouterr().err
        assert dry == real and len(real.strip().splitlines()) == 1, (dry, real)


# ------------------------------------------------------------------ interrupts, quiet, metadata


@pytest.mark.slow
def test_ctrl_c_is_one_line_and_130_and_the_rerun_resumes(tmp_path, capsys, caplog, monkeypatch):
    import logging

    from hf_d2.difficulty import recorder

    model = save_tiny_roberta(tmp_path / "tiny")
    keyword_rows(64).save_to_disk(str(tmp_path / "data"))
    args = ["prune", tmp_path / "data", "--rate", 0.5, "--difficulty-source", "finetune", "--model", model,
            "--epochs", 2, "--learning-rate", "1e-3", "--max-length", 16, "--cache-dir", tmp_path / "cache",
            "--output", tmp_path / "out"]
    original = recorder._checkpoint

    def interrupt_after_the_first_epoch(state, run_dir, epoch):
        original(state, run_dir, epoch)
        raise KeyboardInterrupt

    monkeypatch.setattr(recorder, "_checkpoint", interrupt_after_the_first_epoch)
    assert cli(*args) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("hf-d2 prune: interrupted.") and "Run it again to resume: hf-d2 prune" in err[0]
    assert "Traceback" not in err[0] and not (tmp_path / "out").exists()
    monkeypatch.setattr(recorder, "_checkpoint", original)
    with caplog.at_level(logging.INFO, logger="hf_d2"):
        assert cli(*args) == 0
    assert "Resuming difficulty at epoch 2/2" in caplog.text
    assert "resumed at epoch 2" in capsys.readouterr().out


def test_ctrl_c_while_embedding_a_head_run_is_its_own_line_about_what_it_kept(tmp_path, capsys, monkeypatch):
    """Interrupted inside a progress bar: the line starts a line of its own, and a head run does not
    speak of a fine-tuning it does not have."""
    from tqdm.auto import tqdm

    from hf_d2 import stages

    def interrupted_embedding(*args, **kwargs):
        with tqdm(total=100, desc="Embedding", leave=False) as bar:
            bar.update(40)
            raise KeyboardInterrupt

    monkeypatch.delenv("HF_D2_DISABLE_PROGRESS", raising=False)
    monkeypatch.setattr(stages, "compute_embeddings", interrupted_embedding)
    keyword_rows(40).save_to_disk(str(tmp_path / "data"))
    capsys.readouterr()
    assert cli("prune", tmp_path / "data", "--rate", 0.5, "--cache-dir", tmp_path / "cache",
               "--output", tmp_path / "out") == 130
    err = capsys.readouterr().err
    line = next(text for text in err.split("\n") if "interrupted" in text)
    assert line.startswith("hf-d2 prune: interrupted. Finished stages are cached; nothing was written to --output.")
    assert "fine-tuning" not in line and not (tmp_path / "out").exists()


def test_quiet_prints_nothing_on_success(source, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    for position in ("before", "after"):
        command = [sys.executable, "-m", "hf_d2.cli"] + (["-q"] if position == "before" else [])
        command += ["select", str(source), "--rate", "0.5", "--score-column", "difficulty", "--embedding-column", "emb",
                    "--output", str(tmp_path / f"out-{position}")] + (["-q"] if position == "after" else [])
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == 0 and done.stdout == "" and done.stderr == "", done.stderr
    debug = subprocess.run([sys.executable, "-m", "hf_d2.cli", "select", str(source), "--rate", "2",
                            "--output", str(tmp_path / "x"), "--debug"], capture_output=True, text=True, env=env)
    assert debug.returncode != 0 and "Traceback" in debug.stderr  # --debug after the subcommand works too


@pytest.mark.slow
def test_quiet_prune_with_models_prints_nothing(tmp_path):
    keyword_rows(60).save_to_disk(str(tmp_path / "data"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "hf_d2.cli", "prune", str(tmp_path / "data"), "--rate", "0.5",
                           "--cache-dir", str(tmp_path / "cache"), "--output", str(tmp_path / "out"), "-q"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0 and done.stdout == "" and done.stderr == "", done.stderr[-2000:]


def test_dataset_info_describes_the_coreset(source, tmp_path):
    assert select(source, tmp_path / "out") == 0
    info = json.loads((tmp_path / "out" / "dataset_info.json").read_text())
    assert info["splits"]["train"]["num_examples"] == 30
    assert info.get("dataset_size") in (None, 0) and info.get("download_size") in (None, 0)


def test_lopsided_coresets_warn_and_suggest_the_label_partition(tmp_path):
    dataset = datasets.Dataset.from_dict({"text": [str(i) for i in range(100)], "label": [0] * 50 + [1] * 50,
                                          "difficulty": [1.0] * 50 + [0.0] * 50,
                                          "emb": np.eye(100, 4, dtype=np.float32).tolist()})
    result = hf_d2.prune_with_scores(dataset, 0.5, method="hard", score_column="difficulty")
    assert result.record.warnings and "pass partition='label'" in result.record.warnings[0]
    assert "--partition" not in result.record.warnings[0]  # a Python caller reads Python
    balanced = hf_d2.prune_with_scores(dataset, 0.5, method="hard", score_column="difficulty", partition="label")
    assert not balanced.record.warnings


def test_the_starvation_warning_never_suggests_what_is_already_on(tmp_path, caplog, capsys):
    import logging

    dataset = datasets.Dataset.from_dict({"text": [str(i) for i in range(100)], "label": [0] * 50 + [1] * 50,
                                          "difficulty": [1.0] * 50 + [0.0] * 50,
                                          "emb": np.eye(100, 4, dtype=np.float32).tolist()})
    inside = hf_d2.prune_with_scores(dataset, 0.5, method="hard", score_column="difficulty", partition="label",
                                     prefilter=0.4)  # the pre-filter takes most of class 0 before the classes split
    warning = inside.record.warnings[0]
    assert "already runs inside each class" in warning and "pass prefilter=0" in warning and "partition=" not in warning
    small = datasets.Dataset.from_dict({"text": [str(i) for i in range(100)], "label": [0] * 96 + [1] * 4,
                                        "emb": np.eye(100, 4, dtype=np.float32).tolist()})
    chance = hf_d2.prune_with_scores(small, 0.9, method="random", embedding_column="emb")
    assert chance.record.label_counts_after["1"] < 3 and not chance.record.warnings  # random: chance, not advice
    dataset.save_to_disk(str(tmp_path / "lopsided"))
    capsys.readouterr()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="hf_d2"):
        assert cli("prune", tmp_path / "lopsided", "--rate", 0.5, "--method", "hard", "--score-column", "difficulty",
                   "--embedding-column", "emb", "--output", tmp_path / "out") == 0
    printed = [r.getMessage() for r in caplog.records if "coreset keeps" in r.getMessage()]
    summary = capsys.readouterr().out
    assert len(printed) == 1 and "pass --partition label" in printed[0]  # once, in flags
    assert "coreset keeps" not in summary and "1 warning above" in summary


def test_cards_say_one_epoch_not_one_epochs(tmp_path):
    from hf_d2.hub.card import dataset_card
    from hf_d2.record import DifficultyRecord

    dataset = keyword_rows(40)
    result = hf_d2.prune_with_scores(dataset.add_column("s", np.linspace(0, 1, 40).tolist()), 0.5, method="hard",
                                     score_column="s")
    result.record.difficulty = DifficultyRecord(score="variability", source="head", settings={"head_epochs": 1},
                                                train_accuracy=[0.9])
    text = dataset_card(result.record).text
    assert "1 epoch)" in text and "1 epochs" not in text and "trained 1 epoch on" in text


def test_record_paths_are_typed_and_old_records_load(tmp_path):
    from hf_d2.record import SelectionRecord

    old = {"method": "d2", "rate": 0.5, "budget": 2, "num_rows_before": 4, "num_rows_after": 2, "kept_row_ids": [0, 2],
           "seed": 3, "prefilter": 0.1, "partition": "none", "method_params": {"k": 5}, "score_column": None,
           "stages": {"stages": {"epochs": 3, "model": "roberta-base"}, "difficulty": {"score": "variability"},
                      "classifier": {"model": "roberta-base", "revision": "abc", "cache_key": "k1"},
                      "embedder": {"model": "sentence-transformers/all-MiniLM-L6-v2", "cache_key": "k2"}},
           "source": {"kind": "bundled", "name": "rotten_tomatoes"}}
    record = SelectionRecord.from_dict(old)
    assert record.schema_version == 2 and record.seeds.selection == 3 and record.difficulty.source == "finetune"
    assert record.difficulty.settings["epochs"] == 3 and record.embeddings.cache_key == "k2"
    assert SelectionRecord.from_json(record.to_json()) == record
    Path(tmp_path / "selection.json").write_text(json.dumps(old))
    from hf_d2.reselect import load_selection

    assert load_selection(tmp_path / "selection.json").record.kept_row_ids == [0, 2]


# ------------------------------------------------------------------------ offline means offline

NO_NETWORK = '''"""Loaded by the child interpreter (PYTHONPATH): records, then refuses, every name lookup and every
internet socket connection."""
import os
import socket

_LOG = os.environ["HF_D2_TEST_NETWORK_LOG"]
_connect = socket.socket.connect


def _record(what):
    with open(_LOG, "a") as handle:
        handle.write(what + "\\n")


def getaddrinfo(host, *args, **kwargs):
    _record(f"getaddrinfo {host}")
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known (no network in this test)")


def connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _record(f"connect {address}")
        raise OSError(101, "Network is unreachable (no network in this test)")
    return _connect(self, address)


socket.getaddrinfo = getaddrinfo
socket.socket.connect = connect
socket.socket.connect_ex = lambda self, address: connect(self, address) or 0
'''


def run_without_network(tmp_path, command):
    """Runs ``command`` (python arguments) in a child without HF_HUB_OFFLINE and with every name
    lookup and connection recorded and refused; returns (the completed process, the attempts)."""
    (tmp_path / "no_network").mkdir(exist_ok=True)
    (tmp_path / "no_network" / "sitecustomize.py").write_text(NO_NETWORK)
    log = tmp_path / "network.log"
    env = {key: value for key, value in os.environ.items()
           if key not in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env.update(PYTHONPATH=str(tmp_path / "no_network"), HF_D2_TEST_NETWORK_LOG=str(log),
               HF_D2_CACHE=str(tmp_path / "cache"))
    done = subprocess.run([sys.executable, *command], capture_output=True, text=True, env=env, timeout=600,
                          cwd=tmp_path)
    return done, (log.read_text().splitlines() if log.exists() else [])


@pytest.mark.slow
def test_offline_never_opens_a_connection_from_the_command_line_or_python(tmp_path):
    """`hf-d2 prune --offline`, then `hf_d2.prune(..., offline=True)`, in a fresh interpreter with
    no HF_HUB_OFFLINE and every name lookup and connection refused (and recorded)."""
    script = ("import sys\n"
              "from hf_d2.cli import main\n"
              "code = main(['prune', 'rotten_tomatoes', '--offline', '--rate', '0.5', '--max-examples', '120',\n"
              "             '--output', 'out'])\n"
              "print('cli exit', code)\n"
              "import hf_d2\n"
              "kept = hf_d2.prune('rotten_tomatoes', 0.5, offline=True, max_examples=80, seed=1)\n"
              "record = hf_d2.selection_record(kept)\n"
              "print('python', kept.num_rows, record.difficulty.model, record.embeddings.model)\n")
    done, attempts = run_without_network(tmp_path, ["-c", script])
    assert done.returncode == 0, done.stderr[-3000:]
    assert attempts == [], attempts
    assert "cli exit 0" in done.stdout and (tmp_path / "out" / "selection.json").exists()
    assert "python 40 " in done.stdout and "all-MiniLM-L6-v2" in done.stdout
    assert "unreachable" not in done.stderr


def test_offline_mode_ends_with_the_call(monkeypatch):
    """offline=True holds for that call only: the Hub libraries' switches are restored after it."""
    import huggingface_hub.constants

    from hf_d2.env import hub_offline_reason, offline_mode

    for variable in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    with offline_mode():
        assert datasets.config.HF_HUB_OFFLINE and huggingface_hub.constants.HF_HUB_OFFLINE
        assert os.environ["HF_HUB_OFFLINE"] == "1" and hub_offline_reason() == "offline mode"
    assert not datasets.config.HF_HUB_OFFLINE and not huggingface_hub.constants.HF_HUB_OFFLINE
    assert "HF_HUB_OFFLINE" not in os.environ


def test_the_text_column_as_labels_is_refused_in_flags_and_in_python(tmp_path, capsys):
    rows = datasets.Dataset.from_dict({"text": [f"a sentence about topic {i}" for i in range(50)],
                                       "label": [0, 1] * 25})
    rows.to_csv(str(tmp_path / "news.csv"))
    assert cli("prune", tmp_path / "news.csv", "--rate", 0.5, "--label-column", "text", "--dry-run") == 2
    err = capsys.readouterr().err
    assert "Column 'text' cannot be class labels: it has 50 classes in 50 rows" in err
    assert "--label-column COLUMN" in err and "--label-free" in err and "--allow-many-classes" in err
    assert len(err.strip().splitlines()) == 1
    with pytest.raises(hf_d2.InvalidParameterError, match="label_column=COLUMN.*label_free.*allow_many_classes"):
        rows.d2_prune(rate=0.5, label_column="text")


def test_float_labels_are_classes_when_whole_and_a_cli_error_when_not(tmp_path, capsys):
    rows = keyword_rows(40)
    rows.map(lambda row: {"label": float(row["label"]) + 1.0}).to_csv(str(tmp_path / "whole.csv"))
    assert cli("prune", tmp_path / "whole.csv", "--rate", 0.5, "--dry-run") == 0
    assert "label=label" in capsys.readouterr().out
    rows.map(lambda row: {"label": row["label"] + 0.5}).to_csv(str(tmp_path / "fractions.csv"))
    assert cli("prune", tmp_path / "fractions.csv", "--rate", 0.5, "--dry-run") == 2
    err = capsys.readouterr().err
    assert "regression target" in err and "--label-column" in err and "class_encode_column" not in err


def test_labels_one_to_four_are_four_classes_in_the_summary(tmp_path):
    rng = np.random.default_rng(0)
    rows = datasets.Dataset.from_dict({"text": [str(i) for i in range(80)], "label": [1, 2, 3, 4] * 20,
                                       "difficulty": rng.random(80).tolist(),
                                       "emb": rng.normal(size=(80, 4)).astype(np.float32).tolist()})
    record = hf_d2.prune_with_scores(rows, 0.5, score_column="difficulty", embedding_column="emb").record
    assert list(record.label_counts_before) == ["1", "2", "3", "4"]
    assert sum(record.label_counts_after.values()) == 40
