"""Images and image–text pairs: column inference, lazy decoding, image encoders (a tiny ViT and a
tiny CLIP built from configs, and the offline pixels stand-in), fine-tuning an image classifier
through the one trainer, the CLIP score, bad input, and the bundled digits; all offline, with
images generated here."""

import io
import json
import logging

import datasets
import numpy as np
import pytest
from PIL import Image

import hf_d2
import hf_d2.vision as vision
from hf_d2.cli import main
from hf_d2.data import infer_columns
from hf_d2.difficulty import compute_difficulty, list_scores
from hf_d2.difficulty.api import difficulty_cache_status
from hf_d2.vision import clip_scores, combine_pair, embed_captions, embed_images

SIZE = 16


def cli(*args):
    return main([str(a) for a in args])


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def bar_images(num_rows: int, seed: int = 0, rgb: bool = False) -> tuple[list[np.ndarray], list[int]]:
    """Label 1: a bright bar in the left half, label 0: in the right half, on noise."""
    rng = np.random.default_rng(seed)
    arrays, labels = [], []
    for i in range(num_rows):
        label = i % 2
        array = rng.integers(0, 60, size=(SIZE, SIZE)).astype(np.uint8)
        column = rng.integers(1, SIZE // 2 - 2) + (0 if label else SIZE // 2)
        array[:, column:column + 2] = 230
        arrays.append(np.stack([array] * 3, axis=-1) if rgb else array)
        labels.append(label)
    return arrays, labels


def image_dataset(num_rows: int, seed: int = 0, captions: bool = False) -> datasets.Dataset:
    arrays, labels = bar_images(num_rows, seed)
    columns = {"image": [{"bytes": png(a), "path": None} for a in arrays], "label": labels}
    features = {"image": datasets.Image(), "label": datasets.ClassLabel(names=["right", "left"])}
    if captions:
        columns["caption"] = [f"a bar on the {'left' if label else 'right'} number {i}" for i, label in enumerate(labels)]
        features["caption"] = datasets.Value("string")
    return datasets.Dataset.from_dict(columns, features=datasets.Features(features))


@pytest.fixture(scope="module")
def tiny_vit(tmp_path_factory):
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    folder = tmp_path_factory.mktemp("tiny_vit")
    config = ViTConfig(image_size=SIZE, patch_size=4, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                       intermediate_size=64, num_labels=2, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    torch.manual_seed(0)
    ViTForImageClassification(config).save_pretrained(folder)
    ViTImageProcessor(size={"height": SIZE, "width": SIZE}).save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    """A CLIP model built from a config, with the bundled MiniLM's BERT tokenizer."""
    import torch
    from transformers import AutoTokenizer, CLIPConfig, CLIPImageProcessor, CLIPModel

    from hf_d2.difficulty import bundled_minilm_path

    folder = tmp_path_factory.mktemp("tiny_clip")
    tokenizer = AutoTokenizer.from_pretrained(bundled_minilm_path())
    config = CLIPConfig(
        text_config=dict(vocab_size=tokenizer.vocab_size, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, max_position_embeddings=64, pad_token_id=tokenizer.pad_token_id,
                         bos_token_id=tokenizer.cls_token_id, eos_token_id=tokenizer.sep_token_id),
        vision_config=dict(image_size=SIZE, patch_size=4, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                           num_attention_heads=2),
        projection_dim=8)
    torch.manual_seed(0)
    CLIPModel(config).save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": SIZE}, crop_size={"height": SIZE, "width": SIZE}).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


# ------------------------------------------------------------------------------------ columns


def test_columns_find_images_paths_and_captions(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="hf_d2"):
        columns = infer_columns(image_dataset(4), require_label=False)
    assert (columns.image, columns.text, columns.label, columns.modality) == ("image", None, "label", "image")
    assert "Images: column image (datasets.Image)" in caplog.text
    pairs = infer_columns(image_dataset(4, captions=True), require_label=False)
    assert (pairs.image, pairs.text, pairs.modality) == ("image", "caption", "image-text")

    arrays, labels = bar_images(3)
    paths = []
    for i, array in enumerate(arrays):
        Image.fromarray(array).save(tmp_path / f"{i}.png")
        paths.append(str(tmp_path / f"{i}.png"))
    by_path = datasets.Dataset.from_dict({"img_path": paths, "label": labels})
    assert infer_columns(by_path, require_label=False).image == "img_path"
    text_only = datasets.Dataset.from_dict({"text": ["a", "b"], "label": [0, 1]})
    assert infer_columns(text_only).image is None and infer_columns(text_only).text == "text"

    two = datasets.Dataset.from_dict({"image": image_dataset(2)["image"], "other": image_dataset(2)["image"]},
                                     features=datasets.Features({"image": datasets.Image(), "other": datasets.Image()}))
    with pytest.raises(hf_d2.InvalidParameterError, match="Ambiguous image columns: image, other"):
        infer_columns(two, require_label=False)


# --------------------------------------------------------------------------------- embeddings


@pytest.mark.parametrize("model", ["pixels", "tiny_vit"])
def test_image_embeddings_follow_row_order(model, tiny_vit, tmp_path):
    rows = image_dataset(24, seed=1)
    name = tiny_vit if model == "tiny_vit" else "pixels"
    forward = embed_images(rows, "image", model=name, batch_size=5, cache_dir=tmp_path / "a").embeddings
    order = np.random.default_rng(0).permutation(rows.num_rows)
    shuffled = embed_images(rows.select(order), "image", model=name, batch_size=7, cache_dir=tmp_path / "b").embeddings
    assert forward.shape[0] == 24 and forward.dtype == np.float32
    np.testing.assert_allclose(shuffled, forward[order], atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(forward, axis=1), 1.0, atol=1e-5)
    assert np.unique(np.round(forward, 4), axis=0).shape[0] == 24  # every image gets its own vector
    if model == "pixels":  # 16 × 16 grayscale: the pixels themselves, scaled and normalised
        raw = np.asarray(rows[0]["image"], dtype=np.float32).reshape(-1) / 255
        np.testing.assert_allclose(forward[0], raw / np.linalg.norm(raw), atol=1e-6)
    again = embed_images(rows, "image", model=name, batch_size=5, cache_dir=tmp_path / "a")
    assert again.from_cache and np.array_equal(again.embeddings, forward)


def test_the_image_processor_is_part_of_what_identifies_an_encoder(tiny_vit, tmp_path):
    import shutil

    from transformers import ViTImageProcessor

    copy = shutil.copytree(tiny_vit, tmp_path / "vit")
    before = vision.encoder_revision(str(copy))
    ViTImageProcessor(size={"height": 8, "width": 8}).save_pretrained(copy)  # same weights, other inputs
    assert vision.encoder_revision(str(copy)) != before and "+processor:" in before


def test_clip_towers_score_and_pair_vectors(tiny_clip, tmp_path):
    rows = image_dataset(12, captions=True)
    image = embed_images(rows, "image", model=tiny_clip, cache_dir=tmp_path).embeddings
    text = embed_captions(rows, "caption", model=tiny_clip, cache_dir=tmp_path).embeddings
    assert image.shape == text.shape == (12, 8)
    scores = clip_scores(image, text)
    np.testing.assert_allclose(scores, [float(a @ b) for a, b in zip(image, text)], atol=1e-6)
    assert scores.min() >= -1 and scores.max() <= 1 and np.ptp(scores) > 0
    pair = combine_pair(image, text)
    assert pair.shape == (12, 16)
    np.testing.assert_allclose(np.linalg.norm(pair, axis=1), 1.0, atol=1e-5)


# ------------------------------------------------------------------------------- fine-tuning


def test_finetuning_an_image_classifier_records_every_row_once_per_epoch(tiny_vit, tmp_path):
    rows = image_dataset(30, seed=2)
    config = dict(model=tiny_vit, epochs=2, batch_size=8, learning_rate=1e-3, seed=0)
    result = compute_difficulty(rows, None, "label", image_column="image", cache_dir=tmp_path, return_embeddings=True,
                                **config)
    table = result.dynamics.to_pydict()
    for epoch in (0, 1):
        seen = sorted(r for r, e in zip(table["row_index"], table["epoch"]) if e == epoch)
        assert seen == list(range(30))  # every row exactly once per epoch
    arrays = result.arrays
    assert arrays.gold_prob.shape == (30, 2) and arrays.probs.shape == (30, 2, 2)
    for name in list_scores():  # every registered score works unchanged
        assert np.isfinite(result.scores(name)).all(), name
    assert result.embeddings.shape == (30, 32)  # the ViT's [CLS] features
    assert result.metadata["image_column"] == "image" and result.metadata["modality"] == "image"
    assert difficulty_cache_status(rows, None, "label", image_column="image", cache_dir=tmp_path,
                                   config=result_config(config)) == "hit"
    again = compute_difficulty(rows, None, "label", image_column="image", cache_dir=tmp_path, **config)
    assert again.from_cache
    np.testing.assert_array_equal(again.arrays.gold_prob, arrays.gold_prob)
    # from_scratch and other rows are other runs
    assert difficulty_cache_status(rows, None, "label", image_column="image", cache_dir=tmp_path, from_scratch=True,
                                   config=result_config(config)) == "miss"
    assert difficulty_cache_status(image_dataset(30, seed=3), None, "label", image_column="image", cache_dir=tmp_path,
                                   config=result_config(config)) == "miss"


def result_config(values):
    from hf_d2.difficulty import TrainingConfig

    return TrainingConfig(**values)


def test_prune_with_a_finetuned_vit_and_its_features(tiny_vit, tmp_path):
    rows = image_dataset(40, seed=4)
    result = hf_d2.prune(rows, 0.5, difficulty_source="finetune", embedding_source="classifier", model=tiny_vit,
                         epochs=3, batch_size=8, learning_rate=1e-3, difficulty="forgetting", allow_degenerate=True,
                         cache_dir=str(tmp_path), return_result=True)
    record = result.record
    assert result.dataset.num_rows == 20 and result.dataset.features == rows.features
    assert record.difficulty.source == "finetune" and len(record.difficulty.train_accuracy) == 3
    assert record.embeddings.source == "classifier" and record.embeddings.dimensions == 32
    assert record.columns.image == "image" and record.options["difficulty_source"] == "finetune"


# ------------------------------------------------------------------------------- end to end


def test_prune_an_image_folder_from_the_cli(tmp_path, capsys):
    arrays, labels = bar_images(40, seed=5)
    for i, (array, label) in enumerate(zip(arrays, labels)):
        folder = tmp_path / "images" / ("left" if label else "right")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(array).save(folder / f"{i:03d}.png")
    assert cli("prune", tmp_path / "images", "--rate", "0.5", "--cache-dir", tmp_path / "cache",
               "--output", tmp_path / "out") == 0
    assert "kept 20 of 40 rows" in capsys.readouterr().out
    pruned = datasets.load_from_disk(str(tmp_path / "out"))
    assert pruned.num_rows == 20 and isinstance(pruned.features["image"], datasets.Image)
    assert pruned[0]["image"].size == (SIZE, SIZE)
    record = json.loads((tmp_path / "out" / "selection.json").read_text())
    assert record["columns"]["image"] == "image" and record["columns"]["label"] == "label"
    assert record["embeddings"]["model"] == "pixels" and record["embeddings"]["dimensions"] == SIZE * SIZE
    assert record["difficulty"]["source"] == "head" and record["label_counts_before"] == {"left": 20, "right": 20}


def test_a_csv_of_image_paths_prunes_and_scores_from_the_cli(tiny_vit, tmp_path, capsys):
    arrays, labels = bar_images(24, seed=8, rgb=True)
    paths = []
    for i, array in enumerate(arrays):
        Image.fromarray(array).save(tmp_path / f"{i}.jpg")
        paths.append(str(tmp_path / f"{i}.jpg"))
    datasets.Dataset.from_dict({"img_path": paths, "label": labels}).to_csv(str(tmp_path / "rows.csv"))
    assert cli("prune", tmp_path / "rows.csv", "--rate", "0.25", "--method", "kcenter", "--cache-dir", tmp_path / "c",
               "--output", tmp_path / "out") == 0
    assert "kept 18 of 24 rows" in capsys.readouterr().out
    record = json.loads((tmp_path / "out" / "selection.json").read_text())
    assert record["columns"]["image"] == "img_path" and record["embeddings"]["dimensions"] == SIZE * SIZE * 3  # RGB
    assert cli("score", tmp_path / "rows.csv", "--image-column", "img_path", "--label-column", "label", "--model",
               tiny_vit, "--epochs", "2", "--batch-size", "8", "--cache-dir", tmp_path / "c", "--output",
               tmp_path / "scores") == 0
    scores = datasets.Dataset.from_parquet(str(tmp_path / "scores" / "scores.parquet"))
    assert sorted(scores["row_index"]) == list(range(24)) and "forgetting_hardness" in scores.column_names


def test_image_text_prune_with_a_clip_score_column(tmp_path):
    rows = image_dataset(40, seed=6, captions=True)
    scores = np.random.default_rng(0).uniform(0.1, 0.4, size=40)
    rows = rows.remove_columns("label").add_column("clip_score", scores.tolist())
    result = hf_d2.prune(rows, 0.5, score_column="clip_score", cache_dir=str(tmp_path), return_result=True)
    record = result.record
    kept = np.zeros(40, dtype=bool)
    kept[record.kept_row_ids] = True
    assert kept.sum() == 20 and record.difficulty.source == "column" and record.columns.text == "caption"
    assert record.embeddings.dimensions == SIZE * SIZE + 384  # pixels (images) + MiniLM (captions), side by side
    assert record.prefilter == 0.0 and record.label_free is False
    # D2 favours the higher (better aligned) scores; read the other way round it keeps the lower ones
    flipped = hf_d2.prune(rows, 0.5, score_column="clip_score", score_direction="lower", cache_dir=str(tmp_path),
                          return_result=True).record
    assert scores[kept].mean() > scores[~kept].mean() > scores[flipped.kept_row_ids].mean()


def test_image_text_pairs_without_labels_are_scored_by_clip(tiny_clip, tmp_path, caplog):
    rows = image_dataset(30, seed=7, captions=True).remove_columns("label")
    with caplog.at_level(logging.INFO, logger="hf_d2"):
        result = hf_d2.prune(rows, 0.5, embedding_model=tiny_clip, prefilter=0.0, cache_dir=str(tmp_path),
                             return_result=True)
    assert "the difficulty is the CLIP score" in caplog.text
    record = result.record
    assert record.difficulty.source == "clip_score" and record.label_free
    assert record.difficulty.direction.startswith("higher = better aligned")
    image = embed_images(rows, "image", model=tiny_clip, cache_dir=tmp_path).embeddings
    text = embed_captions(rows, "caption", model=tiny_clip, cache_dir=tmp_path).embeddings
    np.testing.assert_allclose(result.scores["difficulty"], clip_scores(image, text), atol=1e-6)
    assert record.embeddings.dimensions == 16  # image+text CLIP vectors (8 + 8)
    assert [row["stage"] for row in record.timings] == ["embed", "difficulty", "select"]


# ------------------------------------------------------------------------------- bad input


def test_an_unreadable_image_is_one_line_before_any_model_loads(tmp_path, capsys, monkeypatch):
    rows = image_dataset(10)
    cells = list(rows.cast_column("image", datasets.Image(decode=False))["image"])
    cells[3] = {"bytes": b"not an image", "path": None}
    broken = datasets.Dataset.from_dict({"image": cells, "label": rows["label"]}, features=rows.features)
    broken.save_to_disk(str(tmp_path / "broken"))
    capsys.readouterr()
    monkeypatch.setattr(vision.embedding, "load_encoder", lambda *a, **k: pytest.fail("a model loaded"))
    for extra in ([], ["--dry-run"]):
        assert cli("prune", tmp_path / "broken", "--rate", "0.5", "--output", tmp_path / "out", *extra) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1
        assert ("Column 'image' has 1 missing or unreadable image(s) (rows 3; row 3: UnidentifiedImageError: cannot "
                "identify image file);") in err
        assert "--drop-empty" in err and not (tmp_path / "out").exists()
    monkeypatch.undo()
    assert cli("prune", tmp_path / "broken", "--rate", "0.5", "--drop-empty", "--cache-dir", tmp_path / "c",
               "--output", tmp_path / "out") == 0
    assert "kept 4 of 9 rows" in capsys.readouterr().out


def test_an_image_that_fails_at_first_read_names_its_row(tmp_path, capsys, monkeypatch):
    rows = image_dataset(10)
    cells = list(rows.cast_column("image", datasets.Image(decode=False))["image"])
    cells[6] = {"bytes": cells[6]["bytes"][:40], "path": None}  # a truncated PNG: its header reads, its pixels do not
    datasets.Dataset.from_dict({"image": cells, "label": rows["label"]}, features=rows.features).save_to_disk(
        str(tmp_path / "truncated"))
    capsys.readouterr()
    monkeypatch.setattr(vision.reading, "IMAGE_VERIFY_MAX_ROWS", 0)  # beyond the plan's header check
    assert cli("prune", tmp_path / "truncated", "--rate", "0.5", "--cache-dir", tmp_path / "c",
               "--output", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Row 6 of column 'image': cannot read the image" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("case, message", [
    ("missing-file", "file not found: "),
    ("missing-caption", "Column 'caption' has 1 missing, empty or whitespace-only text(s) (rows 2)"),
    ("finetune-offline", "Fine-tuning an image classifier, but the image classifier microsoft/resnet-18 (the default) "
                         "is on the Hub, which is not reachable"),
    ("clip-offline", "The CLIP score needs a CLIP model"),
    ("pixels-on-text", "--embedding-model pixels embeds images; this dataset has no image column"),
])
def test_bad_image_input_is_one_line_exit_2(case, message, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(vision.embedding, "load_encoder", lambda *a, **k: pytest.fail("a model loaded"))
    arrays, labels = bar_images(6)
    paths = []
    for i, array in enumerate(arrays):
        Image.fromarray(array).save(tmp_path / f"{i}.png")
        paths.append(str(tmp_path / f"{i}.png"))
    extra = []
    if case == "missing-file":
        paths[4] = str(tmp_path / "gone.png")
        data = datasets.Dataset.from_dict({"image_path": paths, "label": labels})
    elif case == "missing-caption":
        data = datasets.Dataset.from_dict({"image_path": paths, "caption": ["a", "b", None, "d", "e", "f"],
                                           "clip": [0.1, 0.2, 0.3, 0.2, 0.1, 0.3]})
        extra = ["--score-column", "clip"]
    elif case in ("finetune-offline", "clip-offline"):
        data = datasets.Dataset.from_dict({"image_path": paths, "caption": list("abcdef"), "label": labels})
        extra = ["--difficulty-source", "finetune" if case == "finetune-offline" else "clip_score"]
    else:
        data = datasets.Dataset.from_dict({"text": list("abcdef"), "label": labels})
        extra = ["--embedding-model", "pixels"]
    data.to_csv(str(tmp_path / "rows.csv"))
    assert cli("prune", tmp_path / "rows.csv", "--rate", "0.5", "--output", tmp_path / "out", *extra) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------------- digits


def test_bundled_digits_prune_offline(tmp_path, capsys, caplog):
    with caplog.at_level(logging.INFO, logger="hf_d2"):
        assert cli("prune", "digits", "--rate", "0.5", "--cache-dir", tmp_path / "cache", "--output", tmp_path / "out") == 0
    assert "kept 898 of 1,797 rows" in capsys.readouterr().out
    assert "Embedding images with 'pixels'" in caplog.text and "Using the bundled digits" in caplog.text
    pruned = datasets.load_from_disk(str(tmp_path / "out"))
    assert pruned.num_rows == 898 and pruned[0]["image"].size == (8, 8)
    record = json.loads((tmp_path / "out" / "selection.json").read_text())
    assert record["source"]["kind"] == "bundled" and record["source"]["name"] == "digits"
    assert record["embeddings"]["dimensions"] == 64 and record["difficulty"]["train_accuracy"][-1] > 0.8
    assert sum(record["label_counts_after"].values()) == 898 and len(record["label_counts_after"]) == 10


def test_vision_recipes_are_the_reference_settings_and_need_the_hub(tmp_path, capsys):
    from hf_d2.recipes import load_recipe

    for name in ("cifar10", "cifar100"):
        recipe = load_recipe(name)
        assert (recipe["method"], recipe["num_strata"], recipe["prefilter"], recipe["prefilter_score"]) == (
            "ccs-d2", 25, 0.4, "aum")
        assert (recipe["difficulty"], recipe["k"], recipe["gamma_reverse"], recipe["epochs"]) == ("forgetting", 5, 0.1, 200)
    assert load_recipe("imagenet-1k")["difficulty"] == "aum"
    datacomp = load_recipe("datacomp-small")
    assert (datacomp["k"], datacomp["gamma_forward"], datacomp["gamma_reverse"], datacomp["knn"]) == (1, 1.0, 1.0, "auto")
    assert datacomp["difficulty_source"] == "clip_score" and "clip-ViT-L-14" in datacomp["embedding_model"]
    image_dataset(12).save_to_disk(str(tmp_path / "local"))
    assert cli("prune", tmp_path / "local", "--recipe", "cifar10", "--rate", "0.5", "--dry-run") == 2
    assert "is on the Hub, which is not reachable" in capsys.readouterr().err
