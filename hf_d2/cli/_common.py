"""Helpers shared by the subcommands (they live in ``hf_d2._io``, shared with the stages)."""

from hf_d2._io import check_output_dir, write_json, write_output_dir

__all__ = ["check_output_dir", "write_json", "write_output_dir"]
