"""Plots (matplotlib, Agg backend; the ``plots`` extra): accuracy vs pruning rate from an
evaluate run, the data map (dataset cartography) and a 2-D projection of the embeddings with
the kept examples marked. Each function writes the file its ``path`` names (.png, .svg or .pdf)
and returns that path.

    plot_accuracy(report.rows, "accuracy.png")                 # or an evaluate output folder
    plot_data_map(confidence, variability, kept, "map.png")    # (n,) arrays
    plot_projection(embeddings, kept, "projection.svg")        # (n, d), (n,) bool
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

PLOT_SUFFIXES = (".png", ".svg", ".pdf")
KEPT_COLOUR, PRUNED_COLOUR = "#1f77b4", "#c7c7c7"


def _pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend, or a ValueError with the install hint."""
    try:
        import matplotlib  # noqa: PLC0415
    except ImportError:
        raise ValueError("Plots need matplotlib: pip install 'hf-d2[plots]'.") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt  # noqa: PLC0415

    return plt


def _check_path(path: str | Path) -> Path:
    path = Path(path).expanduser()
    if path.suffix.lower() not in PLOT_SUFFIXES:
        raise ValueError(f"Plot file '{path}' must end in {', '.join(PLOT_SUFFIXES)}; e.g. {path.with_suffix('.png')}.")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _save(figure: Any, path: Path) -> Path:
    plt = _pyplot()
    figure.tight_layout()
    figure.savefig(path, dpi=150)
    plt.close(figure)
    return path


def _result_rows(results: Any) -> list[dict[str, Any]]:
    """Summary rows from an ``EvaluationReport``, a results dict ({"rows": ...}), a list of rows,
    or an evaluate output folder / its results.json."""
    if hasattr(results, "rows"):
        return list(results.rows)
    if isinstance(results, (str, Path)):
        location = Path(results)
        location = location / "results.json" if location.is_dir() else location
        if not location.exists():
            raise ValueError(f"No evaluate results at '{results}'; pass the --output folder of hf-d2 evaluate.")
        results = json.loads(location.read_text())
    if isinstance(results, dict):
        results = results.get("rows", [])
    rows = list(results)
    if not rows:
        raise ValueError("The evaluate results have no rows to plot; run hf-d2 evaluate first.")
    return rows


def plot_accuracy(results: Any, path: str | Path, metric: str = "accuracy") -> Path:
    """Accuracy (or ``metric="macro_f1"``) in % vs pruning rate, one line per method with error
    bars of the 95% interval over seeds (as the tables: ``<metric>_ci``; none with one seed); the
    full-data row is a dashed line with its 95% band.

    results: an ``EvaluationReport``, its ``rows``, a results dict or an evaluate output folder.
    """
    if metric not in ("accuracy", "macro_f1"):
        raise ValueError(f"The 'metric' parameter must be 'accuracy' or 'macro_f1'. Got {metric!r}.")
    rows = _result_rows(results)
    path = _check_path(path)
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6.0, 4.0))
    methods = list(dict.fromkeys(row["method"] for row in rows))
    for method in methods:
        members = sorted((row for row in rows if row["method"] == method), key=lambda row: row["rate"])
        means = np.array([100 * row[f"{metric}_mean"] for row in members])
        halves = np.array([100 * (row.get(f"{metric}_ci") or 0.0) for row in members])  # None: one seed
        if method == "full":
            axes.axhline(means[0], color="black", linestyle="--", linewidth=1, label=f"full data ({means[0]:.1f})")
            axes.axhspan(means[0] - halves[0], means[0] + halves[0], color="black", alpha=0.08)
            continue
        rates = [row["rate"] for row in members]
        axes.errorbar(rates, means, yerr=halves, marker="o", capsize=3, label=method)
    axes.set_xlabel("pruning rate (fraction removed)")
    axes.set_ylabel(("accuracy" if metric == "accuracy" else "macro-F1") + " (%) on held-out rows")
    seeds = max(len(row.get("seeds", [])) for row in rows)
    axes.set_title(f"Coreset quality vs pruning rate (mean ± 95% interval, {seeds} seed{'s' if seeds != 1 else ''})")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    return _save(figure, path)


