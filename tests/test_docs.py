"""The documentation (issue 24), checked by reading the files; ``make test`` then builds the site
with ``mkdocs build --strict``, which checks the links and anchors inside docs/ and the API
reference. These tests cover what the build does not see:

- docs/options.md is what the parameter table generates now (``python docs/gen_options.py``);
- the README stays short (at most ``README_MAX_LINES`` lines) and keeps `make demo` / `make test`;
- every page in the nav of mkdocs.yml exists, and the README links every one of them, so every
  section that moved out of the README is reachable from it;
- every relative link in the README resolves to a file, and its anchor, when it has one, to a
  heading of that file (as mkdocs and GitHub spell the heading's id).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path, PurePosixPath

import markdown
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
README_MAX_LINES = 350
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(`{3,}|~{3,}).*?^\1\s*$", re.MULTILINE | re.DOTALL)


def nav_pages(entries=None) -> list[str]:
    """Every page named in mkdocs.yml's nav, as a path relative to docs/."""
    if entries is None:
        entries = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))["nav"]
    pages = []
    for entry in entries:
        values = entry.values() if isinstance(entry, dict) else [entry]
        for value in values:
            pages += nav_pages(value) if isinstance(value, list) else [value]
    return pages


def heading_ids(path: Path) -> set[str]:
    """The ids mkdocs gives the headings of a Markdown file (python-markdown's toc extension)."""
    converter = markdown.Markdown(extensions=["toc", "fenced_code", "tables"])
    converter.convert(path.read_text(encoding="utf-8"))
    ids, tokens = set(), list(converter.toc_tokens)
    while tokens:
        token = tokens.pop()
        ids.add(token["id"])
        tokens += token["children"]
    return ids


def readme_links() -> list[str]:
    """The targets of the README's Markdown links, code blocks left out."""
    return LINK.findall(FENCE.sub("", README.read_text(encoding="utf-8")))


def test_options_page_is_current():
    # A fresh interpreter: the order of the option groups follows the order of the imports.
    completed = subprocess.run([sys.executable, str(DOCS / "gen_options.py"), "--check"], cwd=ROOT,
                               capture_output=True, text=True, timeout=300, check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_readme_is_short_and_keeps_the_make_targets():
    text = README.read_text(encoding="utf-8")
    lines = text.count("\n")
    assert lines <= README_MAX_LINES, (
        f"README.md has {lines} lines (at most {README_MAX_LINES}): move the detail into docs/ and link it")
    assert "make demo" in text and "make test" in text


def test_every_nav_page_exists_and_is_linked_from_the_readme():
    pages = nav_pages()
    assert pages and len(pages) == len(set(pages)), pages
    missing = [page for page in pages if not (DOCS / page).is_file()]
    assert not missing, f"pages in mkdocs.yml's nav that docs/ lacks: {missing}"
    linked = {str(PurePosixPath(target.split("#")[0])) for target in readme_links()}
    unlinked = [page for page in pages if f"docs/{page}" not in linked]
    assert not unlinked, f"docs pages the README does not link: {unlinked}"


def test_readme_relative_links_resolve():
    broken = []
    for target in readme_links():
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:, ...
            continue
        path_part, _, anchor = target.partition("#")
        path = (ROOT / path_part) if path_part else README
        if not path.exists():
            broken.append(f"{target}: no such file")
        elif anchor and path.suffix == ".md" and anchor not in heading_ids(path):
            broken.append(f"{target}: no heading with the id {anchor!r} in {path.relative_to(ROOT)}")
    assert not broken, "broken links in README.md:\n" + "\n".join(broken)
