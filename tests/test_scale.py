"""The scale path: the record of the kNN graph (what auto chose, its recall), memory-mapped
embeddings, row-batched dynamics, streaming input and k-means-partitioned D2 in several processes."""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import hf_d2
from hf_d2.cache import array_file, load_array, save_array, save_metadata
from hf_d2.cli import main
from hf_d2.difficulty.dynamics import DynamicsArrays, dynamics_schema
from hf_d2.graph import backends as graph_backends
from hf_d2.selection import select
from hf_d2.selection.partition import allocate_proportional, cluster_groups, default_num_partitions

pytestmark = pytest.mark.usefixtures("faiss_one_thread")  # tests/conftest.py


def clustered(num_rows=600, dim=16, seed=0, centres=8):
    rng = np.random.default_rng(seed)
    middle = rng.normal(size=(centres, dim))
    return (middle[rng.integers(0, centres, num_rows)] + 0.3 * rng.normal(size=(num_rows, dim))).astype(np.float32)


def column_dataset(num_rows=300, seed=0):
    rng = np.random.default_rng(seed)
    features = datasets.Features({
        "text": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"]),
        "difficulty": datasets.Value("float32"), "emb": datasets.Sequence(datasets.Value("float32"), length=16),
        "extra": datasets.Value("int64")})
    return datasets.Dataset.from_dict(
        {"text": [f"example {i}" for i in range(num_rows)], "label": rng.integers(0, 2, num_rows).tolist(),
         "difficulty": rng.random(num_rows).astype(np.float32).tolist(),
         "emb": clustered(num_rows, 16, seed).tolist(), "extra": list(range(num_rows))},
        features=features, info=datasets.DatasetInfo(description="my notes", features=features))


COLUMNS = dict(score_column="difficulty", embedding_column="emb")


# --- Part 1: the record says which graph ran -----------------------------------------------

@pytest.fixture
def auto_goes_approximate(monkeypatch):
    """As if n were large: auto's flat-search budget is tiny, so 300 rows go to IVF."""
    monkeypatch.setattr(graph_backends, "AUTO_EXACT_MAX_WORK", 1e3)


def test_auto_choice_is_logged_and_recorded_with_its_recall(auto_goes_approximate, caplog):
    with caplog.at_level(logging.INFO, logger="hf_d2"):
        result = hf_d2.prune_with_scores(column_dataset(), 0.5, knn="auto", **COLUMNS)
    chosen = [r.getMessage() for r in caplog.records if r.getMessage().startswith("knn='auto' chose")]
    assert chosen == ["knn='auto' chose 'ivf': " + result.record.graph["reason"]]
    graph = hf_d2.selection_record(result.dataset).graph
    assert graph["backend"] == "ivf" and graph["requested"] == "auto"
    assert graph["reason"].startswith("n=300, d=16: ivf, exact search too costly")
    assert 0.9 <= graph["recall"] <= 1.0 and graph["recall_sample"] == 300 and graph["k"] == 5
    assert graph["num_nodes"] == 300 and graph["num_edges"] > 300 * 5
    assert result.record.method_params["check_recall"] is True


def test_auto_never_picks_the_thread_order_dependent_hnsw_and_repeats_its_coreset(auto_goes_approximate):
    first = hf_d2.prune_with_scores(column_dataset(), 0.5, knn="auto", **COLUMNS)
    second = hf_d2.prune_with_scores(column_dataset(), 0.5, knn="auto", **COLUMNS)
    assert first.record.graph["backend"] == "ivf"
    kept = [[row for row, flag in zip(result.scores["original_index"], result.scores["kept"]) if flag]
            for result in (first, second)]
    assert len(kept[0]) == 150 and kept[0] == kept[1]


def test_exact_graph_is_recorded_without_a_recall_check():
    graph = hf_d2.prune_with_scores(column_dataset(), 0.5, **COLUMNS).record.graph
    assert graph["backend"] == "exact" and graph["reason"] is None and graph["recall"] is None


def test_cli_summary_names_the_graph_and_no_check_recall_skips_the_check(auto_goes_approximate, tmp_path, capsys):
    column_dataset().save_to_disk(str(tmp_path / "data"))
    common = ["prune", str(tmp_path / "data"), "--rate", "0.5", "--score-column", "difficulty",
              "--embedding-column", "emb", "--knn", "auto"]
    assert main([*common, "--output", str(tmp_path / "checked")]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.strip().startswith("graph:"))
    assert line.strip().startswith("graph: ivf (auto: n=300, d=16: ivf") and "recall@5 " in line
    assert main([*common, "--no-check-recall", "--output", str(tmp_path / "unchecked")]) == 0
    assert "recall not measured (--check-recall measures it)" in capsys.readouterr().out
    record = json.loads((tmp_path / "unchecked" / "selection.json").read_text())
    assert record["graph"]["backend"] == "ivf" and record["graph"]["recall"] is None
    assert record["method_params"]["check_recall"] is False


