"""Builds the quality benchmark's multi-class text task: paragraphs from the docstrings of ten
Python libraries installed with hf-d2, labelled by library (a topic task of 10 classes).

Why this data: the benchmark needs a text classification task with many classes that is on the
machine without the Hub. The ten libraries below are hf-d2's own dependencies (or theirs), so
their sources are in every environment that runs the benchmark. Their docstrings are real,
paragraph-length English about different subjects (arrays, statistics, tensors, data frames,
symbolic maths, graphs, plotting, ...), with the overlaps of real topic data (many libraries
explain arrays, shapes and dtypes).

How a row is made (no library is imported; each ``.py`` file is parsed with ``ast``):

- every module, class and function docstring of the library's files (tests, benchmarks and
  vendored ``externals`` / ``_vendor`` folders skipped), files in sorted path order;
- its description only: the text before the first numpydoc / Google section header
  ("Parameters", "Args:", "Returns", "Examples", ...), doctest and directive lines dropped,
  whitespace collapsed;
- the library's own name and import aliases masked (``numpy``/``np.`` -> ``LIB``/``LIB.``), so
  the class is not spelled in its text;
- kept when 120 to 1,000 characters and at least 15 words; exact duplicate texts dropped
  everywhere (a text that two libraries share belongs to neither);
- at most ``PER_CLASS`` rows per library, drawn by a seeded shuffle.

The versions of the libraries it read are written into the file's header row, and the built
file is committed (``benchmarks/data/docstrings.jsonl.gz``), so every run of the benchmark reads
the same rows whatever is installed. The texts keep their libraries' licences (BSD-3-Clause:
numpy, scipy, scikit-learn, pandas, networkx, sympy, torch; Apache-2.0: transformers, datasets;
matplotlib: the PSF-based matplotlib licence).

    python benchmarks/build_docstrings.py            # writes benchmarks/data/docstrings.jsonl.gz
"""

from __future__ import annotations

import argparse
import ast
import gzip
import importlib.metadata
import importlib.util
import json
import re
from pathlib import Path

import numpy as np

OUTPUT = Path(__file__).parent / "data" / "docstrings.jsonl.gz"
# label -> (import name, distribution, aliases masked in the text)
LIBRARIES = {
    "numpy": ("numpy", "numpy", ("numpy", "np")),
    "scipy": ("scipy", "scipy", ("scipy",)),
    "scikit-learn": ("sklearn", "scikit-learn", ("sklearn", "scikit-learn", "scikit learn")),
    "pandas": ("pandas", "pandas", ("pandas", "pd")),
    "torch": ("torch", "torch", ("torch", "pytorch")),
    "transformers": ("transformers", "transformers", ("transformers", "huggingface", "hugging face")),
    "datasets": ("datasets", "datasets", ("datasets",)),
    "sympy": ("sympy", "sympy", ("sympy",)),
    "networkx": ("networkx", "networkx", ("networkx", "nx")),
    "matplotlib": ("matplotlib", "matplotlib", ("matplotlib", "mpl", "pyplot", "plt")),
}
PER_CLASS = 900
MIN_CHARS, MAX_CHARS, MIN_WORDS = 120, 1000, 15
SEED = 2026
SKIPPED_FOLDERS = {"tests", "test", "testing", "benchmarks", "externals", "_vendor", "vendored", "__pycache__"}
SECTION = re.compile(r"^\s*(Parameters|Params|Args|Arguments|Returns?|Yields?|Raises|Examples?|Notes?|See Also|"
                     r"References|Attributes|Methods|Warns?|Warnings?|Other Parameters|Keyword Arguments|Kwargs|"
                     r"Inputs|Outputs|Shape|Example usage)\s*:?\s*$", re.IGNORECASE)
DROPPED_LINE = re.compile(r"^\s*(>>>|\.\.\.|\.\. |:param|:type|:return|:rtype|:raises|@)")


def description(docstring: str) -> str:
    """The docstring's text before its first section header, without doctests and directives,
    whitespace collapsed."""
    kept = []
    for line in docstring.splitlines():
        if SECTION.match(line) or re.match(r"^\s*-{3,}\s*$", line) and kept and SECTION.match(kept[-1]):
            break
        if DROPPED_LINE.match(line):
            continue
        kept.append(line)
    return " ".join(" ".join(kept).split())


def mask(text: str, aliases: tuple[str, ...]) -> str:
    """The library's name and aliases replaced by LIB (whole words, any case)."""
    for alias in sorted(aliases, key=len, reverse=True):
        text = re.sub(rf"(?<![\w]){re.escape(alias)}(?![\w])", "LIB", text, flags=re.IGNORECASE)
    return text


def library_texts(import_name: str, aliases: tuple[str, ...]) -> list[str]:
    """Every kept description of the library's docstrings, in sorted file order."""
    spec = importlib.util.find_spec(import_name)
    root = Path(spec.origin).parent
    texts = []
    for path in sorted(root.rglob("*.py")):
        if SKIPPED_FOLDERS & set(path.relative_to(root).parts[:-1]):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            docstring = ast.get_docstring(node)
            if not docstring:
                continue
            text = mask(description(docstring), aliases)
            if MIN_CHARS <= len(text) <= MAX_CHARS and len(text.split()) >= MIN_WORDS:
                texts.append(text)
    return texts


def build() -> tuple[dict, list[dict]]:
    per_library = {label: library_texts(name, aliases) for label, (name, _, aliases) in LIBRARIES.items()}
    counts: dict[str, int] = {}
    for texts in per_library.values():
        for text in set(texts):
            counts[text] = counts.get(text, 0) + 1
    rows = []
    generator = np.random.default_rng(SEED)
    for label, texts in per_library.items():
        unique = sorted({text for text in texts if counts[text] == 1})
        chosen = [unique[i] for i in sorted(generator.permutation(len(unique))[:PER_CLASS])]
        rows += [{"text": text, "label": label} for text in chosen]
    header = {"versions": {label: importlib.metadata.version(dist) for label, (_, dist, _) in LIBRARIES.items()},
              "labels": list(LIBRARIES), "rows": len(rows), "per_class": PER_CLASS, "seed": SEED}
    return header, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", default=str(OUTPUT))
    args = parser.parse_args()
    header, rows = build()
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(output, "wt", encoding="utf-8", compresslevel=9) as sink:
        sink.write(json.dumps({"header": header}) + "\n")
        for row in rows:
            sink.write(json.dumps(row) + "\n")
    sizes = {label: sum(row["label"] == label for row in rows) for label in LIBRARIES}
    print(f"{len(rows)} rows -> {output}: {sizes}")


if __name__ == "__main__":
    main()
