"""The generation suite's Zoo II figures: ProGAN's growing figure (built from the trainer's sample
grids, one row per phase) and StyleGAN's style-mixing grids (one per style group at the resolution)."""

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from gbench.fit import model_dir
from gbench.suites import generation
from zoo.models import MODELS
from zoo.train import train

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


def _ctx(tmp_path):
    def figure_path(name):
        path = tmp_path / "figures" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path, name
    return SimpleNamespace(seed=0, preset="smoke", profile="embedded", runs_dir=tmp_path / "runs",
                           figure_path=figure_path)


def test_growing_figure_takes_the_first_row_of_every_phase_grid(tmp_path):
    spec = MODELS.get("progan")
    cfg = spec.make_config("smoke", (1, 32, 32))  # stage_steps 2: a grid after every phase
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, steps=8, sample_every=2, grid_size=16))
    model = spec.build(cfg)
    ctx = _ctx(tmp_path)
    images = torch.randint(0, 256, (32, 1, 32, 32), dtype=torch.uint8)
    where = model_dir(ctx, "progan", "digits")
    train(model, cfg, images, None, where, "cpu", 0, progress=False)
    assert generation._growing_figure(ctx, "digits", model) == {"growing": "digits_progan_smoke_growing.png"}
    assert (tmp_path / "figures" / "digits_progan_smoke_growing.png").is_file()

    # the cells are the grids' first rows: the 4×4 phase's first cell is 8×8 blocks of one value each
    first = np.array(Image.open(where / "samples_000002.png").convert("L"))[2:34, 2:34]
    assert (first.reshape(4, 8, 4, 8).std(axis=(1, 3)) == 0).all()

    (where / "samples_000004.png").unlink()  # a grid missing (e.g. a run from before): no figure, no error
    assert generation._growing_figure(ctx, "digits", model) == {}
    smoke = spec.build(spec.make_config("smoke", (1, 32, 32)))  # no grids at the smoke preset: no figure
    assert generation._growing_figure(ctx, "digits", smoke) == {}


@pytest.mark.parametrize("shape, groups", [((1, 32, 32), ["coarse", "middle"]),
                                           ((3, 64, 64), ["coarse", "middle", "fine"])])
def test_style_mixing_figures_one_per_group_present_at_the_resolution(tmp_path, shape, groups):
    spec = MODELS.get("stylegan")
    model = spec.build(spec.make_config("smoke", shape)).eval()
    got = generation._style_mixing_figures(_ctx(tmp_path), "data", model)
    assert list(got) == [f"style mixing ({g})" for g in groups]
    for rel in got.values():
        assert (tmp_path / "figures" / rel).is_file()
