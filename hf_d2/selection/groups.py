"""Running one strategy over the groups of a partition, and what the record says about the groups'
kNN graphs.

``run_groups`` runs the strategy on every group
- in this process, one group after the other (the default);
- in a pool of ``workers`` processes on this machine (``concurrent.futures.ProcessPoolExecutor``,
  spawned, each given max(1, cores // workers) threads), at most 2 · workers groups in flight, so
  the parent holds at most that many groups' arrays beyond its own;
- or, for ``partition="cluster"`` under ``accelerate launch`` (``WORLD_SIZE`` > 1), across its
  processes: rank r takes the groups ``share_groups`` gives it (largest first, to the least-loaded
  rank), and ``accelerate.utils.gather_object`` brings every group's result to every rank.
A group's result depends only on its rows, its budget, its seed (derived from (seed, group
position) by ``select``, never from a rank) and the parameters, so the coreset is the same for any
number of processes, as long as the search itself is deterministic (exact, IVF and IVF-PQ are;
faiss's multi-threaded HNSW construction is not, in any process count).
"""

from __future__ import annotations

import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import numpy as np

from hf_d2.selection.strategies import STRATEGIES, Strategy, StrategyResult


@dataclass(frozen=True)
class GroupTask:
    """One group to select from: ``position`` (its place in the partition's group order),
    ``rows`` (m,) int64 ascending row ids into the full arrays, ``budget`` rows to pick and
    ``seed`` for its random steps."""

    position: int
    rows: np.ndarray
    budget: int
    seed: int


def distributed_world() -> int:
    """Processes of the ``accelerate launch`` (or torchrun) job this process belongs to (1 outside one)."""
    return max(1, int(os.environ.get("WORLD_SIZE", "1") or 1))


def share_groups(sizes: list[int], num_processes: int) -> list[int]:
    """The process that runs each group: groups by size, largest first (ties: lower position), each
    to the process with the least rows so far (ties: the lower rank). Returns (g,) ranks."""
    owners = [0] * len(sizes)
    load = [0] * num_processes
    for position in sorted(range(len(sizes)), key=lambda g: (-sizes[g], g)):
        rank = min(range(num_processes), key=lambda r: (load[r], r))
        owners[position] = rank
        load[rank] += sizes[position]
    return owners


def run_groups(strategy: Strategy, tasks: list[GroupTask], *, scores: np.ndarray | None,
               embeddings: np.ndarray | None, labels: np.ndarray | None, params: Any, workers: int = 1,
               distributed: bool = False, graph: Any = None) -> list[StrategyResult]:
    """Every task's ``StrategyResult`` (local indices into its rows), in task order (see the module
    docstring for where they run). scores (n,) float64, embeddings (n, d) float32, labels (n,):
    the full arrays, or None; each task reads its rows of them. graph: a ``KnnGraph`` over all n
    rows, or None; a strategy that takes a graph reads each task's induced subgraph of it."""
    arrays = {"scores": scores, "embeddings": embeddings, "labels": labels}
    if graph is not None and strategy.takes_graph:
        arrays["graph"] = graph
    world = distributed_world() if distributed and len(tasks) > 1 else 1
    if world > 1:
        return _run_on_ranks(strategy, tasks, arrays, params, world)
    if workers > 1 and len(tasks) > 1:
        return _run_in_pool(strategy, tasks, arrays, params, workers)
    return [run_task(strategy.name, task, params, **_rows_of(arrays, task.rows)) for task in tasks]


def run_task(strategy_name: str, task: GroupTask, params: Any, *, scores: np.ndarray | None,
             embeddings: np.ndarray | None, labels: np.ndarray | None, graph: Any = None) -> StrategyResult:
    """Runs strategy ``strategy_name`` on one group's arrays, cut to ``task.rows`` (what a worker
    process does)."""
    budget, seed, num_rows = task.budget, task.seed, int(task.rows.size)
    extra = {} if graph is None else {"graph": graph}
    output = STRATEGIES[strategy_name].select(budget, num_rows=num_rows, scores=scores, embeddings=embeddings,
                                              labels=labels, seed=seed, params=params, **extra)
    if isinstance(output, StrategyResult):
        return output
    if isinstance(output, tuple):
        return StrategyResult(*output)
    return StrategyResult(np.asarray(output))


def _rows_of(arrays: dict[str, np.ndarray | None], rows: np.ndarray) -> dict[str, np.ndarray | None]:
    """Each array cut to ``rows`` (ascending); all rows in order give the array itself (no copy:
    a memory-mapped embedding matrix stays on disk)."""
    length = next((len(array) for name, array in arrays.items() if array is not None and name != "graph"),
                  getattr(arrays.get("graph"), "num_nodes", 0))
    whole = rows.size == length and (length == 0 or (rows[0] == 0 and rows[-1] == length - 1))
    return {name: None if array is None else (array if whole else (array.subgraph(rows) if name == "graph"
                                                                     else array[rows]))
            for name, array in arrays.items()}


