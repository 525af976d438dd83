import os
import sys

import pytest

# Tests import the dense oracle (tests/dense_reference.py) by module name.
sys.path.insert(0, os.path.dirname(__file__))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_D2_DISABLE_PROGRESS", "1")


@pytest.fixture
def faiss_one_thread():
    """faiss's OpenMP k-means crawls when the cores are shared with other jobs; results do not
    depend on the thread count."""
    import faiss

    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(threads)
