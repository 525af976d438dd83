import os
import sys

# Tests import the dense oracle (tests/dense_reference.py) by module name.
sys.path.insert(0, os.path.dirname(__file__))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_D2_DISABLE_PROGRESS", "1")