def plot_data_map(confidence: Any, variability: Any, kept: Any, path: str | Path, title: str | None = None) -> Path:
    """The data map of dataset cartography: x = variability (std over epochs of the gold-label
    probability), y = confidence (its mean), one point per example; kept examples coloured,
    pruned ones grey. All arrays (n,); ``kept`` bool."""
    confidence, variability, kept = _check_points(confidence, variability, kept)
    path = _check_path(path)
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(5.5, 4.5))
    size = max(2.0, min(12.0, 4000.0 / max(kept.size, 1)))
    axes.scatter(variability[~kept], confidence[~kept], s=size, c=PRUNED_COLOUR, label=f"pruned ({(~kept).sum():,})",
                 linewidths=0)
    axes.scatter(variability[kept], confidence[kept], s=size, c=KEPT_COLOUR, label=f"kept ({kept.sum():,})",
                 linewidths=0)
    axes.set_xlabel("variability (std of gold-label probability over epochs)")
    axes.set_ylabel("confidence (mean gold-label probability)")
    axes.set_title(title or "Data map")
    axes.legend(fontsize=8, loc="lower right")
    return _save(figure, path)


def project_2d(embeddings: Any) -> np.ndarray:
    """(n, 2) float64 PCA projection of (n, d) embeddings: centred, onto the top two
    eigenvectors of the d × d covariance (O(n·d²), no n × n matrix); the sign of each axis is
    fixed so its largest loading is positive. More than ``PROJECTION_BLOCK_ROWS`` rows are read
    in blocks (three passes), so a memory-mapped matrix is never copied whole."""
    if np.ndim(embeddings) != 2 or np.shape(embeddings)[0] <= PROJECTION_BLOCK_ROWS:
        blocks = [np.asarray(embeddings, dtype=np.float64)]  # small: one block
    else:  # large (a memory-mapped matrix, say): float64 copies of one block at a time
        blocks = _BlockView(embeddings)
    shape = np.shape(embeddings) if isinstance(blocks, _BlockView) else blocks[0].shape
    if len(shape) != 2 or shape[0] < 2 or not all(np.isfinite(block).all() for block in blocks):
        raise ValueError(f"Embeddings must be a finite (n >= 2, d) array; got shape {shape}.")
    mean = sum(block.sum(axis=0) for block in blocks) / shape[0] if len(blocks) > 1 else blocks[0].mean(axis=0)
    covariance = sum((block - mean).T @ (block - mean) for block in blocks)
    _, vectors = np.linalg.eigh(covariance)
    components = vectors[:, ::-1][:, :2].T
    components = components * np.sign(components[np.arange(components.shape[0]), np.abs(components).argmax(axis=1)])[:, None]
    projected = np.concatenate([(block - mean) @ components.T for block in blocks])
    return projected if projected.shape[1] == 2 else np.pad(projected, ((0, 0), (0, 2 - projected.shape[1])))


PROJECTION_BLOCK_ROWS = 262_144  # rows of a large matrix converted to float64 at a time by project_2d


class _BlockView:
    """The rows of an (n, d) matrix as float64 blocks of ``PROJECTION_BLOCK_ROWS``, re-read on
    every pass (a sequence, so ``len`` and iteration work as for a list of blocks)."""

    def __init__(self, matrix: Any) -> None:
        self.matrix = matrix

    def __len__(self) -> int:
        return -(-self.matrix.shape[0] // PROJECTION_BLOCK_ROWS)

    def __iter__(self):
        for start in range(0, self.matrix.shape[0], PROJECTION_BLOCK_ROWS):
            yield np.asarray(self.matrix[start:start + PROJECTION_BLOCK_ROWS], dtype=np.float64)


def plot_projection(embeddings: Any, kept: Any, path: str | Path, labels: Any = None, title: str | None = None,
                    projected: bool = False) -> Path:
    """2-D PCA of (n, d) ``embeddings`` (or, with ``projected``, the (n, 2) points themselves):
    pruned examples grey, kept ones coloured (by ``labels`` when given, (n,))."""
    kept = np.asarray(kept, dtype=bool)
    points = np.asarray(embeddings, dtype=np.float64) if projected else project_2d(embeddings)
    if kept.shape != (points.shape[0],):
        raise ValueError(f"'kept' must hold one bool per embedding ({points.shape[0]}); got shape {kept.shape}.")
    path = _check_path(path)
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(5.5, 4.5))
    size = max(2.0, min(12.0, 4000.0 / max(kept.size, 1)))
    axes.scatter(points[~kept, 0], points[~kept, 1], s=size, c=PRUNED_COLOUR, label=f"pruned ({(~kept).sum():,})",
                 linewidths=0)
    if labels is None:
        axes.scatter(points[kept, 0], points[kept, 1], s=size, c=KEPT_COLOUR, label=f"kept ({kept.sum():,})",
                     linewidths=0)
    else:
        labels = np.asarray(labels)
        for value in np.unique(labels[kept]):
            chosen = kept & (labels == value)
            axes.scatter(points[chosen, 0], points[chosen, 1], s=size, label=f"kept, {value} ({chosen.sum():,})",
                         linewidths=0)
    axes.set_xlabel("PC 1")
    axes.set_ylabel("PC 2")
    axes.set_title(title or "Embeddings (PCA), kept vs pruned")
    axes.legend(fontsize=8)
    return _save(figure, path)