# --- Part 2: out of core ----------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["exact", "ivf", "ivfpq"])
def test_memory_mapped_embeddings_give_the_same_graph_and_coreset(tmp_path, backend):
    embeddings = clustered(2000, 16)
    path = tmp_path / "embeddings" / "key.npy"
    save_array(path, embeddings, {"dimensions": 16})
    mapped, _ = load_array(path, mmap=True)
    assert isinstance(mapped, np.memmap) and not mapped.flags.writeable
    in_memory = hf_d2.knn_graph(embeddings, k=5, backend=backend, check_recall=200, batch_size=300)
    on_disk = hf_d2.knn_graph(mapped, k=5, backend=backend, check_recall=200, batch_size=300)
    np.testing.assert_array_equal(on_disk.indptr, in_memory.indptr)
    np.testing.assert_array_equal(on_disk.indices, in_memory.indices)
    np.testing.assert_array_equal(on_disk.distances, in_memory.distances)
    assert on_disk.recall == in_memory.recall
    scores = np.random.default_rng(1).random(2000)
    np.testing.assert_array_equal(hf_d2.d2_select(mapped, scores, 500, knn=backend),
                                  hf_d2.d2_select(embeddings, scores, 500, knn=backend))


def test_array_file_is_written_in_blocks_and_appears_only_when_complete(tmp_path):
    path = tmp_path / "embeddings" / "key.npy"
    with array_file(path, (10, 3)) as array:
        array[:5] = 1.0
        assert not path.exists()
        array[5:] = 2.0
    save_metadata(path, {"dimensions": 3})
    loaded, metadata = load_array(path, mmap=True)
    np.testing.assert_array_equal(loaded, np.repeat([1.0, 2.0], 5)[:, None] * np.ones((1, 3)))
    assert metadata == {"dimensions": 3}
    with pytest.raises(RuntimeError), array_file(tmp_path / "embeddings" / "broken.npy", (4, 2)):
        raise RuntimeError("killed")
    assert sorted(p.name for p in path.parent.iterdir()) == ["key.json", "key.npy"]  # no partial file left


def dynamics_table(num_rows, epochs, classes=3, seed=0, shuffle=True, offset=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, num_rows)
    rows = {name: [] for name in dynamics_schema(classes).names}
    for epoch in range(epochs):
        logits = rng.normal(size=(num_rows, classes))
        probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        rows["row_index"].append(np.arange(num_rows) * 3 + offset)
        rows["epoch"].append(np.full(num_rows, epoch, dtype=np.int32))
        rows["step"].append(np.arange(num_rows))
        rows["label"].append(labels)
        rows["gold_prob"].append(probs[np.arange(num_rows), labels].astype(np.float32))
        rows["pred_label"].append(probs.argmax(1))
        rows["max_other_prob"].append(rng.random(num_rows).astype(np.float32))
        rows["logit_margin"].append(rng.normal(size=num_rows).astype(np.float32))
        rows["loss"].append(rng.random(num_rows).astype(np.float32))
        rows["probs"].append(probs.astype(np.float32))
    schema = dynamics_schema(classes)
    arrays = [pa.array(np.concatenate(rows[name]), type=schema.field(name).type) for name in schema.names[:-1]]
    arrays.append(pa.FixedSizeListArray.from_arrays(pa.array(np.concatenate(rows["probs"]).reshape(-1)), classes))
    table = pa.Table.from_arrays(arrays, schema=schema)
    return table.take(rng.permutation(len(table))) if shuffle else table


@pytest.mark.parametrize("offset", [0, 1])  # row ids 0, 3, 6, ... (positions found by search) or 1, 4, 7, ...
def test_dynamics_read_in_row_batches_equal_the_whole_table(tmp_path, offset):
    table = dynamics_table(500, 4, offset=offset)
    pq.write_table(table, tmp_path / "dynamics.parquet", row_group_size=300)
    whole = DynamicsArrays.from_table(table)
    batched = DynamicsArrays.from_parquet(tmp_path / "dynamics.parquet", batch_rows=128)
    for name in ("row_index", "labels", "gold_prob", "pred_label", "max_other_prob", "logit_margin", "loss", "probs"):
        np.testing.assert_array_equal(getattr(batched, name), getattr(whole, name))
    assert batched.probs.shape == (500, 4, 3) and batched.gold_prob.dtype == np.float64
    np.testing.assert_array_equal(whole.row_index, np.arange(500) * 3 + offset)


