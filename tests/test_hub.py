"""Publishing a coreset: the Hub export round-trips through load_dataset, the card carries the
standard keys, the push (against a local fake Hub) uploads exactly the export without leaking the
token, and a record re-selects the same coreset (or a prefix at another rate)."""

import dataclasses
import json
import shlex
from pathlib import Path

import datasets
import numpy as np
import pytest
from fake_hub import FakeHub, Repo
from huggingface_hub import DatasetCard

import hf_d2
from hf_d2.cli import main
from hf_d2.hub import (
    command_line,
    dataset_card,
    export_for_hub,
    license_warning,
    push_coreset,
    size_category,
)
from hf_d2.record import DifficultyRecord
from hf_d2.reselect import Selection, load_selection, reselect

TOKEN = "hf_fakeWriteToken0123456789abcdef"
NUM_ROWS = 80


def cli(*args):
    return main([str(a) for a in args])


@pytest.fixture
def source(tmp_path):
    """A local save_to_disk dataset with a ClassLabel, a difficulty and an embedding column."""
    rng = np.random.default_rng(3)
    dataset = datasets.Dataset.from_dict({
        "text": [f"row {i}" for i in range(NUM_ROWS)],
        "label": rng.integers(0, 3, NUM_ROWS).tolist(),
        "difficulty": rng.random(NUM_ROWS).tolist(),
        "emb": rng.normal(size=(NUM_ROWS, 5)).astype(np.float32).tolist(),
    }).cast_column("label", datasets.ClassLabel(names=["negative", "neutral", "positive"]))
    path = tmp_path / "source"
    dataset.save_to_disk(str(path))
    return path


@pytest.fixture
def result(source):
    return hf_d2.prune(str(source), 0.5, score_column="difficulty", embedding_column="emb", k=4, return_result=True)


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """A fake Hub on localhost; huggingface_hub pointed at it, allowed online, and with no token
    but the ones a test gives."""
    from huggingface_hub import constants

    fake = FakeHub(TOKEN).start()
    monkeypatch.setattr(constants, "ENDPOINT", fake.url)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-stored-token"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    yield fake
    fake.stop()


def folder_bytes(folder: Path) -> dict[str, bytes]:
    """The files of a folder, without hf-d2's local marker (which is never pushed)."""
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in folder.rglob("*")
            if path.is_file() and path.name != ".hf-d2-output"}


def rows(dataset) -> list[dict]:
    return dataset.to_list()


# ---------------------------------------------------------------------------------------------
# Export and card
# ---------------------------------------------------------------------------------------------

def test_export_round_trips_through_load_dataset_and_the_card(result, tmp_path):
    folder = export_for_hub(result, tmp_path / "export", repo_id="me/coreset")
    assert sorted(folder_bytes(folder)) == ["README.md", "data/train-00000-of-00001.parquet", "hf_d2/selection.json",
                                            "scores/train-00000-of-00001.parquet"]
    loaded = datasets.load_dataset(str(folder))
    assert list(loaded) == ["train"]
    assert loaded["train"].features == result.dataset.features  # ClassLabel names survive
    assert rows(loaded["train"]) == rows(result.dataset)
    scores = datasets.load_dataset(str(folder), "scores", split="train")
    assert scores.column_names == ["original_index", "difficulty", "forward_score", "pick_rank", "kept",
                                   "projection_x", "projection_y"]
    assert rows(scores) == rows(result.scores)
    assert json.loads((folder / "hf_d2" / "selection.json").read_text()) == result.record.to_dict()

    card = DatasetCard.load(folder / "README.md")
    data = card.data.to_dict()
    assert data["license"] == "unknown"  # a local source records no license
    assert "source_datasets" not in data  # a local folder is no Hub dataset
    assert data["tags"] == ["hf-d2", "data-pruning", "coreset"]
    assert data["task_categories"] == ["text-classification"] and data["size_categories"] == ["n<1K"]
    assert [(c["config_name"], c["data_files"]) for c in data["configs"]] == [
        ("default", [{"split": "train", "path": "data/train-*"}]),
        ("scores", [{"split": "train", "path": "scores/train-*"}])]
    assert {info["config_name"]: info["splits"][0]["num_examples"] for info in data["dataset_info"]} == {
        "default": 40, "scores": NUM_ROWS}
    body = card.text
    counts_before, counts_after = result.record.label_counts_before, result.record.label_counts_after
    for label in ("negative", "neutral", "positive"):
        assert f"| {label} | {counts_before[label]:,} | {counts_after[label]:,} |" in body
    assert "| `k` | `4` |" in body and "| pruning rate | 0.5 (kept 40 of 80) |" in body
    assert "| difficulty | kept | 40 |" in body
    assert "arXiv 2310.07931" in body and "Maharana, Adyasha and Yadav, Prateek and Bansal, Mohit" in body
    assert 'load_dataset("me/coreset", "scores", split="train")' in body


