"""Pruning without labels: prototypicality, k-means pseudo-label dynamics, any text shape."""

import json

import datasets
import numpy as np
import pytest

import hf_d2
from hf_d2.cli import main
from hf_d2.data import infer_columns, render_chat, render_texts
from hf_d2.difficulty.head import HeadConfig, head_dynamics
from hf_d2.difficulty.label_free import default_num_clusters, prototypicality, pseudo_labels
from hf_d2.difficulty.scores import difficulty_scores


def cli(*args):
    return main([str(a) for a in args])


def clusters(seed=0):
    """Three tight clusters of 30 points, plus one far-off point in each."""
    rng = np.random.default_rng(seed)
    centres = np.array([[10.0, 0.0], [0.0, 10.0], [-10.0, -10.0]])
    points = np.concatenate([centre + rng.normal(scale=0.3, size=(30, 2)) for centre in centres])
    outliers = centres + np.array([[3.0, 0.0], [0.0, 3.0], [-3.0, 0.0]])
    return np.concatenate([points, outliers]).astype(np.float32)


def test_prototypicality_scores_points_far_from_their_centroid_harder():
    scores = prototypicality(clusters(), num_clusters=3, seed=0)
    assert scores.shape == (93,) and (scores >= 0).all()
    assert set(np.argsort(-scores)[:3]) == {90, 91, 92}  # the three far-off points are the least prototypical


def test_pseudo_labels_are_deterministic_under_a_seed_and_valid_labels():
    points = clusters()
    first, again = pseudo_labels(points, 3, seed=4), pseudo_labels(points, 3, seed=4)
    np.testing.assert_array_equal(first, again)
    assert sorted(np.unique(first)) == [0, 1, 2]
    assert len({tuple(np.unique(first[i * 30:(i + 1) * 30])) for i in range(3)}) == 3  # one cluster each
    assert default_num_clusters(300) == 9 and default_num_clusters(8000) == 45 and default_num_clusters(10) == 2


@pytest.fixture
def unlabelled(tmp_path):
    texts = [f"review {i}: the movie was {'wonderful and moving' if i % 2 else 'dull and far too long'}" for i in range(80)]
    path = tmp_path / "unlabelled.csv"
    datasets.Dataset.from_dict({"text": texts}).to_csv(str(path))
    return path


def test_a_csv_with_only_a_text_column_prunes_offline(unlabelled, tmp_path, capsys):
    assert cli("prune", unlabelled, "--rate", 0.5, "--cache-dir", tmp_path / "cache", "--output", tmp_path / "out") == 0
    out = capsys.readouterr().out
    assert "kept 40 of 80 rows" in out
    assert "pre-filter: none; groups: the k-means pseudo-labels (budget allocation proportional)" in out
    record = json.loads((tmp_path / "out" / "selection.json").read_text())
    assert record["label_free"] is True and record["label_counts_before"] is None
    assert record["difficulty"]["source"] == "head" and "pseudo-labels" in record["difficulty"]["labels"]
    assert cli("push", tmp_path / "out", "me/x", "--dry-run", "--export-dir", tmp_path / "export") == 0
    card = (tmp_path / "export" / "README.md").read_text()
    assert "k-means pseudo-labels" in card and "label-free" in card


def test_num_clusters_is_a_prune_flag_and_reaches_the_record(unlabelled, tmp_path):
    assert cli("prune", unlabelled, "--rate", 0.5, "--num-clusters", 3, "--cache-dir", tmp_path / "cache",
               "--output", tmp_path / "out") == 0
    record = json.loads((tmp_path / "out" / "selection.json").read_text())
    assert record["difficulty"]["labels"] == "k-means pseudo-labels (3 clusters of the embeddings)"


def test_pseudo_label_dynamics_equal_the_supervised_path_given_those_labels(unlabelled, tmp_path):
    rows = datasets.load_dataset("csv", data_files=str(unlabelled), split="train")
    free = hf_d2.prune_with_scores(rows, 0.5, cache_dir=str(tmp_path / "c"))
    embeddings = hf_d2.embed.compute_embeddings(rows, "text", cache_dir=str(tmp_path / "c")).embeddings
    pseudo = pseudo_labels(embeddings, seed=0)
    # both run D2 inside each (pseudo-)class with the relative reverse pass and near duplicates
    # (hf_d2.selection.defaults); with labels the margin pre-filter applies too, so it is switched off
    supervised = hf_d2.prune_with_scores(rows.add_column("label", pseudo.tolist()), 0.5, cache_dir=str(tmp_path / "c"),
                                         prefilter=0.0)
    np.testing.assert_allclose(free.scores["difficulty"], supervised.scores["difficulty"])
    direct = difficulty_scores(head_dynamics(embeddings, pseudo, HeadConfig(seed=0)), "variability")
    np.testing.assert_allclose(free.scores["difficulty"], direct)
    assert free.record.kept_row_ids == supervised.record.kept_row_ids


