"""The repository's structure rules (issue 13), checked by reading the source files:

- no module of hf_d2/ over ``MAX_LINES`` lines;
- no import of ``hf_d2.cli`` in the library or the benchmarks outside hf_d2/cli/ (the tests drive
  the command through ``hf_d2.cli.main``, its entry point, so they may import it);
- no private name (leading underscore) imported from another module: a public function is
  missing there (private *modules* such as ``hf_d2._validation`` export public names and are fine);
- no citation of the original spec file, which is not in the repository: the method is described
  in docs/method.md, whose numbered sections the code cites;
- no import cycle in hf_d2, counting every import statement, those inside functions too (issue 24;
  grimp's graph, the one ``lint-imports`` checks the layers contract of pyproject.toml on).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "hf_d2"
CLI = PACKAGE / "cli"
MAX_LINES = 400
SPEC_NAME = "D2" + "-SPEC"  # spelled in two parts so that this file does not cite it
SPEC_FOLDERS = ("hf_d2", "tests", "benchmarks", "docs")
SKIPPED_PARTS = {"__pycache__", ".pytest_cache", ".ruff_cache"}


def python_files(*folders: str) -> list[Path]:
    files = []
    for folder in folders:
        files += [path for path in sorted((ROOT / folder).rglob("*.py")) if not SKIPPED_PARTS & set(path.parts)]
    return files


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, module, imported names) of every import statement in ``path``, nested ones too.
    ``import a.b`` gives ("a.b", []); ``from a import b, c`` gives ("a", ["b", "c"]); a relative
    import names its module with its leading dots."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.lineno, "." * node.level + (node.module or ""), [alias.name for alias in node.names]))
    return found


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_no_module_of_the_package_is_over_the_line_limit():
    too_long = []
    for path in python_files("hf_d2"):
        count = len(path.read_text(encoding="utf-8").splitlines())
        if count > MAX_LINES:
            too_long.append(f"{relative(path)}: {count} lines")
    assert not too_long, (
        f"Modules over {MAX_LINES} lines: {'; '.join(too_long)}. Split each by job into cohesive modules (turn it into "
        "a package whose __init__ re-exports the public names, as hf_d2/report/ and hf_d2/vision/ do).")


def test_the_cli_is_imported_only_inside_hf_d2_cli():
    offending = []
    for path in python_files("hf_d2", "benchmarks"):
        if CLI in path.parents:
            continue
        for line, module, names in imports(path):
            if module == "hf_d2.cli" or module.startswith("hf_d2.cli.") or (module == "hf_d2" and "cli" in names):
                offending.append(f"{relative(path)}:{line} imports {module}")
    assert not offending, (
        f"hf_d2.cli imported outside hf_d2/cli/: {'; '.join(offending)}. The command line is the only place that knows "
        "about flags: move what is needed into the library module that owns it (as hf_d2.env.configure_output) and "
        "import it from there, or run the command as a subprocess (python -m hf_d2.cli).")


def test_no_private_name_is_imported_from_another_module():
    offending = []
    for path in python_files("hf_d2", "tests", "benchmarks"):
        for line, module, names in imports(path):
            private = [name for name in names if is_private(name)]
            if private:
                offending.append(f"{relative(path)}:{line} imports {', '.join(private)} from {module}")
    assert not offending, (
        f"Private names imported across modules: {'; '.join(offending)}. A public function is missing: give the name "
        "a public one (no leading underscore) in the module that owns it and update its callers, or move the code to "
        "the module that uses it.")


def test_no_citation_of_a_spec_that_is_not_in_the_repository():
    offending = []
    for folder in SPEC_FOLDERS:
        for path in sorted((ROOT / folder).rglob("*")):
            if not path.is_file() or SKIPPED_PARTS & set(path.parts) or path.suffix in (".nbc", ".nbi", ".pyc"):
                continue
            for number, text in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
                if SPEC_NAME in text:
                    offending.append(f"{relative(path)}:{number}")
    assert not offending, (
        f"{SPEC_NAME} is cited at {'; '.join(offending)}, but it is not in the repository. Cite the matching section "
        "of docs/method.md instead (e.g. 'docs/method.md §4' for the reverse pass), in your own words.")


def import_cycles(package: str) -> list[list[str]]:
    """The import cycles of ``package``: the strongly connected components of its module graph
    (every import statement, nested ones included, as grimp reads them) that hold more than one
    module, or a module that imports itself; each sorted, smallest first."""
    import grimp  # noqa: PLC0415 - installed with import-linter (the dev extra)

    graph = grimp.build_graph(package, cache_dir=None)
    edges = {module: sorted(graph.find_modules_directly_imported_by(module)) for module in sorted(graph.modules)}
    index: dict[str, int] = {}
    lowest: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []
    for root in edges:  # Tarjan's algorithm, iterative (the graph is deep enough to matter)
        if root in index:
            continue
        work = [(root, iter(edges[root]))]
        index[root] = lowest[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            module, targets = work[-1]
            target = next(targets, None)
            if target is not None:
                if target not in index:
                    index[target] = lowest[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(edges.get(target, ()))))
                elif target in on_stack:
                    lowest[module] = min(lowest[module], index[target])
                continue
            work.pop()
            if work:
                lowest[work[-1][0]] = min(lowest[work[-1][0]], lowest[module])
            if lowest[module] == index[module]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == module:
                        break
                if len(component) > 1 or module in edges[module]:
                    components.append(sorted(component))
    return sorted(components, key=lambda component: (len(component), component))


def test_hf_d2_has_no_import_cycle_even_through_imports_inside_functions():
    import grimp  # noqa: PLC0415

    cycles = import_cycles("hf_d2")
    if cycles:
        graph = grimp.build_graph("hf_d2", cache_dir=None)
        described = []
        for cycle in cycles:
            members = set(cycle)
            lines = [f"{importer} -> {imported} (line {', '.join(str(d['line_number']) for d in graph.get_import_details(importer=importer, imported=imported))})"  # noqa: E501
                     for importer in cycle for imported in sorted(graph.find_modules_directly_imported_by(importer))
                     if imported in members]
            described.append(f"{len(cycle)} modules: " + "; ".join(lines))
    assert not cycles, (
        f"{len(cycles)} import cycle(s) in hf_d2:\n" + "\n".join(described) + "\nCut each one: move the code that the "
        "lower module needs down (or pass it in from above), so that imports flow one way (see the layers contract "
        "in pyproject.toml, which make test checks with lint-imports).")


def test_importing_hf_d2_or_its_selection_engine_does_not_import_torch():
    """``import hf_d2`` (what every ``hf-d2`` command and every spawned ``--workers`` process does
    first) loads torch and transformers only when a stage trains a model: about 1.4 s instead of
    2.8 s, and no torch in a selection pool worker."""
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    code = ("import sys, hf_d2, hf_d2.selection.groups, hf_d2.options, hf_d2.stages, hf_d2.estimate; "
            "print(sorted(name for name in ('torch', 'transformers', 'accelerate') if name in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert loaded.stdout.strip() == "[]"


def test_make_demo_installs_only_what_the_demo_needs_and_make_test_the_rest(tmp_path):
    """`make demo` installs the offline extra (no pytest, ruff, selenium); `make test` after it
    upgrades the venv to the dev extra; after `make install`, the demo installs nothing."""
    import os
    import shutil
    import subprocess
    import time

    if shutil.which("make") is None:
        import pytest

        pytest.skip("make is not installed")
    for name in ("Makefile", "pyproject.toml", "constraints-cpu.txt"):
        shutil.copy(ROOT / name, tmp_path / name)

    def planned(target: str) -> str:
        return subprocess.run(["make", "-n", target, "VENV=venv", "CHROMEDRIVER=/bin/true"], cwd=tmp_path,
                              capture_output=True, text=True, check=True).stdout

    demo = planned("demo")
    assert '-e ".[offline]"' in demo and ".[dev]" not in demo and "hf-d2 prune rotten_tomatoes" in demo
    (tmp_path / "venv").mkdir()
    later = time.time() + 5
    (tmp_path / "venv" / ".hf-d2-demo-installed").touch()
    os.utime(tmp_path / "venv" / ".hf-d2-demo-installed", (later, later))
    assert '-e ".[dev]"' in planned("test")  # a demo venv is upgraded for the tests
    (tmp_path / "venv" / ".hf-d2-installed").touch()
    os.utime(tmp_path / "venv" / ".hf-d2-installed", (later, later))
    assert "pip install" not in planned("demo")