def test_the_cards_command_reproduces_the_coreset(result, source, tmp_path):
    folder = export_for_hub(result, tmp_path / "export")
    body = DatasetCard.load(folder / "README.md").text
    command = body.split("## Reproduce it", 1)[1].split("```bash\n", 1)[1].split("\n", 1)[0]
    args = shlex.split(command)
    assert args[:3] == ["hf-d2", "select", str(source)]
    assert cli(*args[1:], "--output", tmp_path / "again") == 0
    assert rows(datasets.load_from_disk(str(tmp_path / "again"))) == rows(result.dataset)


def test_export_of_a_cli_output_folder_and_a_dataset_dict(source, tmp_path):
    assert cli("select", source, "--rate", 0.25, "--score-column", "difficulty", "--embedding-column", "emb",
               "--output", tmp_path / "out") == 0
    assert (tmp_path / "out" / "scores.parquet").is_file()  # select writes the scores table too
    folder = export_for_hub(tmp_path / "out", tmp_path / "export")
    assert datasets.load_dataset(str(folder), split="train").num_rows == 60
    assert json.loads((folder / "hf_d2" / "selection.json").read_text())["command"].startswith("hf-d2 select ")

    whole = datasets.load_from_disk(str(source))
    pruned = whole.d2_prune(rate=0.5, score_column="difficulty", embedding_column="emb")
    dict_folder = export_for_hub(datasets.DatasetDict({"train": pruned, "test": whole.select(range(10))}),
                                 tmp_path / "dict-export")
    loaded = datasets.load_dataset(str(dict_folder))
    assert {name: split.num_rows for name, split in loaded.items()} == {"train": 40, "test": 10}
    assert not (dict_folder / "scores").exists()  # no scores table given: no scores config
    assert "`test` are the source's, unpruned" in (dict_folder / "README.md").read_text()


def test_export_refuses_a_non_empty_folder_without_overwrite(result, tmp_path):
    target = tmp_path / "export"
    target.mkdir()
    (target / "mine.txt").write_text("keep")
    with pytest.raises(FileExistsError, match="holds files hf-d2 did not write.*never replaces such a folder"):
        export_for_hub(result, target)
    assert (target / "mine.txt").read_text() == "keep"
    with pytest.raises(FileExistsError, match="holds files hf-d2 did not write"):  # overwrite never deletes user files
        export_for_hub(result, target, overwrite=True)
    assert (target / "mine.txt").read_text() == "keep"
    earlier = export_for_hub(result, tmp_path / "earlier")
    assert export_for_hub(result, earlier, overwrite=True) == earlier and (earlier / "README.md").is_file()
    with pytest.raises(ValueError, match="no hf-d2 selection record"):
        export_for_hub(datasets.Dataset.from_dict({"a": [1]}), tmp_path / "other")


def test_large_exports_are_sharded(result, tmp_path):
    folder = export_for_hub(result, tmp_path / "export", max_shard_size=1000)
    shards = sorted(p.name for p in (folder / "data").iterdir())
    assert len(shards) > 1 and shards[0].endswith(f"-of-{len(shards):05d}.parquet")
    assert rows(datasets.load_dataset(str(folder), split="train")) == rows(result.dataset)


