"""The `shapes3d` suite at the smoke preset on `voxels`, through the runner: every row (real data, 3D-GAN,
the voxel-wise Bernoulli baseline) scored on every metric against the test split, the baseline's fit and
sampling, the figure linked, the markdown with its claims, the main job's empty run and the paper profile
without a data root."""

import math

import pytest
import torch

from gbench.data import DATASETS
from gbench.records import Record, read_records
from gbench.runner import RunRequest, run
from gbench.suites import SUITES, RunContext
from gbench.suites import shapes3d

ROWS = (shapes3d.FLOOR, shapes3d.MODEL, shapes3d.BERNOULLI)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory, one_thread):
    root = tmp_path_factory.mktemp("shapes3d")
    run(RunRequest(suite="shapes3d", preset="smoke", device="cpu", runs=root / "runs",
                   results=root / "leaderboards" / "results", progress=False))
    return root, read_records(root / "leaderboards" / "results" / "shapes3d.jsonl")


def _row(records, model):
    return {r.metric: r for r in records if r.model == model}


def test_every_row_is_scored_on_every_metric_against_the_test_split(smoke):
    _, records = smoke
    assert len(records) == len({r.key() for r in records})
    n_ref = shapes3d.PROTOCOLS["smoke"]["n_ref"]
    for row in ROWS:
        got = _row(records, row)
        assert set(got) == set(shapes3d.METRICS), row
        for metric, r in got.items():
            assert r.status == "ok" and r.dataset == "voxels" and r.suite == "shapes3d", (row, metric, r.reason)
            assert r.n_real == r.n_fake == n_ref and r.protocol["n_ref"] == n_ref
            assert math.isfinite(r.value)
            assert r.extractor == ("voxels-evaluator" if metric in ("fid", "class_tv") else None)
        for kind in ("iou", "cd"):
            assert 0 <= got[f"cov_{kind}"].value <= 1 and 0 <= got[f"1nna_{kind}"].value <= 1
        assert 0 <= got["mmd_iou"].value <= 1 and 0 <= got["class_tv"].value <= 1
    assert _row(records, shapes3d.BERNOULLI)["mmd_iou"].extra == {"p fitted on": "256 train grids"}
    assert "occupancy" in _row(records, shapes3d.MODEL)["mmd_iou"].extra


def test_real_shapes_are_the_floor_and_speckle_is_far_from_them(smoke):
    _, records = smoke
    floor, bern = _row(records, shapes3d.FLOOR), _row(records, shapes3d.BERNOULLI)
    for metric in ("mmd_iou", "mmd_cd", "fid", "class_tv"):
        assert floor[metric].value < bern[metric].value, metric
    assert floor["cov_iou"].value > bern["cov_iou"].value
    assert bern["mmd_iou"].value > 0.6  # independent voxels overlap no solid well


def test_bernoulli_fit_is_the_mean_occupancy_and_samples_are_seeded():
    grids = torch.zeros(4, 1, 8, 8, 8, dtype=torch.uint8)
    grids[:2, 0, :4] = 255  # half the grid, in two of four grids
    grids[3, 0, 0, 0, 0] = 200
    p = shapes3d.bernoulli_fit(grids, chunk=3)
    assert p.shape == (1, 8, 8, 8) and p.dtype == torch.float64
    assert p[0, :4].mean() == pytest.approx(0.5 + 1 / 4 / 256) and p[0, 4:].max() == 0
    assert p[0, 0, 0, 0] == 0.75
    assert torch.equal(shapes3d.bernoulli_fit(grids, n=2), (grids[:2] > 127).double().mean(0))
    a, b = shapes3d.bernoulli_sample(p, 500, seed=1), shapes3d.bernoulli_sample(p, 500, seed=1)
    assert torch.equal(a, b) and a.dtype == torch.uint8 and set(a.unique().tolist()) <= {0, 255}
    assert not torch.equal(a, shapes3d.bernoulli_sample(p, 500, seed=2))
    freq = (a > 0).double().mean(0)
    assert (freq[0, 4:] == 0).all() and abs(freq[0, 1:4].mean() - 0.5) < 0.02  # Bernoulli(p) per voxel
    with pytest.raises(Exception, match="at least one"):
        shapes3d.bernoulli_fit(grids, n=0)


def test_figure_and_markdown_with_claims(smoke):
    root, records = smoke
    (link,) = {p for r in records for p in r.artifacts.values()}
    png = root / "leaderboards" / link
    assert png.is_file() and png.stat().st_size < 200_000
    md = (root / "leaderboards" / SUITES.get("shapes3d").leaderboard).read_text()
    for row in ROWS:
        assert f"| {row} " in md, row
    assert "Claims checked on these records" in md
    assert md.count("3D-GAN beats the voxel-wise Bernoulli baseline") == len(shapes3d.SET_METRICS)


def _record(model, metric, value):
    return Record(suite="shapes3d", model=model, dataset="voxels", metric=metric, value=value, status="ok")


