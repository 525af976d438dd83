"""``hf-d2 push``: publish a coreset to the Hub (data, scores config, selection record, card)."""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

from hf_d2.folders import folder_files
from hf_d2.hub.export import export_for_hub, is_export_folder
from hf_d2.hub.licenses import license_warning
from hf_d2.hub.push import check_repo_id, hub_error_message, push_coreset

logger = logging.getLogger("hf_d2")


def add_push_options(parser: argparse.ArgumentParser, *, repo_flag: bool = False) -> None:
    """--private, --revision, --create-pr, --token (shared by push and prune --push-to-hub)."""
    prefix = "with --push-to-hub: " if repo_flag else ""
    parser.add_argument("--private", action="store_true", help=prefix + "create the repository private (an existing "
                        "public one is refused rather than published)")
    parser.add_argument("--revision", help=prefix + "branch to commit to (created from main if missing)")
    parser.add_argument("--create-pr", action="store_true", help=prefix + "open a pull request instead of committing")
    parser.add_argument("--token", help=prefix + "Hub write token (default: HF_TOKEN or `hf auth login`; prefer those, "
                        "a flag is visible to other users of the machine). Never written to any file")


def check_push_options(args: argparse.Namespace) -> None:
    """Push flags are checked before the (long) run, not after it."""
    given = [flag for flag, value in (("--private", args.private), ("--revision", args.revision),
                                      ("--create-pr", args.create_pr), ("--token", args.token)) if value]
    if given and not args.push_to_hub:
        raise ValueError(f"{', '.join(given)} {'applies' if len(given) == 1 else 'apply'} only with --push-to-hub REPO; "
                         "add it, or drop them.")
    if args.push_to_hub:
        check_repo_id(args.push_to_hub)
    if args.create_pr and args.revision not in (None, "main"):
        raise ValueError(f"Pull requests are opened against main: pass --revision {args.revision} or --create-pr, "
                         "not both.")


def register(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "push", help="publish a coreset to the Hub with a dataset card and its selection record",
        description="Push SOURCE to the Hub dataset repository REPO in one commit: the coreset as parquet under data/, "
        "the 'scores' config (every source row: original index, difficulty, forward score, pick rank, kept), "
        "hf_d2/selection.json and a dataset card (license inherited from the source, parameters, label counts, "
        "score statistics, the command that reproduces it, the D2 citation). SOURCE is the --output folder of "
        "hf-d2 prune or hf-d2 select (exported first) or an export folder (pushed as it is).")
    parser.add_argument("source", help="hf-d2 prune / select output folder, or an export folder")
    parser.add_argument("repo", help="dataset repository id, e.g. your-name/anli-r3-d2")
    add_push_options(parser)
    parser.add_argument("--export-dir", help="keep the export (the exact files pushed) in this folder (default: a "
                        "temporary folder)")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier export in --export-dir")
    parser.add_argument("--dry-run", action="store_true", help="export and list the files; push nothing")
    parser.add_argument("--commit-message", help="commit message (default: method, rows kept and rate)")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    check_repo_id(args.repo)
    source = Path(args.source).expanduser()
    if not source.exists():
        raise FileNotFoundError(f"No folder at '{args.source}': pass the --output folder of hf-d2 prune / select, or an "
                                "export folder.")
    if is_export_folder(source):
        if args.export_dir:
            raise ValueError(f"'{args.source}' is already an export folder; drop --export-dir (it is pushed as it is).")
        return _push(source, args)
    if args.export_dir:
        folder = export_for_hub(source, args.export_dir, repo_id=args.repo, overwrite=args.overwrite)
        return _push(folder, args)
    with tempfile.TemporaryDirectory(prefix="hf-d2-export-") as staging:
        folder = export_for_hub(source, Path(staging) / "export", repo_id=args.repo)
        return _push(folder, args)


def _push(folder: Path, args: argparse.Namespace) -> int:
    if args.dry_run:
        from hf_d2.folders import EXPORT_RECORD_FILE  # noqa: PLC0415
        from hf_d2.record import SelectionRecord  # noqa: PLC0415

        record = SelectionRecord.from_json((folder / EXPORT_RECORD_FILE).read_text())
        warning = license_warning(record.source.license)
        if warning and not args.private:
            logger.warning("Warning: %s", warning)
        if not args.quiet:
            print(f"Dry run: would push {folder} to {args.repo}" + (" (private)" if args.private else ""))
            for path in folder_files(folder):
                print(f"  {path:<48} {(folder / path).stat().st_size:>12,} bytes")
        return 0
    push_to_hub(folder, args.repo, private=args.private, revision=args.revision, create_pr=args.create_pr,
                token=args.token, commit_message=getattr(args, "commit_message", None), quiet=args.quiet)
    return 0


def push_to_hub(folder: Path, repo: str, *, private: bool, revision: str | None, create_pr: bool, token: str | None,
                commit_message: str | None = None, quiet: bool = False) -> None:
    """Pushes an export folder; Hub failures become one-line ValueErrors (exit 2); prints the URL."""
    try:
        commit = push_coreset(folder, repo, private=private or None, revision=revision, create_pr=create_pr,
                              token=token, commit_message=commit_message)
    except (ValueError, FileNotFoundError):
        raise
    except Exception as error:  # noqa: BLE001 - Hub and network failures become one line
        message = hub_error_message(error, repo)
        if message is None:
            raise
        raise ValueError(message) from None
    if not quiet:
        print(f"Pushed to {commit.pr_url or commit.commit_url}")