@pytest.mark.parametrize("license_id, fragment", [
    ("cc-by-nc-4.0", "only for non-commercial use"),
    ("cc-by-nc-nd-4.0", "forbids sharing modified copies"),
    ("unknown", "license is unknown: check that it allows redistribution"),
    ("other", "license is 'other' (custom terms)"),
    (None, "records no license"),
    ("Some Custom Terms", "license is not one the Hub knows (Some Custom Terms)"),
    ("mit", None),
    ("cc-by-sa-4.0", None),
])
def test_license_warnings(license_id, fragment):
    warning = license_warning(license_id)
    assert (warning is None) if fragment is None else (fragment in warning and "\n" not in warning)


def test_card_inherits_the_source_license_and_sizes(result, tmp_path):
    result.record.source.license, result.record.source.kind = "cc-by-nc-4.0", "hub"
    result.record.source.repo_id, result.record.source.split = "facebook/anli", "train_r3"
    card = DatasetCard.load(export_for_hub(result, tmp_path / "export") / "README.md")
    assert card.data.license == "cc-by-nc-4.0" and card.data.source_datasets == ["facebook/anli"]
    assert "[facebook/anli](https://huggingface.co/datasets/facebook/anli), split `train_r3`" in card.text
    assert "Inherited from the source dataset: `cc-by-nc-4.0`. Non-commercial use only" in card.text
    assert [size_category(n) for n in (999, 1000, 25_000, 2_000_000)] == ["n<1K", "1K<n<10K", "10K<n<100K",
                                                                          "1M<n<10M"]


def test_recorded_commands_never_hold_a_token():
    line = command_line(["prune", "x", "--token", TOKEN, "--token=" + TOKEN, "--note", TOKEN])
    assert line == "hf-d2 prune x --note '***'"


# ---------------------------------------------------------------------------------------------
# Re-selection from a record
# ---------------------------------------------------------------------------------------------

def test_reselect_from_an_export_gives_the_same_coreset_and_prefixes(result, source, tmp_path):
    folder = export_for_hub(result, tmp_path / "export")
    selection = load_selection(folder)
    same = reselect(selection)
    assert same.record.kept_row_ids == result.record.kept_row_ids
    assert rows(same.dataset) == rows(result.dataset)
    # from the scores config alone: the rows with the lowest pick ranks
    scores = datasets.load_dataset(str(folder), "scores", split="train")
    for rate in (0.5, 0.8):
        budget = round((1 - rate) * NUM_ROWS)
        from_config = sorted(i for i, r in zip(scores["original_index"], scores["pick_rank"]) if 0 <= r < budget)
        at_rate = reselect(selection, rate)
        direct = hf_d2.prune(str(source), rate, score_column="difficulty", embedding_column="emb", k=4,
                             return_result=True)
        assert at_rate.record.kept_row_ids == from_config == direct.record.kept_row_ids
        assert set(at_rate.record.kept_row_ids) <= set(result.record.kept_row_ids) or rate < 0.5
        assert rows(at_rate.dataset) == rows(direct.dataset)
        assert at_rate.record.label_counts_after == direct.record.label_counts_after
    lower = reselect(selection, 0.2)  # a lower rate: a superset, still exact (every row was ranked)
    assert set(result.record.kept_row_ids) < set(lower.record.kept_row_ids)


def test_prefiltered_d2_ranks_every_surviving_row(source):
    dataset = datasets.load_from_disk(str(source))
    run = hf_d2.prune_with_scores(dataset, 0.5, score_column="difficulty", embedding_column="emb", prefilter=0.2)
    ranks = np.array(run.scores["pick_rank"])
    assert run.record.ranked_rows == (ranks >= 0).sum() == NUM_ROWS - 16  # ⌊0.2 · 80⌋ dropped, the rest ranked
    assert ranks[np.argsort(-np.array(dataset["difficulty"]))[:16]].tolist() == [-1] * 16  # the hardest 16
    selection = Selection(record=run.record, scores=run.scores, location="memory")
    for rate in (0.5, 0.7, 0.9):
        direct = hf_d2.prune_with_scores(dataset, rate, score_column="difficulty", embedding_column="emb",
                                         prefilter=0.2)
        assert reselect(selection, rate, source=dataset).record.kept_row_ids == direct.record.kept_row_ids
    # a run whose difficulty came from the model stages cannot re-rank the pre-filtered rows
    staged = Selection(record=dataclasses.replace(run.record, difficulty=DifficultyRecord(
        score="variability", source="head")), scores=run.scores, location="memory")
    with pytest.raises(ValueError, match=r"rates ≥ 0.2 can be re-selected: re-run hf-d2 prune with --rate 0.1"):
        reselect(staged, 0.1, source=dataset)


