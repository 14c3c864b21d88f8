"""Shared test fixtures. Tests run on the CPU with the `smoke` preset and small data."""

import os

import pytest
import torch

# Two CI cores: keep each process to its share so parallel tests don't thrash.
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(autouse=True, scope="session")
def reference_cache(tmp_path_factory):
    """Reference features go to a tmp folder, never ~/.cache or a user's $GBENCH_CACHE; set in
    os.environ so that `python -m gbench` subprocesses inherit it."""
    old = os.environ.get("GBENCH_CACHE")
    os.environ["GBENCH_CACHE"] = str(tmp_path_factory.mktemp("gbench-cache"))
    yield
    if old is None:
        os.environ.pop("GBENCH_CACHE", None)
    else:
        os.environ["GBENCH_CACHE"] = old


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(0)


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op torch thread for a module's tests.

    Suites at the smoke preset run tiny ops (KID's 128×128 kernels, 48×48 SR
    patches) where a second thread costs more in synchronization than it gives;
    measured on two shared cores: the corruption smoke run took 36 s with two
    threads and 5 s with one, SRGAN smoke training 11 s and 0.09 s.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