def _run_in_pool(strategy: Strategy, tasks: list[GroupTask], arrays: dict[str, Any], params: Any,
                 workers: int) -> list[StrategyResult]:
    import multiprocessing  # noqa: PLC0415 - only a process pool needs it

    threads = max(1, (os.cpu_count() or 1) // workers)
    results: list[StrategyResult | None] = [None] * len(tasks)
    pending = sorted(range(len(tasks)), key=lambda g: (-tasks[g].rows.size, g))  # largest first
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_limit_threads, initargs=(threads,)) as pool:
        running: dict[Any, int] = {}
        while pending or running:
            while pending and len(running) < 2 * workers:
                position = pending.pop(0)
                task = tasks[position]
                running[pool.submit(run_task, strategy.name, task, params, **_rows_of(arrays, task.rows))] = position
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                results[running.pop(future)] = future.result()
    return results  # type: ignore[return-value]


def _limit_threads(threads: int) -> None:
    """A pool worker's thread count for numba and faiss (the pool shares the machine's cores)."""
    import numba  # noqa: PLC0415 - in the worker process

    from hf_d2.graph.backends import import_faiss  # noqa: PLC0415 - in the worker process

    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    import_faiss().omp_set_num_threads(threads)


def _run_on_ranks(strategy: Strategy, tasks: list[GroupTask], arrays: dict[str, Any], params: Any,
                  world: int) -> list[StrategyResult]:
    from accelerate import PartialState  # noqa: PLC0415 - torch is heavy; only a distributed run needs it
    from accelerate.utils import gather_object, parse_flag_from_env  # noqa: PLC0415

    state = PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU"))  # a bare PartialState ignores the launcher's flag
    owners = share_groups([task.rows.size for task in tasks], state.num_processes)
    mine = [(position, run_task(strategy.name, task, params, **_rows_of(arrays, task.rows)))
            for position, task in enumerate(tasks) if owners[position] == state.process_index]
    gathered = gather_object([(position, result.order, result.forward_scores, result.graph)
                              for position, result in mine])
    results: list[StrategyResult | None] = [None] * len(tasks)
    for position, order, forward, graph in gathered:
        results[position] = StrategyResult(np.asarray(order), None if forward is None else np.asarray(forward), graph)
    missing = [position for position, result in enumerate(results) if result is None]
    if missing:
        raise RuntimeError(f"Partitions {missing[:5]} came back from no process; every rank must call select with the "
                           "same arguments.")
    return results  # type: ignore[return-value]


def summarise_graphs(graphs: list[dict[str, Any] | None]) -> dict[str, Any] | None:
    """The record's ``graph`` for a selection over groups: the one graph's summary
    (``hf_d2.graph.graph_summary``) for one group; for several, ``groups`` (how many built a
    graph), ``backend`` (the one that ran, or "mixed"), ``backends`` (name → groups), ``reason``
    (auto's reason for the largest group), ``recall`` (the lowest measured, None if none),
    ``recall_groups``, ``k`` (the largest), ``num_nodes`` / ``num_edges`` / ``seconds`` (sums)
    and ``per_group`` (position, num_nodes, backend, recall, num_edges of each). None when no
    group built a graph."""
    built = [(position, graph) for position, graph in enumerate(graphs) if graph]
    if not built:
        return None
    if len(graphs) == 1:
        return dict(built[0][1])
    backends: dict[str, int] = {}
    for _, graph in built:
        backends[str(graph["backend"])] = backends.get(str(graph["backend"]), 0) + 1
    largest = max(built, key=lambda item: (item[1]["num_nodes"], -item[0]))[1]
    recalls = [graph["recall"] for _, graph in built if graph.get("recall") is not None]
    return {
        "groups": len(built), "backend": next(iter(backends)) if len(backends) == 1 else "mixed",
        "backends": backends, "requested": largest.get("requested"), "reason": largest.get("reason"),
        "recall": min(recalls) if recalls else None, "recall_groups": len(recalls),
        "k": max(int(graph["k"] or 0) for _, graph in built),
        "num_nodes": sum(int(graph["num_nodes"]) for _, graph in built),
        "num_edges": sum(int(graph["num_edges"]) for _, graph in built),
        "seconds": round(sum(float(graph.get("seconds") or 0) for _, graph in built), 4),
        "per_group": [{"group": position, "num_nodes": graph["num_nodes"], "backend": graph["backend"],
                       "recall": graph.get("recall"), "num_edges": graph["num_edges"]} for position, graph in built],
    }