def test_non_prefix_methods_rerun_on_the_source_columns(source):
    dataset = datasets.load_from_disk(str(source))
    run = hf_d2.prune_with_scores(dataset, 0.5, method="ccs", score_column="difficulty", num_strata=5)
    selection = Selection(record=run.record, scores=run.scores, location="memory")
    assert reselect(selection, source=dataset).record.kept_row_ids == run.record.kept_row_ids
    direct = hf_d2.prune_with_scores(dataset, 0.7, method="ccs", score_column="difficulty", num_strata=5)
    assert reselect(selection, 0.7, source=dataset).record.kept_row_ids == direct.record.kept_row_ids


def test_cli_select_from_selection(source, tmp_path, capsys):
    common = ["--score-column", "difficulty", "--embedding-column", "emb", "--k", 4]
    assert cli("select", source, "--rate", 0.5, *common, "--output", tmp_path / "first") == 0
    first = datasets.load_from_disk(str(tmp_path / "first"))

    assert cli("select", "--from-selection", tmp_path / "first" / "selection.json", "--output", tmp_path / "same") == 0
    assert rows(datasets.load_from_disk(str(tmp_path / "same"))) == rows(first)
    record = json.loads((tmp_path / "same" / "selection.json").read_text())
    assert record["reselected_from"]["rate"] == 0.5 and record["command"].startswith("hf-d2 select --from-selection")

    assert cli("select", "--from-selection", tmp_path / "first", "--rate", 0.75, "--output", tmp_path / "quarter") == 0
    assert cli("select", source, "--rate", 0.75, *common, "--output", tmp_path / "direct") == 0
    quarter = datasets.load_from_disk(str(tmp_path / "quarter"))
    assert rows(quarter) == rows(datasets.load_from_disk(str(tmp_path / "direct")))
    assert set(quarter["text"]) < set(first["text"])

    # an export folder works too, and PATH points at a moved source
    assert cli("push", tmp_path / "first", "me/x", "--dry-run", "--export-dir", tmp_path / "export") == 0
    moved = tmp_path / "moved"
    source.rename(moved)
    assert cli("select", moved, "--from-selection", tmp_path / "export", "--rate", 0.75,
               "--output", tmp_path / "from-export") == 0
    assert rows(datasets.load_from_disk(str(tmp_path / "from-export"))) == rows(quarter)