def test_claims_say_plainly_when_3d_gan_does_not_beat_the_baseline():
    group = [_record(shapes3d.MODEL, "mmd_iou", 0.5), _record(shapes3d.BERNOULLI, "mmd_iou", 0.8),
             _record(shapes3d.MODEL, "cov_iou", 0.1), _record(shapes3d.BERNOULLI, "cov_iou", 0.2),
             _record(shapes3d.MODEL, "1nna_iou", 0.9), _record(shapes3d.BERNOULLI, "1nna_iou", 0.5),
             _record(shapes3d.MODEL, "1nna_cd", 0.45), _record(shapes3d.BERNOULLI, "1nna_cd", 0.99),
             _record(shapes3d.FLOOR, "mmd_iou", 0.4)]
    lines = {line.split(" on ")[1].split(" (")[0]: line for line in shapes3d.claims(group) if line.startswith("- ")}
    assert lines["MMD-IoU"].endswith("— holds.") and "real data 0.400" in lines["MMD-IoU"]
    assert lines["COV-IoU"].endswith("— does NOT hold.")
    assert "— does NOT hold (but" in lines["1-NNA-IoU"]  # |0.9 − 0.5| > |0.5 − 0.5|
    assert "`bernoulli`'s MMD-IoU is worse" in lines["1-NNA-IoU"]  # the caveat: 0.5 by speckle, not by a match
    assert lines["1-NNA-CD"].endswith("— holds.") and "(closer to 0.5 is better)" in lines["1-NNA-CD"]
    assert len(lines) == 4  # metrics without both rows are left out


def test_the_main_job_runs_3d_gan_against_its_baseline(tmp_path, one_thread):
    """The main job's selection: 3D-GAN, the Bernoulli baseline and the floor, with the claim lines."""
    ctx = RunContext(suite="shapes3d", profile="embedded", preset="smoke", seed=0, device=torch.device("cpu"),
                     runs_dir=tmp_path / "runs", results_dir=tmp_path / "results", figures_dir=tmp_path / "figures",
                     progress=False, models=shapes3d.SUITE.main_models)
    shapes3d.run(ctx)
    assert {r.model for r in ctx.records} == {"real-data", "3d-gan", "bernoulli"}
    assert sum(line.startswith("- 3D-GAN beats") for line in shapes3d.claims(ctx.records)) == 6


def test_paper_profile_without_a_data_root_says_why(tmp_path):
    ctx = RunContext(suite="shapes3d", profile="paper", preset="smoke", seed=0, device=torch.device("cpu"),
                     runs_dir=tmp_path / "runs", results_dir=tmp_path / "results", figures_dir=tmp_path / "figures",
                     progress=False)
    shapes3d.run(ctx)
    (r,) = ctx.records
    assert r.status == "unavailable" and r.dataset == "modelnet10" and "--data-root" in r.reason
    assert DATASETS.get("modelnet10").profile == "paper"


@pytest.mark.filterwarnings("ignore::gbench.metrics.frechet.SingularCovarianceWarning")  # 6 test grids
def test_paper_profile_on_a_modelnet10_folder(tmp_path, one_thread):
    """A tiny ModelNet10-layout root (.npy grids of two classes): every row is scored; class TV is
    'unavailable' because voxels-evaluator reads the `voxels` classes, not ModelNet's."""
    import numpy as np

    from gbench.data.voxels import render_voxels

    grids, _, _ = render_voxels(22, seed=5)
    for i, name in enumerate(("chair", "table")):
        for split, count, start in (("train", 8, 0), ("test", 3, 8)):
            folder = tmp_path / "data" / "ModelNet10" / name / split
            folder.mkdir(parents=True)
            for k in range(count):
                np.save(folder / f"{name}_{k:04d}.npy", grids[11 * i + start + k, 0].numpy() > 127)
    ctx = RunContext(suite="shapes3d", profile="paper", preset="smoke", seed=0, device=torch.device("cpu"),
                     runs_dir=tmp_path / "runs", results_dir=tmp_path / "results", figures_dir=tmp_path / "figures",
                     progress=False, data_root=tmp_path / "data")
    shapes3d.run(ctx)
    by_row = {}
    for r in ctx.records:
        by_row.setdefault(r.model, {})[r.metric] = r
    for row in ROWS:
        assert set(by_row[row]) == set(shapes3d.SET_METRICS) | {"fid"}, row
        assert all(r.status == "ok" and r.dataset == "modelnet10" and r.n_real == 6 for r in by_row[row].values())
    (missing,) = by_row["all"].values()
    assert missing.metric == "class_tv" and missing.status == "unavailable" and "not modelnet10's" in missing.reason


def test_the_full_preset_runs_at_the_papers_64_cubed():
    assert shapes3d.datasets("embedded", "quick") == shapes3d.datasets("embedded", "smoke") == ("voxels",)
    assert shapes3d.datasets("embedded", "full") == ("voxels-64",)
    assert DATASETS.get("voxels-64").shape == (1, 64, 64, 64)
    assert shapes3d.datasets("paper", "full") == ("modelnet10",)
