"""Pushing an export folder to the Hub in ONE commit (data, scores, record and card together, so
the card's ``configs`` always describe the files next to it), and Hub failures as one line."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from hf_d2._validation import InvalidParameterError
from hf_d2.folders import CARD_FILE, EXPORT_RECORD_FILE, folder_files
from hf_d2.hub.card import DATA_DIR, REPO_PLACEHOLDER, SCORES_CONFIG, merge_cards
from hf_d2.hub.export import is_export_folder
from hf_d2.hub.licenses import license_warning
from hf_d2.record import SelectionRecord

logger = logging.getLogger("hf_d2")

# A Hub repository id: "name" or "namespace/name", letters, digits, "-", "_", "." (no "--" or
# "..", not starting or ending with "-" or "."), at most 96 characters per part.
_REPO_PART = r"(?!.*(--|\.\.))[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?"
_REPO_ID = re.compile(rf"(?:{_REPO_PART}/)?{_REPO_PART}")


def check_repo_id(repo_id: Any) -> str:
    """A valid Hub repository id, or an ``InvalidParameterError`` naming it and the rule."""
    if not isinstance(repo_id, str) or not _REPO_ID.fullmatch(repo_id) or repo_id.endswith(".git"):
        raise InvalidParameterError(
            "repo_id", f"{{name}} {repo_id!r} is not a Hub repository id: write namespace/name with letters, digits, "
            "'-', '_' or '.' (e.g. your-name/anli-r3-d2).")
    return repo_id


def push_coreset(folder: str | Path, repo_id: str, *, private: bool | None = None, revision: str | None = None,
                 create_pr: bool = False, token: str | None = None, commit_message: str | None = None,
                 endpoint: str | None = None) -> Any:
    """Uploads an export folder (``export_for_hub``) to the dataset repository ``repo_id`` in ONE
    commit; returns the ``huggingface_hub.CommitInfo`` (``.commit_url``, ``.pr_url``).

    The repository is created if needed (``private``; an existing public repository is refused
    with ``private=True`` rather than published). When the repository already has a card, it is
    merged with ours (``merge_cards``: its other configs and keys stay), so the ``configs``
    always list the files of this commit; earlier files under data/, scores/ and hf_d2/ that the
    export does not have are deleted in the same commit (no stale shard matches data/train-*).
    revision: a branch (created from main if missing). create_pr: open a pull request against
    main instead of committing. token: default from HF_TOKEN or ``hf auth login``; it is only
    ever sent in the Authorization header. endpoint: default ``HF_ENDPOINT`` / huggingface.co.
    A source license that may forbid redistribution logs a warning unless ``private``.
    """
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, DatasetCard, HfApi  # noqa: PLC0415

    repo_id = check_repo_id(repo_id)
    folder = Path(folder).expanduser()
    if not is_export_folder(folder):
        raise FileNotFoundError(f"'{folder}' is not an export folder (no {CARD_FILE} and {EXPORT_RECORD_FILE}): write "
                                "one with hf_d2.hub.export_for_hub or hf-d2 push OUTPUT_DIR REPO.")
    if create_pr and revision not in (None, "main"):
        raise ValueError(f"Pull requests are opened against main: pass --revision {revision} or --create-pr, not both.")
    record = SelectionRecord.from_json((folder / EXPORT_RECORD_FILE).read_text(), str(folder / EXPORT_RECORD_FILE))
    warning = license_warning(record.source.license)
    if warning and not private:
        logger.warning("Warning: %s", warning)

    api = HfApi(endpoint=endpoint, token=token)
    repo_id = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True).repo_id
    if private and api.dataset_info(repo_id).private is False:
        raise ValueError(f"Dataset repo {repo_id} exists and is public; --private does not change an existing "
                         "repository: make it private on the Hub first, or push without --private.")
    if revision not in (None, "main"):
        api.create_branch(repo_id, repo_type="dataset", branch=revision, exist_ok=True)
    base = revision or "main"
    remote_files = set(api.list_repo_files(repo_id, repo_type="dataset", revision=base))
    local_files = folder_files(folder)
    card_text = (folder / CARD_FILE).read_text(encoding="utf-8")
    if CARD_FILE in remote_files:
        existing = download(api, repo_id, CARD_FILE, base)
        try:
            if existing is not None:
                card_text = merge_cards(DatasetCard(existing.decode("utf-8")), DatasetCard(card_text)).content
        except (ValueError, TypeError, KeyError) as error:  # an unreadable old card is replaced, not merged
            logger.warning("The README.md in %s could not be read as a dataset card (%s); it is replaced.",
                           repo_id, " ".join(str(error).split()))
    card_text = card_text.replace(REPO_PLACEHOLDER, repo_id)
    operations = [CommitOperationAdd(path_in_repo=path, path_or_fileobj=card_text.encode("utf-8") if path == CARD_FILE
                                     else str(folder / path)) for path in local_files]
    stale = sorted(path for path in remote_files - set(local_files)
                   if path.split("/", 1)[0] in (DATA_DIR, SCORES_CONFIG, "hf_d2"))
    operations += [CommitOperationDelete(path_in_repo=path) for path in stale]
    message = commit_message or (f"hf-d2: {record.method} coreset, {record.num_rows_after:,} of "
                                 f"{record.num_rows_before:,} rows (rate {record.rate:g})")
    commit = api.create_commit(repo_id, operations, repo_type="dataset", revision=revision, create_pr=create_pr,
                               commit_message=message)
    logger.info("Pushed %d files to %s%s", len(local_files), repo_id,
                f" (pull request {commit.pr_url})" if commit.pr_url else f" ({commit.commit_url})")
    return commit


def download(api: Any, repo_id: str, path: str, revision: str | None) -> bytes | None:
    """One file of a dataset repository (None when it does not exist)."""
    from urllib.parse import quote  # noqa: PLC0415

    from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status  # noqa: PLC0415

    # Built from api.endpoint (hf_hub_url's template is fixed when huggingface_hub is imported).
    url = f"{api.endpoint}/datasets/{repo_id}/resolve/{quote(revision or 'main', safe='')}/{quote(path)}"
    response = get_session().get(url, headers=build_hf_headers(token=api.token), follow_redirects=True)
    if response.status_code == 404:
        return None
    hf_raise_for_status(response)
    return response.content


def hub_error_message(error: BaseException, repo_id: str) -> str | None:
    """One line for a failed Hub call (auth, missing repo, network), or None for other errors.
    Never includes the token."""
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled  # noqa: PLC0415

    if isinstance(error, OfflineModeIsEnabled):
        return "The Hub client is in offline mode (HF_HUB_OFFLINE=1): unset HF_HUB_OFFLINE to reach the Hub."
    if isinstance(error, HfHubHTTPError):
        status = getattr(error.response, "status_code", None)
        if status == 401:
            return (f"The Hub refused the token for {repo_id} (401): log in with `hf auth login`, set HF_TOKEN, or pass "
                    "--token with a write token.")
        if status == 403:
            return f"The token has no write access to {repo_id} (403): use a write token for that namespace."
        if status == 404:
            return f"Dataset repo {repo_id} (or its revision) was not found on the Hub (404): check the name."
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return f"The Hub answered {status} for {repo_id}: {first}"
    module = type(error).__module__ or ""
    if isinstance(error, (ConnectionError, TimeoutError)) or module.startswith(("httpx", "httpcore", "requests")):
        from huggingface_hub import constants  # noqa: PLC0415

        return (f"Cannot reach the Hub at {constants.ENDPOINT} ({type(error).__name__}): check the connection or "
                "HF_ENDPOINT, then push again.")
    return None


# ---------------------------------------------------------------------------------------------
# Re-selection from a record
# ---------------------------------------------------------------------------------------------

