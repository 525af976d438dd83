"""The CIFAR-10 recipe end to end on a GPU, through hf-d2's own pipeline, with the time of every
stage (not a test: prints, saves JSON).

    python benchmarks/cifar10_gpu.py                                  # the recipe as shipped: hours
    python benchmarks/cifar10_gpu.py --epochs 3 --max-examples 5000   # a short GPU check
    python benchmarks/cifar10_gpu.py --recipe cifar100                # CIFAR-100 the same way
    python benchmarks/cifar10_gpu.py --smoke --max-examples 64        # CPU path: no GPU, no Hub

The real run needs a CUDA device and the Hub (uoft-cs/cifar10 and microsoft/resnet-18's config
and image processor); without either it stops with one line saying which. ``--smoke`` runs the
same code path on the CPU with generated data instead: 32 × 32 RGB images of 10 classes (a
coloured bar whose position and colour give the class) and the ResNet-18 architecture built from
a local config (``ResNetConfig(layer_type="basic", depths=[2, 2, 2, 2])``), 5 epochs, batch 16,
and ``allow_degenerate`` (a few dozen images may forget nothing in 5 epochs); every other
setting is the recipe's (from scratch, forgetting, AUM pre-filter 40%, 25 strata with D2
inside, k = 5, γr = 0.1, the classifier's pooled features).

Stages (seconds): plan (load + every check), difficulty (training + dynamics + the trained
classifier's pooled features, which the graph uses), select (graph + CCS strata + D2), total. The rows, the
device, the recipe values and the kept count go into the JSON with the times.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from machine_info import machine  # noqa: E402

DEFAULT_OUT = Path(__file__).parent / "results" / "cifar10_gpu.json"
SMOKE_SIZE = 32
SMOKE_CLASSES = 10


def fail(message: str) -> int:
    print(f"cifar10_gpu: {message}", file=sys.stderr)
    return 2


def recipe_values(name: str) -> tuple[dict, dict]:
    """(prune options, command keys) of a shipped recipe (evaluate-only keys left out)."""
    from hf_d2.options import OPTION_NAMES  # noqa: PLC0415
    from hf_d2.recipes import COMMAND_KEYS, load_recipe, recipe_value  # noqa: PLC0415

    recipe = load_recipe(name)
    options = {key: recipe_value(key, value) for key, value in recipe.items() if key in OPTION_NAMES}
    command = {key: recipe[key] for key in COMMAND_KEYS if key in recipe}
    return options, command


def smoke_rows(num_rows: int, seed: int = 0):
    """``num_rows`` 32 × 32 RGB images, label = class 0..9: a bar whose column band and colour
    are set by the class, on noise."""
    import io  # noqa: PLC0415

    import datasets  # noqa: PLC0415
    from PIL import Image  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    palette = rng.integers(80, 255, size=(SMOKE_CLASSES, 3))
    images, labels = [], []
    for i in range(num_rows):
        label = i % SMOKE_CLASSES
        array = rng.integers(0, 50, size=(SMOKE_SIZE, SMOKE_SIZE, 3)).astype(np.uint8)
        column = 3 * label + int(rng.integers(0, 2))
        array[:, column:column + 2] = palette[label]
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, format="PNG")
        images.append({"bytes": buffer.getvalue(), "path": None})
        labels.append(label)
    features = datasets.Features({"img": datasets.Image(),
                                  "label": datasets.ClassLabel(names=[f"class{c}" for c in range(SMOKE_CLASSES)])})
    return datasets.Dataset.from_dict({"img": images, "label": labels}, features=features)


def smoke_resnet18(folder: Path) -> str:
    """The ResNet-18 architecture from a local config (random weights) and a 32-px image processor."""
    from transformers import ConvNextImageProcessor, ResNetConfig, ResNetForImageClassification  # noqa: PLC0415

    config = ResNetConfig(layer_type="basic", depths=[2, 2, 2, 2], hidden_sizes=[64, 128, 256, 512],
                          embedding_size=64, num_labels=SMOKE_CLASSES)
    ResNetForImageClassification(config).save_pretrained(folder)
    ConvNextImageProcessor(size={"shortest_edge": SMOKE_SIZE}, crop_pct=1.0).save_pretrained(folder)
    return str(folder)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", default="cifar10", help="cifar10 (default) or cifar100")
    parser.add_argument("--rate", type=float, default=0.7, help="fraction removed (default 0.7)")
    parser.add_argument("--max-examples", type=int, help="a seeded sample of this many training images")
    parser.add_argument("--epochs", type=int, help="override the recipe's 200 epochs (e.g. 3 for a short check)")
    parser.add_argument("--batch-size", type=int, help="override the recipe's batch size")
    parser.add_argument("--smoke", action="store_true", help="CPU path on generated images (no GPU, no Hub)")
    parser.add_argument("--cache-dir", help="stage cache (default: a temporary folder)")
    parser.add_argument("--output", type=Path, help=f"JSON results (default {DEFAULT_OUT} for a GPU run)")
    args = parser.parse_args(argv)

    import torch  # noqa: PLC0415

    from hf_d2.env import hub_offline_reason  # noqa: PLC0415

    if not args.smoke:
        if not torch.cuda.is_available():
            return fail("no CUDA device (torch.cuda.is_available() is False); run on a GPU machine, or pass --smoke "
                        "for the CPU path on generated images.")
        reason = hub_offline_reason()
        if reason:
            return fail(f"the Hub is not reachable ({reason}); the recipe reads uoft-cs/cifar10 and "
                        "microsoft/resnet-18 from it. Pass --smoke for the CPU path on generated images.")
    from hf_d2.env import configure_output  # noqa: PLC0415

    configure_output(quiet=False, verbose=False, debug=False)  # hf-d2's log lines; the libraries' chatter off
    from hf_d2.coreset import select_for_plan  # noqa: PLC0415
    from hf_d2.options import PruneOptions  # noqa: PLC0415
    from hf_d2.plan import make_plan  # noqa: PLC0415
    from hf_d2.stages import run_stages  # noqa: PLC0415

    values, command = recipe_values(args.recipe)
    if args.smoke:
        values["allow_degenerate"] = True
    for name, value in (("epochs", args.epochs if args.epochs is not None else (5 if args.smoke else None)),
                        ("batch_size", args.batch_size if args.batch_size is not None else (16 if args.smoke else None)),
                        ("max_examples", args.max_examples)):
        if value is not None:
            values[name] = value
    with tempfile.TemporaryDirectory() as scratch:
        values["cache_dir"] = args.cache_dir or str(Path(scratch) / "cache")
        if args.smoke:
            values["model"] = smoke_resnet18(Path(scratch) / "resnet18")
            values.pop("label_column", None)
            dataset, split = smoke_rows(args.max_examples or 64), None
        else:
            dataset, split = command["dataset"], command.get("split")
        started = time.perf_counter()
        try:
            plan = make_plan(dataset, args.rate, PruneOptions.from_values(values), split=split)
            planned = time.perf_counter()
            outputs = run_stages(plan)
            staged = time.perf_counter()
            outcome = select_for_plan(plan, outputs)
        except ValueError as error:  # bad input or a degenerate difficulty: the library's one line
            return fail(" ".join(str(error).split()))
        finished = time.perf_counter()
    stages = {"plan": planned - started, **{row["stage"]: row["seconds"] for row in outputs.timings},
              "select": finished - staged, "total": finished - started}
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() and not args.smoke else "cpu"
    print(f"{args.recipe}{' (smoke, generated images)' if args.smoke else ''}: {plan.num_rows:,} rows, "
          f"{values['epochs']} epochs, kept {outcome.kept_positions.size:,} at rate {args.rate:g} on {device}")
    print(f"  {'stage':<12} {'seconds':>10}")
    for stage, seconds in stages.items():
        print(f"  {stage:<12} {seconds:>10.1f}")
    accuracy = outputs.difficulty.train_accuracy if outputs.difficulty else []
    print("  training accuracy by epoch: " + ", ".join(f"{100 * a:.1f}%" for a in accuracy))
    result = {"recipe": args.recipe, "smoke": args.smoke, "rows": plan.num_rows, "rate": args.rate,
              "kept": int(outcome.kept_positions.size), "device": device,
              "machine": machine("see the device field; other jobs may have shared the machine"),
              "torch": torch.__version__,
              "options": {key: value for key, value in values.items() if key != "cache_dir"},
              "seconds": {stage: round(seconds, 3) for stage, seconds in stages.items()},
              "train_accuracy": accuracy}
    output = args.output or (None if args.smoke else DEFAULT_OUT)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
