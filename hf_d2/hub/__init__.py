"""Publishing a coreset: the Hub layout (``export``), the dataset card (``card``), licenses
(``licenses``) and the one-commit push (``push``). Re-selection from a record (a pushed one
included) lives in ``hf_d2.reselect``, which builds on this package."""

from hf_d2.hub.card import dataset_card, merge_cards, reproduce_command, size_category
from hf_d2.hub.export import export_for_hub, is_export_folder
from hf_d2.hub.licenses import license_warning
from hf_d2.hub.push import check_repo_id, hub_error_message, push_coreset
from hf_d2.record import command_line

__all__ = [
    "check_repo_id",
    "command_line",
    "dataset_card",
    "export_for_hub",
    "hub_error_message",
    "is_export_folder",
    "license_warning",
    "merge_cards",
    "push_coreset",
    "reproduce_command",
    "size_category",
]