def test_dynamics_with_a_row_twice_in_an_epoch_are_refused(tmp_path):
    table = dynamics_table(50, 2, shuffle=False)
    doubled = pa.concat_tables([table, table.slice(0, 1)])
    pq.write_table(doubled, tmp_path / "dynamics.parquet")
    with pytest.raises(ValueError, match="exactly once per epoch; found row 0 epoch 0: 2x"):
        DynamicsArrays.from_parquet(tmp_path / "dynamics.parquet", batch_rows=16)


# --- Part 3: streaming input --------------------------------------------------------------------

@pytest.mark.parametrize("options", [dict(COLUMNS), dict(COLUMNS, partition="label", k=4, rate_kept=0.3)])
def test_streaming_keeps_exactly_the_rows_the_map_style_path_keeps(options):
    rate = 1 - options.pop("rate_kept", 0.5)
    dataset = column_dataset(300)
    mapped = dataset.d2_prune(rate, **options)
    stream = dataset.to_iterable_dataset(num_shards=3)
    stream.info.description = "stream notes"
    kept = stream.d2_prune(rate, **options)
    assert isinstance(kept, datasets.IterableDataset)
    rows = list(kept)
    assert rows == mapped.to_list()  # every column, original order
    record, expected = hf_d2.selection_record(kept), hf_d2.selection_record(mapped)
    assert record.kept_row_ids == expected.kept_row_ids and record.num_rows_before == 300
    assert record.source.kind == "stream" and record.label_counts_after == expected.label_counts_after
    assert record.graph["backend"] == expected.graph["backend"] and record.method_params == expected.method_params
    assert kept.info.description.startswith("stream notes") and stream.info.description == "stream notes"


def test_streaming_add_columns_match_the_map_style_columns():
    dataset = column_dataset(200, seed=3)
    mapped = dataset.d2_prune(0.6, add_columns=True, **COLUMNS)
    rows = list(dataset.to_iterable_dataset().d2_prune(0.6, add_columns=True, **COLUMNS))
    for name in ("d2_original_index", "d2_pick_rank", "d2_difficulty", "d2_forward_score"):
        np.testing.assert_allclose([row[name] for row in rows], mapped[name])


def test_streaming_reads_only_the_columns_it_needs():
    from hf_d2.options import PruneOptions
    from hf_d2.streaming import needed_columns

    stream = column_dataset(50).to_iterable_dataset()
    assert needed_columns(stream, 0.5, PruneOptions.from_values(COLUMNS)) == ["label", "difficulty", "emb"]


@pytest.mark.slow
def test_a_stream_reuses_the_embeddings_the_map_style_prune_cached(tmp_path, caplog):
    """The same texts embed once: a stream of a dataset stored in several Arrow chunks (as files
    are) hashes like the dataset, so its prune is an embedding cache hit."""
    import logging

    from tiny import keyword_rows

    dataset = datasets.concatenate_datasets([keyword_rows(30, seed=seed) for seed in range(3)])
    assert dataset.data.column("text").num_chunks == 3
    cache = str(tmp_path / "cache")
    mapped = dataset.d2_prune(rate=0.5, cache_dir=cache)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="hf_d2"):
        kept = dataset.to_iterable_dataset().d2_prune(rate=0.5, cache_dir=cache)
        rows = list(kept)
    assert "Embeddings: cache hit" in caplog.text and "Loading the embedding model" not in caplog.text
    assert rows == mapped.to_list()


# --- Part 4: k-means partitions -----------------------------------------------------------------

def test_cluster_partitions_are_seeded_kmeans_with_budgets_proportional_to_size():
    embeddings = clustered(1200, 16, centres=4)
    scores = np.random.default_rng(2).random(1200)
    groups = cluster_groups(embeddings, np.arange(1200), 4, seed=0)
    assert len(groups) == 4 and sorted(np.concatenate(groups).tolist()) == list(range(1200))
    again = cluster_groups(embeddings, np.arange(1200), 4, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(groups, again))
    details = select("d2", 300, scores=scores, embeddings=embeddings, partition="cluster", num_partitions=4,
                     return_details=True)
    kept = np.zeros(1200, dtype=bool)
    kept[details.order] = True
    budgets = allocate_proportional(np.array([g.size for g in groups]), 300)
    assert [int(kept[g].sum()) for g in groups] == budgets.tolist()
    assert details.num_groups == 4 and details.graph["groups"] == 4 and details.graph["backends"] == {"exact": 4}
    assert len(details.graph["per_group"]) == 4 and details.graph["num_nodes"] == 1200
    # inside a partition: plain D2 of that partition's rows
    first = groups[0]
    inside = hf_d2.d2_select(embeddings[first], scores[first], int(budgets[0]))
    assert set(first[inside].tolist()) == set(first[kept[first]].tolist())


def test_default_number_of_partitions_is_one_per_250k_rows():
    assert [default_num_partitions(n) for n in (10, 250_000, 250_001, 1_000_000)] == [1, 1, 2, 4]


