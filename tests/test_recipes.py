"""Recipes: the shipped ones load, their values reach hf-d2 prune and hf-d2 evaluate as
defaults, explicit flags win, and bad recipes are one-line errors."""

from pathlib import Path

import pytest

import hf_d2.evaluate
from hf_d2.cli import main
from hf_d2.recipes import available_recipes, load_recipe, recipe_key_set

REPO_RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def test_shipped_recipes_load_and_the_documented_folder_holds_them():
    shipped = available_recipes()
    assert {"anli-r3", "imdb", "rotten-tomatoes-offline", "imdb-offline"} <= set(shipped)
    for name, path in shipped.items():
        recipe = load_recipe(name)
        assert recipe["name"] == name and set(recipe) <= recipe_key_set() | {"name", "description"}
        assert (REPO_RECIPES / path.name).read_text() == path.read_text()


def test_anli_recipe_is_the_reference_setting():
    recipe = load_recipe("anli-r3")
    assert (recipe["dataset"], recipe["split"], recipe["eval_split"]) == ("facebook/anli", "train_r3", "dev_r3")
    assert (recipe["model"], recipe["max_length"], recipe["batch_size"], recipe["epochs"]) == ("roberta-base", 128, 8, 3)
    assert recipe["learning_rate"] == pytest.approx(5e-5) and recipe["warmup_ratio"] == pytest.approx(0.05)
    assert "[reference]" in (REPO_RECIPES / "anli-r3.yaml").read_text()


def test_recipe_values_reach_prune_and_flags_win(tmp_path, capsys):
    recipe = tmp_path / "small.yaml"
    recipe.write_text("dataset: rotten_tomatoes\nmax_examples: 120\nepochs: 2\nmethod: kcenter\n")
    assert main(["prune", "--recipe", str(recipe), "--rate", "0.5", "--dry-run", "--cache-dir", str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out
    assert "120 rows" in out and "method kcenter" in out and "difficulty" not in out  # kcenter needs no training
    assert main(["prune", "--recipe", str(recipe), "--rate", "0.5", "--dry-run", "--max-examples", "80",
                 "--method", "d2", "--cache-dir", str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out
    assert "80 rows" in out and "method d2" in out and "\ndifficulty " in out


def test_recipe_values_reach_evaluate_and_flags_win(tmp_path, monkeypatch):
    captured = {}

    def fake_evaluate(dataset, **kwargs):
        captured.update(kwargs, dataset=dataset)
        return hf_d2.evaluate.EvaluationReport([], [], Path(kwargs["output_dir"]))

    monkeypatch.setattr(hf_d2.evaluate, "evaluate", fake_evaluate)
    assert main(["evaluate", "--recipe", "rotten-tomatoes-offline", "--output", str(tmp_path / "o")]) == 0
    assert captured["dataset"] == "rotten_tomatoes" and captured["max_examples"] == 2000
    assert captured["holdout"] == 0.2 and captured["offline"] is True
    assert captured["methods"] == ["d2", "random", "ccs", "ccs-d2"] and captured["rates"] == [0.3, 0.5, 0.7]
    assert (captured["model"], captured["epochs"], captured["max_length"], captured["batch_size"]) == (
        "bundled-minilm", 2, 64, 16)
    assert captured["learning_rate"] == pytest.approx(1e-4) and "eval_epochs" not in captured  # the judge: the same

    assert main(["evaluate", "--recipe", "rotten-tomatoes-offline", "--epochs", "1", "--eval-epochs", "3",
                 "--methods", "random", "--seeds", "2", "--output", str(tmp_path / "o")]) == 0
    assert captured["epochs"] == 1 and captured["eval_epochs"] == 3
    assert captured["methods"] == ["random"] and captured["seeds"] == 2 and captured["max_examples"] == 2000


@pytest.mark.parametrize("text, message", [
    ("epochs: 2\nepohcs: 3\n", "unknown option(s) epohcs"),
    ("learning_rate: fast\n", "Recipe option 'learning_rate' has the value 'fast'"),
    ("- a list\n", "must be a mapping"),
    ("epochs: [1\n", "is not valid YAML"),
])
def test_bad_recipes_are_one_line_exit_2(text, message, tmp_path, capsys):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text(text)
    assert main(["evaluate", "rotten_tomatoes", "--recipe", str(recipe), "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_unknown_recipe_name_and_missing_dataset(tmp_path, capsys):
    assert main(["prune", "--recipe", "no-such-recipe", "--rate", "0.5", "--output", str(tmp_path / "o")]) == 2
    assert "shipped recipes are" in capsys.readouterr().err
    assert main(["evaluate", "--output", str(tmp_path / "o")]) == 2
    assert "Name a DATASET" in capsys.readouterr().err
