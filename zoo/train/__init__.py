"""The zoo's one trainer (``train``), a model's starting weights (``init_weights``),
the trainer's config and the phases models declare."""

from zoo.train.checkpoint import CheckpointMismatch, load_state, save_state
from zoo.train.config import Phase, TrainConfig
from zoo.train.ema import EMA
from zoo.train.init import init_weights
from zoo.train.sampler import BatchSampler, Minibatches
from zoo.train.trainer import CHECKPOINT, LOG, train

__all__ = ["CheckpointMismatch", "train", "init_weights", "TrainConfig", "Phase", "EMA", "BatchSampler", "Minibatches",
           "save_state", "load_state", "CHECKPOINT", "LOG"]
