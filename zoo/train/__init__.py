"""The zoo's one trainer (``train``), its config and the phases models declare."""

from zoo.train.checkpoint import load_state, save_state
from zoo.train.config import Phase, TrainConfig
from zoo.train.ema import EMA
from zoo.train.sampler import BatchSampler
from zoo.train.trainer import CHECKPOINT, LOG, train

__all__ = ["train", "TrainConfig", "Phase", "EMA", "BatchSampler", "save_state", "load_state", "CHECKPOINT", "LOG"]