@pytest.mark.parametrize("args, message", [
    (["--from-selection", "nowhere.json"], "No selection record at 'nowhere.json'"),
    (["--from-selection", "{first}", "--method", "random"], "--from-selection re-runs the recorded selection; drop --method"),
    (["--from-selection", "{first}", "--rate", "1.5"], "must be in [0, 1)"),
    (["--from-selection", "{first}/hf-d2-missing-source"], "No selection record"),
    (["--from-selection", "{first}", "{first}/nothing-here"], "Cannot load the source rows from '"),
    (["--rate", "0.5"], "hf-d2 select needs PATH"),
])
def test_from_selection_bad_input_is_one_line_exit_2(source, tmp_path, capsys, args, message):
    assert cli("select", source, "--rate", 0.5, "--method", "random", "--output", tmp_path / "first") == 0
    capsys.readouterr()
    args = [a.replace("{first}", str(tmp_path / "first")) for a in args]
    assert cli("select", *args, "--output", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_from_selection_says_when_the_recorded_source_is_gone(source, tmp_path, capsys):
    assert cli("select", source, "--rate", 0.5, "--method", "random", "--output", tmp_path / "first") == 0
    source.rename(tmp_path / "elsewhere")
    capsys.readouterr()
    assert cli("select", "--from-selection", tmp_path / "first", "--output", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert f"Cannot load the source rows from '{source}'" in err and "pass a local copy" in err
    assert len(err.strip().splitlines()) == 1


# ---------------------------------------------------------------------------------------------
# Push, against a fake Hub
# ---------------------------------------------------------------------------------------------

def assert_token_only_in_authorization(hub: FakeHub, *folders: Path):
    assert hub.requests
    for request in hub.requests:
        assert TOKEN not in request.path and TOKEN.encode() not in request.body
        for name, value in request.headers.items():
            assert TOKEN not in value or (name == "authorization" and value == f"Bearer {TOKEN}")
    for folder in folders:
        for path, content in folder_bytes(folder).items():
            assert TOKEN.encode() not in content, path


def test_prune_push_to_hub_uploads_exactly_the_export(hub, source, tmp_path, capsys):
    out = tmp_path / "out"
    assert cli("prune", source, "--rate", 0.5, "--method", "random", "--output", out,
               "--push-to-hub", "me/coreset", "--token", TOKEN) == 0
    captured = capsys.readouterr()
    uploaded = {path: content for path, content in hub.files("me/coreset").items() if path != ".gitattributes"}
    assert uploaded == folder_bytes(out / "hub")
    assert f"Pushed to {hub.url}/datasets/me/coreset/commit/" in captured.out
    assert_token_only_in_authorization(hub, out)
    assert TOKEN not in captured.out + captured.err
    record = json.loads(uploaded["hf_d2/selection.json"])
    assert record["command"].endswith("--push-to-hub me/coreset") and record["method"] == "random"
    card = DatasetCard(uploaded["README.md"].decode())
    assert [c["config_name"] for c in card.data.configs] == ["default", "scores"]
    assert 'load_dataset("me/coreset", split="train")' in card.text
    commit_endpoints = [r.path.split("?")[0] for r in hub.requests if r.method == "POST"]
    assert commit_endpoints == ["/api/repos/create", "/api/validate-yaml", "/api/datasets/me/coreset/preupload/main",
                                "/api/datasets/me/coreset/commit/main"]  # one commit: data, scores, record, card


def test_push_merges_an_existing_card_and_drops_stale_shards(hub, result, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)  # the token from the usual places
    existing = ("---\nlanguage:\n- en\nlicense: mit\ntags:\n- reviews\n- coreset\n"
                "configs:\n- config_name: extra\n  data_files:\n  - split: train\n    path: extra/*.csv\n"
                "---\n\n# Old card\n")
    hub.repos["me/coreset"] = repo = Repo(private=False)
    repo.branches["main"].update({"README.md": existing.encode(), "extra/a.csv": b"x\n1\n",
                                  "data/train-00000-of-00002.parquet": b"old", "data/train-00001-of-00002.parquet": b"old"})
    folder = export_for_hub(result, tmp_path / "export", repo_id="me/coreset")
    commit = push_coreset(folder, "me/coreset")
    files = hub.files("me/coreset")
    assert sorted(files) == [".gitattributes", "README.md", "data/train-00000-of-00001.parquet", "extra/a.csv",
                             "hf_d2/selection.json", "scores/train-00000-of-00001.parquet"]
    card = DatasetCard(files["README.md"].decode())
    assert [c["config_name"] for c in card.data.configs] == ["default", "extra", "scores"]  # configs survive
    assert card.data.language == ["en"] and card.data.license == "unknown"  # ours wins on the keys it sets
    assert card.data.tags == ["hf-d2", "data-pruning", "coreset", "reviews"]
    assert "# Old card" not in card.text and "## How it was selected" in card.text
    for path in ("data/train-00000-of-00001.parquet", "scores/train-00000-of-00001.parquet", "hf_d2/selection.json"):
        assert files[path] == (folder / path).read_bytes()
    assert commit.commit_url.startswith(f"{hub.url}/datasets/me/coreset/commit/")
    assert_token_only_in_authorization(hub, folder)


def test_push_cli_exports_an_output_folder_first(hub, source, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_TOKEN", TOKEN)  # the token from the usual places
    assert cli("select", source, "--rate", 0.5, "--score-column", "difficulty", "--embedding-column", "emb",
               "--output", tmp_path / "out") == 0
    assert cli("push", tmp_path / "out", "me/from-output") == 0
    uploaded = {path: content for path, content in hub.files("me/from-output").items() if path != ".gitattributes"}
    assert uploaded == folder_bytes(export_for_hub(tmp_path / "out", tmp_path / "export", repo_id="me/from-output"))
    assert TOKEN not in "".join(capsys.readouterr())
    assert_token_only_in_authorization(hub, tmp_path / "out")


def test_push_cli_private_revision_and_pull_request(hub, result, tmp_path, capsys):
    folder = export_for_hub(result, tmp_path / "export")  # no repo id: the card's placeholder is filled at push
    assert cli("push", folder, "me/private-coreset", "--private", "--token", TOKEN) == 0
    assert hub.repos["me/private-coreset"].private is True
    card = hub.files("me/private-coreset")["README.md"].decode()
    assert 'load_dataset("me/private-coreset", split="train")' in card and "USER/REPO" not in card

    assert cli("push", folder, "me/private-coreset", "--revision", "v2", "--token", TOKEN) == 0
    assert "hf_d2/selection.json" in hub.files("me/private-coreset", "v2")

    before = dict(hub.files("me/private-coreset"))
    (tmp_path / "export" / "hf_d2" / "selection.json").write_text(
        (tmp_path / "export" / "hf_d2" / "selection.json").read_text().replace('"budget": 40', '"budget": 40 '))
    capsys.readouterr()
    assert cli("push", folder, "me/private-coreset", "--create-pr", "--token", TOKEN) == 0
    assert capsys.readouterr().out.strip() == f"Pushed to {hub.url}/datasets/me/private-coreset/discussions/1"
    assert hub.files("me/private-coreset") == before  # main untouched; the change is in the pull request
    assert hub.repos["me/private-coreset"].pull_requests[0]["hf_d2/selection.json"] != before["hf_d2/selection.json"]
    assert_token_only_in_authorization(hub, folder)


def test_push_refuses_to_publish_into_an_existing_public_repo_as_private(hub, result, tmp_path, capsys):
    folder = export_for_hub(result, tmp_path / "export")
    assert cli("push", folder, "me/public", "--token", TOKEN) == 0
    commits = len(hub.repos["me/public"].commits)
    assert cli("push", folder, "me/public", "--private", "--token", TOKEN) == 2
    err = capsys.readouterr().err
    assert "exists and is public; --private does not change an existing repository" in err
    assert len(hub.repos["me/public"].commits) == commits


def test_push_warns_about_restrictive_licenses_unless_private(hub, result, tmp_path, caplog):
    result.record.source.license = "cc-by-nc-4.0"
    folder = export_for_hub(result, tmp_path / "export")
    assert cli("push", folder, "me/nc", "--token", TOKEN) == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("allows redistribution only for non-commercial use" in w and "--private" in w for w in warnings)
    caplog.clear()
    assert cli("push", folder, "me/nc-private", "--private", "--token", TOKEN) == 0
    assert not [r for r in caplog.records if "non-commercial" in r.getMessage()]


@pytest.mark.parametrize("token, message", [
    ("hf_wrongToken000000000000000000", "The Hub refused the token for me/denied (401)"),
    (None, "The Hub refused the token for me/denied (401)"),
])
def test_push_failures_are_one_line(hub, result, tmp_path, capsys, token, message):
    folder = export_for_hub(result, tmp_path / "export")
    capsys.readouterr()
    assert cli("push", folder, "me/denied", *(["--token", token] if token else [])) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert "me/denied" not in hub.repos


def test_a_failed_push_after_prune_keeps_the_output_and_says_how_to_retry(hub, source, tmp_path, capsys):
    out = tmp_path / "out"
    assert cli("prune", source, "--rate", 0.5, "--method", "random", "--output", out,
               "--push-to-hub", "me/coreset", "--token", "hf_wrongToken000000000000000000") == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"Wrote {out}, but the push failed: The Hub refused the token" in err
    assert err.endswith(f"Push again with: hf-d2 push {out / 'hub'} me/coreset")
    assert datasets.load_from_disk(str(out)).num_rows == 40 and (out / "hub" / "README.md").is_file()
    assert "me/coreset" not in hub.repos


def test_push_offline_and_bad_source_are_one_line(result, tmp_path, capsys):
    folder = export_for_hub(result, tmp_path / "export")  # conftest keeps HF_HUB_OFFLINE=1 here
    assert cli("push", folder, "me/x", "--token", TOKEN) == 2
    assert "offline mode (HF_HUB_OFFLINE=1)" in capsys.readouterr().err
    assert cli("push", tmp_path / "nothing", "me/x") == 2
    assert "No folder at" in capsys.readouterr().err
    assert cli("prune", "rotten_tomatoes", "--rate", 0.5, "--output", tmp_path / "o", "--private") == 2
    assert "--private applies only with --push-to-hub REPO" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_select_from_a_pushed_repo(hub, result, source, tmp_path):
    folder = export_for_hub(result, tmp_path / "export", repo_id="me/coreset")
    push_coreset(folder, "me/coreset", token=TOKEN)
    assert cli("select", "--from-selection", "me/coreset", "--rate", 0.8, "--output", tmp_path / "out") == 0
    expected = reselect(load_selection(folder), 0.8)
    assert rows(datasets.load_from_disk(str(tmp_path / "out"))) == rows(expected.dataset)


def test_push_as_a_user_runs_it_hf_endpoint_and_hf_token_from_the_environment(result, tmp_path):
    """The real path: a separate `hf-d2 push` process that finds the Hub through HF_ENDPOINT and
    the token through HF_TOKEN, as huggingface_hub reads them at import time."""
    import os
    import subprocess
    import sys

    fake = FakeHub(TOKEN).start()
    try:
        folder = export_for_hub(result, tmp_path / "export", repo_id="me/env-coreset")
        env = {**os.environ, "HF_ENDPOINT": fake.url, "HF_TOKEN": TOKEN, "HF_HUB_OFFLINE": "0",
               "HF_HOME": str(tmp_path / "hf-home")}
        env.pop("HUGGING_FACE_HUB_TOKEN", None)
        completed = subprocess.run([sys.executable, "-m", "hf_d2.cli", "push", str(folder), "me/env-coreset"],
                                   env=env, capture_output=True, text=True, timeout=300)
        assert completed.returncode == 0, completed.stderr[-2000:]
        uploaded = {path: content for path, content in fake.files("me/env-coreset").items() if path != ".gitattributes"}
        assert uploaded == folder_bytes(folder)
        assert [c["config_name"] for c in DatasetCard(uploaded["README.md"].decode()).data.configs] == ["default", "scores"]
        assert_token_only_in_authorization(fake, folder)
        assert TOKEN not in completed.stdout + completed.stderr
    finally:
        fake.stop()


def test_card_offers_another_rate_only_when_the_record_can_rebuild_it(result):
    """A model-stage run grouped in strata (the default below rate 0.6) is not prefix-consistent:
    its card says so and points at re-running the command, not at a re-selection that would fail."""
    computed = dataclasses.replace(result.record, difficulty=DifficultyRecord(score="variability", source="head"))
    grouped = dataclasses.replace(computed, partition="strata", budget_allocation="uniform")
    text = dataset_card(grouped, scores=result.scores, repo_id="me/x").text
    assert "re-selectable at rates = 0.5 only (d2 inside strata groups is not prefix-consistent)" in text
    assert "--rate 0.7" not in text and "run the command above with `--rate R`" in text
    ungrouped = dataset_card(dataclasses.replace(computed, ranked_rows=computed.num_rows_before), scores=result.scores,
                             repo_id="me/x").text
    assert "hf-d2 select --from-selection me/x --rate 0.7 --output coreset-70" in ungrouped


def test_a_local_files_card_names_no_hub_source_and_an_absolute_path(source, tmp_path, monkeypatch):
    from hf_d2.hub.card import dataset_card
    from hf_d2.record import SelectionRecord

    datasets.load_from_disk(str(source)).to_csv(str(tmp_path / "news4.csv"))
    monkeypatch.chdir(tmp_path)
    assert cli("select", "news4.csv", "--rate", 0.5, "--method", "hard", "--score-column", "difficulty",
               "--output", "out") == 0
    record = SelectionRecord.from_json((tmp_path / "out" / "selection.json").read_text())
    card = dataset_card(record).text
    assert "source_datasets" not in card.split("---")[1]  # a Hub field: a local file is no Hub dataset
    assert f"hf-d2 select {tmp_path / 'news4.csv'} --rate 0.5" in card