def test_prototypicality_source_and_label_free_on_labelled_data(unlabelled, tmp_path):
    rows = datasets.load_dataset("csv", data_files=str(unlabelled), split="train")
    labelled = rows.add_column("label", [i % 2 for i in range(80)])
    proto = hf_d2.prune_with_scores(labelled, 0.5, difficulty_source="prototypicality", cache_dir=str(tmp_path / "c"))
    assert proto.record.label_free and proto.record.difficulty.source == "prototypicality"
    assert proto.record.label_counts_before == {"0": 40, "1": 40}  # counts are still shown
    forced = hf_d2.prune_with_scores(labelled, 0.5, label_free=True, cache_dir=str(tmp_path / "c"))
    plain = hf_d2.prune_with_scores(rows, 0.5, cache_dir=str(tmp_path / "c"))
    assert forced.record.kept_row_ids == plain.record.kept_row_ids  # the labels were not read
    with pytest.raises(ValueError, match="partition='label' reads class labels"):
        hf_d2.prune_with_scores(labelled, 0.5, label_free=True, partition="label", cache_dir=str(tmp_path / "c"))


@pytest.mark.parametrize("method", ["random", "kcenter", "moderate"])
def test_methods_that_need_no_labels_run_without_them(unlabelled, tmp_path, method):
    rows = datasets.load_dataset("csv", data_files=str(unlabelled), split="train")
    assert rows.d2_prune(rate=0.75, method=method, cache_dir=str(tmp_path / "c")).num_rows == 20


def test_instruction_and_chat_layouts_are_recognised_and_rendered(tmp_path, caplog):
    import logging

    instructions = datasets.Dataset.from_dict({"instruction": ["Add", "Name"], "input": ["2 and 3", ""],
                                               "output": ["5", "Ada"]})
    with caplog.at_level(logging.INFO, logger="hf_d2"):
        columns = infer_columns(instructions, require_label=False)
    assert columns.template == "{instruction}\n{input}\n{output}" and "rendered from instruction" in caplog.text
    assert render_texts(instructions, columns) == ["Add\n2 and 3\n5", "Name\n\nAda"]
    pairs = datasets.Dataset.from_dict({"prompt": ["Hi"], "response": ["Hello"]})
    assert render_texts(pairs, infer_columns(pairs, require_label=False)) == ["Hi\nHello"]
    chat = datasets.Dataset.from_dict({"messages": [[{"role": "user", "content": "2+2?"},
                                                     {"role": "assistant", "content": "4"}]]})
    columns = infer_columns(chat, require_label=False)
    assert columns.template == "chat" and render_texts(chat, columns) == ["user: 2+2?\nassistant: 4"]
    assert render_chat([{"from": "human", "value": "hey"}]) == "human: hey"
    custom = infer_columns(instructions, text_template="Q: {instruction} A: {output}", require_label=False)
    assert render_texts(instructions, custom) == ["Q: Add A: 5", "Q: Name A: Ada"]


def test_an_instruction_jsonl_prunes_and_keeps_its_columns(tmp_path):
    rows = [{"instruction": f"Task {i}: {'summarise' if i % 2 else 'translate'} this", "input": f"text {i}",
             "output": f"answer {i}"} for i in range(60)]
    path = tmp_path / "instructions.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    assert cli("prune", path, "--rate", 0.5, "--cache-dir", tmp_path / "cache", "--output", tmp_path / "out") == 0
    pruned = datasets.load_from_disk(str(tmp_path / "out"))
    assert pruned.num_rows == 30 and pruned.column_names == ["instruction", "input", "output"]
    record = json.loads((tmp_path / "out" / "selection.json").read_text())
    assert record["columns"]["text_template"] == "{instruction}\n{input}\n{output}" and record["label_free"]