def _check_points(confidence: Any, variability: Any, kept: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    confidence = np.asarray(confidence, dtype=np.float64)
    variability = np.asarray(variability, dtype=np.float64)
    kept = np.asarray(kept, dtype=bool)
    if not (confidence.ndim == 1 and confidence.shape == variability.shape == kept.shape):
        raise ValueError(
            f"confidence, variability and kept must be (n,) arrays of one length; got {confidence.shape}, "
            f"{variability.shape}, {kept.shape}."
        )
    return confidence, variability, kept


# --------------------------------------------------------------------- from a prune output folder


def prune_output_arrays(folder: str | Path, *, embeddings_path: str | Path | None = None) -> dict[str, Any]:
    """Reads what the plots need from an ``hf-d2 prune`` output folder's scores.parquet.

    Returns {"kept": (n,) bool, "confidence", "variability": (n,) float64 data-map coordinates
    or None (no training dynamics), "projection": (n, 2) float64 PCA of the embeddings or None,
    "method", "rate"}. ``embeddings_path`` (.npy, (n, d)) re-projects other embeddings.
    """
    import pyarrow.parquet as pq  # noqa: PLC0415

    from hf_d2.folders import read_prune_folder  # noqa: PLC0415 - reads datasets

    folder = Path(folder)
    _, record, _ = read_prune_folder(folder)
    table_path = folder / "scores.parquet"
    if not table_path.exists():
        raise ValueError(f"'{folder}' has no scores.parquet; pass the --output folder of hf-d2 prune.")
    table = pq.read_table(table_path)
    columns = set(table.column_names)

    def column(name: str) -> np.ndarray | None:
        return table[name].to_numpy(zero_copy_only=False).astype(np.float64) if name in columns else None

    kept = np.asarray(table["kept"].to_numpy(zero_copy_only=False), dtype=bool)
    projection = None
    if embeddings_path is not None:
        embeddings = np.load(embeddings_path)
        if len(embeddings) != kept.size:
            raise ValueError(f"The embeddings have {len(embeddings)} rows but the prune output has {kept.size}; "
                             "pass the embeddings of the same run.")
        projection = project_2d(embeddings)
    elif {"projection_x", "projection_y"} <= columns:
        projection = np.stack([column("projection_x"), column("projection_y")], axis=1)
    return {"kept": kept, "confidence": column("confidence"), "variability": column("variability"),
            "projection": projection, "method": record.method, "rate": record.rate}


def plot_prune_output(folder: str | Path, output_dir: str | Path, *, embeddings_path: str | Path | None = None,
                      suffixes: Sequence[str] = ("png", "svg")) -> list[Path]:
    """Writes data_map.* and projection.* for an ``hf-d2 prune`` output folder into
    ``output_dir``; a folder with neither training dynamics nor embeddings is an error."""
    arrays = prune_output_arrays(folder, embeddings_path=embeddings_path)
    if arrays["confidence"] is None and arrays["projection"] is None:
        raise ValueError(f"'{folder}' has neither training dynamics (confidence, variability) nor embeddings in its "
                         "scores.parquet; pass --embeddings for the projection.")
    written = []
    method = f"{arrays['method']} at rate {arrays['rate']:g}"
    for suffix in suffixes:
        if arrays["confidence"] is not None:
            written.append(plot_data_map(arrays["confidence"], arrays["variability"], arrays["kept"],
                                         Path(output_dir) / f"data_map.{suffix}", title=f"Data map: {method}"))
        if arrays["projection"] is not None:
            written.append(plot_projection(arrays["projection"], arrays["kept"], Path(output_dir) / f"projection.{suffix}",
                                           title=f"Embeddings (PCA): {method}", projected=True))
    return written
