"""hf-d2 embed: the embedding stage alone writes vectors in row order (the same as the library
computes), feeds hf-d2 select through --add-column, and refuses bad input in one line."""

import json

import datasets
import numpy as np
from tiny import keyword_rows, pair_rows

from hf_d2.cli import main
from hf_d2.embed import compute_embeddings


def cli(*args):
    return main([str(a) for a in args])


def test_embed_writes_row_ordered_unit_vectors_and_a_dataset_select_can_use(tmp_path, capsys):
    rows = keyword_rows(40)
    rows.save_to_disk(str(tmp_path / "data"))
    cache = tmp_path / "cache"
    assert cli("embed", tmp_path / "data", "--embedding-model", "bundled-minilm", "--cache-dir", cache,
               "--add-column", "emb", "--output", tmp_path / "out") == 0
    vectors = np.load(tmp_path / "out" / "embeddings.npy")
    metadata = json.loads((tmp_path / "out" / "metadata.json").read_text())
    assert vectors.shape == (40, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    expected = compute_embeddings(rows, "text", model="bundled-minilm", use_cache=False, cache_dir=tmp_path / "fresh")
    np.testing.assert_allclose(vectors, expected.embeddings, atol=1e-5)
    assert metadata["model"] == "sentence-transformers/all-MiniLM-L6-v2" and metadata["text_column"] == "text"
    assert metadata["from_cache"] is False and metadata["dimensions"] == 384

    with_column = datasets.load_from_disk(str(tmp_path / "out" / "dataset"))
    assert with_column.column_names == ["text", "label", "emb"]
    np.testing.assert_allclose(np.array(with_column["emb"], dtype=np.float32), vectors)
    difficulty = with_column.add_column("difficulty", np.linspace(0, 1, 40).tolist())
    difficulty.save_to_disk(str(tmp_path / "scored"))
    assert cli("select", tmp_path / "scored", "--rate", 0.5, "--score-column", "difficulty", "--embedding-column", "emb",
               "--output", tmp_path / "pruned") == 0
    assert datasets.load_from_disk(str(tmp_path / "pruned")).num_rows == 20

    # a second run is a cache hit with the same vectors
    assert cli("embed", tmp_path / "data", "--embedding-model", "bundled-minilm", "--cache-dir", cache,
               "--output", tmp_path / "again") == 0
    np.testing.assert_array_equal(np.load(tmp_path / "again" / "embeddings.npy"), vectors)
    assert json.loads((tmp_path / "again" / "metadata.json").read_text())["from_cache"] is True


def test_embed_infers_a_text_pair(tmp_path):
    pair_rows(12).save_to_disk(str(tmp_path / "nli"))
    assert cli("embed", tmp_path / "nli", "--embedding-model", "bundled-minilm", "--cache-dir", tmp_path / "c",
               "--output", tmp_path / "out") == 0
    metadata = json.loads((tmp_path / "out" / "metadata.json").read_text())
    assert (metadata["text_column"], metadata["text_pair_column"]) == ("premise", "hypothesis")
    assert metadata["pair_format"] == "first <sep> second"


def test_embed_bad_input_is_one_line_exit_2_and_keeps_user_files(tmp_path, capsys):
    keyword_rows(10).save_to_disk(str(tmp_path / "data"))
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "mine.txt").write_text("keep me")
    capsys.readouterr()  # the setup's save_to_disk progress bar
    cases = [
        (["--output", tmp_path / "busy"], "exists and holds files hf-d2 did not write"),
        (["--text-column", "body", "--output", tmp_path / "o1"], "body"),
        (["--add-column", "label", "--output", tmp_path / "o2"], "already has a column 'label'"),
    ]
    for extra, message in cases:
        assert cli("embed", tmp_path / "data", "--embedding-model", "bundled-minilm", *extra) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    assert (tmp_path / "busy" / "mine.txt").read_text() == "keep me"
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o2").exists()