def test_cluster_partition_through_the_pipeline_records_its_partitions():
    record = hf_d2.prune_with_scores(column_dataset(300), 0.5, partition="cluster", num_partitions=3,
                                     **COLUMNS).record
    assert record.partition == "cluster" and record.num_partitions == 3
    assert record.graph["groups"] == 3 and record.graph["num_nodes"] == 300
    assert "workers" not in record.fingerprint_fields()["options"]


@pytest.mark.slow  # spawns two Python processes (about 10 s)
def test_a_process_pool_gives_the_same_partitioned_coreset():
    embeddings = clustered(900, 16, centres=3)
    scores = np.random.default_rng(3).random(900)
    one = select("d2", 400, scores=scores, embeddings=embeddings, partition="cluster", num_partitions=3, seed=7)
    pool = select("d2", 400, scores=scores, embeddings=embeddings, partition="cluster", num_partitions=3, seed=7,
                  workers=2)
    np.testing.assert_array_equal(pool, one)


PARTITIONED_SCRIPT = """
import json, os, sys
import numpy as np
import hf_d2.selection.groups as groups
from hf_d2.selection import select
from test_scale import clustered
assert groups.distributed_world() == 2
ran = []
run_task = groups.run_task
groups.run_task = lambda name, task, *args, **kwargs: ran.append(task.position) or run_task(name, task, *args, **kwargs)
embeddings = clustered(1500, 16, centres=5)
scores = np.random.default_rng(4).random(1500)
order = select("d2", 600, scores=scores, embeddings=embeddings, partition="cluster", num_partitions=5, seed=11)
rank = int(os.environ["RANK"])
with open(os.path.join(sys.argv[1], f"rank{rank}.json"), "w") as handle:
    json.dump(ran, handle)
np.save(os.path.join(sys.argv[1], f"order{rank}.npy"), order)
"""


@pytest.mark.slow
def test_partitions_shared_by_two_accelerate_processes_give_the_one_process_coreset(tmp_path):
    """`accelerate launch` with 2 CPU processes: each takes its partitions, the results are gathered;
    the coreset equals the one-process coreset, picks in the same order."""
    script = tmp_path / "partitioned.py"
    script.write_text(PARTITIONED_SCRIPT)
    accelerate = Path(sys.executable).with_name("accelerate")
    command = [str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
               "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29533",
               str(script), str(tmp_path)]
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    embeddings = clustered(1500, 16, centres=5)
    scores = np.random.default_rng(4).random(1500)
    one = select("d2", 600, scores=scores, embeddings=embeddings, partition="cluster", num_partitions=5, seed=11)
    for rank in (0, 1):  # every rank gets every partition's picks, merged the same way
        np.testing.assert_array_equal(np.load(tmp_path / f"order{rank}.npy"), one)
    shares = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    assert sorted(shares[0] + shares[1]) == [0, 1, 2, 3, 4] and shares[0] and shares[1]  # each ran its own share


def test_ivf_inside_partitions_takes_the_groups_64_bit_seeds():
    """Each group gets a derived seed up to 2**64; faiss's k-means seed is a signed 32-bit int."""
    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(4000, 16)).astype(np.float32)
    scores = rng.random(4000)
    graph = hf_d2.knn_graph(embeddings[:2000], k=5, backend="ivf", seed=2**31 + 5)
    assert graph.num_nodes == 2000
    kept = hf_d2.select("d2", 2000, scores=scores, embeddings=embeddings, partition="cluster", num_partitions=2,
                        knn="ivf", seed=0)
    again = hf_d2.select("d2", 2000, scores=scores, embeddings=embeddings, partition="cluster", num_partitions=2,
                         knn="ivf", seed=0)
    assert kept.size == 2000 and np.array_equal(kept, again)


EXIT_SCRIPT = """
import atexit, os
import torch.distributed as dist
atexit.register(lambda: print("initialized at exit:", dist.is_initialized()))  # runs after hf_d2's handler (LIFO)
import hf_d2
dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
print("initialized:", dist.is_initialized())
"""


def test_an_open_process_group_is_destroyed_before_interpreter_exit():
    """Under `accelerate launch` a run that leaves the Gloo group open can abort at exit (SIGABRT) after
    succeeding; importing hf_d2 closes it while Python is still alive. Outside a launch nothing is registered."""
    for world, expected in (("2", "initialized at exit: False"), ("1", "initialized at exit: True")):
        env = {**os.environ, "WORLD_SIZE": world, "HF_HUB_OFFLINE": "1"}
        completed = subprocess.run([sys.executable, "-c", EXIT_SCRIPT], env=env, capture_output=True, text=True,
                                   timeout=300)
        assert completed.returncode == 0, completed.stderr[-2000:]
        assert "initialized: True" in completed.stdout and expected in completed.stdout, completed.stdout
