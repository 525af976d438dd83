from hf_d2.cli.main import main

__all__ = ["main"]
