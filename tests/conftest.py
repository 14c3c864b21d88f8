"""Shared test fixtures. Tests run on the CPU with the `smoke` preset and small data."""

import os

import pytest
import torch

# Two CI cores: keep each process to its share so parallel tests don't thrash.
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(0)