@pytest.mark.parametrize("args, message", [
    (["--text-template", "{instruction} {missing}"], "names column(s) missing that the dataset does not have"),
    (["--text-template", "no columns"], "names no column"),
])
def test_unlabelled_bad_input_is_one_line_exit_2(tmp_path, capsys, args, message):
    datasets.Dataset.from_dict({"instruction": ["a", "b", "c"], "output": ["x", "y", "z"]}).to_json(str(tmp_path / "d.jsonl"))
    assert cli("prune", tmp_path / "d.jsonl", "--rate", 0.5, *args, "--output", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert message in err and "--text-template" in err and len(err.strip().splitlines()) == 1


def test_empty_texts_in_an_unlabelled_file_are_one_line(tmp_path, capsys):
    datasets.Dataset.from_dict({"text": ["fine", "", "also fine", None]}).to_json(str(tmp_path / "d.jsonl"))
    assert cli("prune", tmp_path / "d.jsonl", "--rate", 0.5, "--output", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "2 missing, empty or whitespace-only text(s) (rows 1, 3)" in err and "--drop-empty" in err


def test_the_switch_to_label_free_is_a_warning_that_names_the_likely_label_column(tmp_path, caplog, capsys):
    """A dataset whose labels sit in a column named 'topic': the run says so at WARNING level, in
    the caller's words, and the record keeps the warning."""
    import logging

    rng = np.random.default_rng(0)
    rows = datasets.Dataset.from_dict({"text": [f"text {i}" for i in range(60)],
                                       "topic": ["world", "sports", "business", "tech"] * 15,
                                       "emb": rng.normal(size=(60, 8)).astype(np.float32).tolist()})
    with caplog.at_level(logging.WARNING, logger="hf_d2"):
        kept = rows.d2_prune(rate=0.5, embedding_column="emb", cache_dir=str(tmp_path / "cache"))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "label-free" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert "Column 'topic' (4 classes) looks like class labels: pass label_column='topic'" in warnings[0]
    assert "label_free=True" in warnings[0] and "--label-column" not in warnings[0]
    record = hf_d2.selection_record(kept)
    assert record.label_free and any("label_column='topic'" in warning for warning in record.warnings)
    rows.remove_columns("emb").to_csv(str(tmp_path / "topics.csv"))
    caplog.clear()
    assert main(["prune", str(tmp_path / "topics.csv"), "--rate", "0.5", "--dry-run"]) == 0
    assert "pass --label-column topic to use it, or pass --label-free to prune label-free" in caplog.text


def uneven_clusters(copies=0, seed=0):
    """Rows of three well-separated clusters of 200, 100 and 50 points (16-d), as a dataset with an
    embedding column and no labels; the first ``copies`` rows of the largest cluster appear twice more."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, 16)) * 20
    sizes = (200, 100, 50)
    points = np.concatenate([centre + rng.normal(size=(size, 16)) for centre, size in zip(centres, sizes)])
    cluster = np.repeat(np.arange(3), sizes)
    if copies:
        points = np.concatenate([points, points[:copies], points[:copies]])
        cluster = np.concatenate([cluster, cluster[:copies], cluster[:copies]])
    source = np.concatenate([np.arange(350), np.arange(copies), np.arange(copies)])
    rows = datasets.Dataset.from_dict({"text": [f"row {i}" for i in source], "emb": points.astype(np.float32).tolist(),
                                       "cluster": cluster.tolist()})
    return rows


def test_the_label_free_default_gives_each_pseudo_label_cluster_its_share(tmp_path):
    """D2 inside each k-means pseudo-label cluster, budgets proportional to the cluster sizes: at
    rate 0.6 the clusters of 200, 100 and 50 keep 80, 40 and 20 rows; the record says how."""
    rows = uneven_clusters()
    result = hf_d2.prune_with_scores(rows, 0.6, embedding_column="emb", num_clusters=3, cache_dir=str(tmp_path / "c"))
    kept = np.bincount(result.dataset["cluster"], minlength=3)
    assert kept.tolist() == [80, 40, 20]
    record = result.record
    assert record.label_free and record.partition == "label" and record.prefilter == 0.0
    assert record.partition_text() == "the k-means pseudo-labels (budget allocation proportional)"
    assert record.method_params["reverse"] == "relative" and record.duplicates["mode"] == "near"
    again = hf_d2.prune_with_scores(rows, 0.6, embedding_column="emb", num_clusters=3, cache_dir=str(tmp_path / "c"))
    assert again.record.kept_row_ids == record.kept_row_ids


def test_the_label_free_default_keeps_one_copy_of_each_row_first(tmp_path):
    """60 rows of the largest cluster three times (470 rows): at rate 0.3 (329 kept) all 350
    distinct rows cannot fit, but no row is kept twice while a distinct one is dropped."""
    rows = uneven_clusters(copies=60)
    result = hf_d2.prune_with_scores(rows, 0.3, embedding_column="emb", num_clusters=3, cache_dir=str(tmp_path / "c"))
    texts = result.dataset["text"]
    assert len(texts) == 329 and len(set(texts)) == 329
    assert result.record.duplicates["duplicate_rows"] == 120
