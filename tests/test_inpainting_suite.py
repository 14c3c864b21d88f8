"""The `inpainting` suite at `smoke` through the runner (on `scenes`, whose shipped evaluator gives FID),
its fixed test holes, the claims, FID on `natural` without Inception weights, and the paper profile's
folders (read when present, named when missing)."""

from dataclasses import replace

import pytest
import torch

from gbench.metrics.inpainting import METRIC_NAMES, score_completions
from gbench.records import read_records
from gbench.runner import RunRequest, run
from gbench.suites import SUITES, RunContext
from gbench.suites import inpainting
from gbench.transforms.inpaint import mean_fill, opencv_status

METRICS = (*METRIC_NAMES, "fid", "lpips", "ms_per_image")
NETWORK_ROWS = (inpainting.ABLATION, inpainting.GAN)


@pytest.fixture(scope="module")
def no_weights(tmp_path_factory):
    """A machine with no pretrained files: empty $GBENCH_WEIGHTS and torch hub cache."""
    empty = tmp_path_factory.mktemp("no-weights")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GBENCH_WEIGHTS", str(empty))
        mp.setattr(torch.hub, "get_dir", lambda: str(empty / "hub"))
        yield empty


@pytest.fixture(scope="module")
def smoke(tmp_path_factory, one_thread, no_weights):
    root = tmp_path_factory.mktemp("inpainting")
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(inpainting.DATASETS_BY_PROFILE, "embedded", ("scenes",))
        run(RunRequest(suite="inpainting", preset="smoke", device="cpu", runs=root / "runs",
                       results=root / "leaderboards" / "results", progress=False))
    return root, read_records(root / "leaderboards" / "results" / "inpainting.jsonl")


def _ctx(tmp_path, **kw) -> RunContext:
    base = dict(suite="inpainting", profile="embedded", preset="smoke", seed=0, device=torch.device("cpu"),
                runs_dir=tmp_path / "runs", results_dir=tmp_path / "lb" / "results",
                figures_dir=tmp_path / "lb" / "figures", progress=False)
    return RunContext(**{**base, **kw})


def test_every_row_variant_and_metric_has_a_record(smoke):
    _, records = smoke
    by = {(r.model, r.variant, r.metric): r for r in records}
    assert len(by) == len(records)  # one record per key
    opencv = opencv_status()[0]
    rows = [m for m in inpainting.MODELS if opencv or m not in inpainting.OPENCV_ROWS]
    for row in rows:
        for variant in inpainting.PROTOCOLS["smoke"].variants:
            for metric in METRICS:
                r = by[(row, variant, metric)]
                assert r.dataset == "scenes" and r.n_real == r.n_fake == 137, (row, variant, metric)  # FID: d + 1
                if metric == "lpips":
                    assert r.status == "unavailable" and "alexnet-owt-7be5be79.pth not found" in r.reason
                    continue
                assert r.status == "ok", (row, variant, metric)
                assert r.protocol["mask_seed"] == inpainting.mask_seed(variant)  # the same holes for every row
            assert by[(row, variant, "fid")].extractor == "scenes-evaluator"
            assert by[(row, variant, "l1_valid")].value == 0.0  # every method keeps the known pixels
    if not opencv:
        for row in inpainting.OPENCV_ROWS:
            (r,) = [r for r in records if r.model == row]
            assert r.status == "unavailable" and "pip install opencv-python-headless" in r.reason
    assert by[(inpainting.ABLATION, "free-0.2", "fid")].protocol["ablation"] == {"discriminator": "global"}
    assert by[(inpainting.GAN, "free-0.2", "fid")].extra["discriminator"] == "global + patch"


def test_records_are_the_scores_of_the_fixed_test_holes(smoke):
    """Recomputing the mean fill of the first 137 test scenes with eval_masks gives the recorded numbers."""
    from gbench.data.scenes import load_split

    _, records = smoke
    real = load_split("test", 64, slice(0, 137)).images
    for variant in inpainting.PROTOCOLS["smoke"].variants:
        masks = inpainting.eval_masks(variant, 137, 64)
        kind, ratio = inpainting.parse_variant(variant)
        assert inpainting.variant_name(kind, ratio) == variant
        assert masks.float().mean().item() == pytest.approx(ratio, abs=0.01)  # square sides are whole pixels
        assert torch.equal(masks, inpainting.eval_masks(variant, 137, 64))
        scores = score_completions(mean_fill(real, masks), real, masks)
        (r,) = [r for r in records if r.model == "mean-fill" and r.variant == variant and r.metric == "psnr_hole"]
        assert r.value == pytest.approx(scores["psnr_hole"].value, rel=1e-12)
    assert not torch.equal(inpainting.eval_masks("free-0.2", 8, 64), inpainting.eval_masks("free-0.3", 8, 64))


def test_markdown_table_claims_notes_and_figure(smoke):
    root, records = smoke
    md = (root / "leaderboards" / SUITES.get("inpainting").leaderboard).read_text()
    for row in ("mean-fill", "biharmonic", *NETWORK_ROWS):
        assert f"| {row} " in md, row
    assert "| center-0.25 " in md and "PSNR hole (dB) ↑" in md and "SSIM valid ↑" in md
    assert "Claims checked on these records (Demir & Ünal 2018" in md
    assert md.count("the patch discriminator improves the hole over the global-only ablation") == 3
    assert md.count("the GAN beats biharmonic in the hole") == 4
    if not opencv_status()[0]:
        assert "`telea` all: unavailable: OpenCV not installed" in md
    (link,) = {p for r in records for p in r.artifacts.values()}
    figure = root / "leaderboards" / link
    assert f"({link})" in md and figure.is_file() and figure.stat().st_size < 300_000


def test_claim_verdicts_follow_the_means_over_hole_settings(smoke):
    _, records = smoke
    base = [r for r in records if r.model == inpainting.GAN and r.metric == "psnr_hole"][0]

    def group(gan, ablation, biharmonic):
        return [replace(base, model=m, variant=v, value=x)
                for m, values in ((inpainting.GAN, gan), (inpainting.ABLATION, ablation), ("biharmonic", biharmonic))
                for v, x in zip(("center-0.25", "free-0.2"), values)]

    good = "\n".join(inpainting.claims(group((25.0, 27.0), (24.0, 27.5), (20.0, 22.0))))
    assert good.count("— holds.") == 2 and "better in 1 of 2" in good and "better in 2 of 2" in good
    bad = "\n".join(inpainting.claims(group((20.0, 21.0), (24.0, 27.5), (20.5, 22.0))))
    assert bad.count("— does NOT hold.") == 2 and bad.count("better in 0 of 2") == 2
    partial = "\n".join(inpainting.claims(group((20.0, 21.0), (24.0, 27.5), (20.5, 22.0))[:-1]))
    assert "global-only" in partial and "biharmonic" not in partial  # one setting unmeasured: no line


def test_natural_fid_says_which_extractor_file_is_missing(tmp_path, no_weights):
    from gbench.data.inpaint_sets import natural

    extractor, why = inpainting._extractor(_ctx(tmp_path), "natural")
    assert extractor is None and "pt_inception-2015-12-05-6726825d.pth" in why
    assert "no shipped evaluator reads natural photographs" in why
    a, b = natural(8, 4, 64, seed=0), natural(8, 4, 64, seed=1)
    assert a.train.images.shape == (8, 3, 64, 64) and a.test.shape == (4, 3, 64, 64)
    assert torch.equal(a.test, b.test) and not torch.equal(a.train.images, b.train.images)  # test set fixed


def test_paper_profile_reads_the_folders_and_names_the_missing_ones(tmp_path, no_weights):
    from PIL import Image

    from gbench.data.natural import random_patches

    root = tmp_path / "data"
    train, test = (root / "paris_streetview" / d for d in ("paris_train_original", "paris_eval_gt"))
    for folder, n in ((train, 6), (test, 3)):
        folder.mkdir(parents=True)
        for i, image in enumerate(random_patches("train", n, 80, seed=len(str(folder)))):
            Image.fromarray(image[:, :, :72].permute(1, 2, 0).numpy()).save(folder / f"{i}.png")  # 80×72 → 64×64
    ctx = _ctx(tmp_path, profile="paper", data_root=root, models=("mean-fill",), extractor="scenes-evaluator")
    inpainting.run(ctx)
    reasons = {r.dataset: r.reason for r in ctx.records if r.metric == "all"}
    assert "places365_standard/train not found" in reasons["places2"]
    assert "celeba" in reasons["celeba"]
    paris = [r for r in ctx.records if r.dataset == "paris-streetview"]
    assert {r.variant for r in paris} == set(inpainting.PROTOCOLS["smoke"].variants)
    assert all(r.n_real == 3 for r in paris) and {r.model for r in paris} == {"mean-fill"}
    fid = [r for r in paris if r.metric == "fid"]
    assert fid and all(r.status == "unavailable" and "(3 ≤ 136: a singular covariance)" in r.reason for r in fid)
    assert all(r.status == "ok" for r in paris if r.metric in METRIC_NAMES)


def test_the_main_job_trains_both_discriminators_on_natural_only(tmp_path, one_thread, no_weights):
    """The main job's selection (main_models, main_datasets): `natural` only, every row including the GAN
    and its global-only ablation, so that both of the paper's claims are checked on its records."""
    suite = SUITES.get("inpainting")
    ctx = _ctx(tmp_path, models=suite.main_models, datasets=suite.main_datasets["embedded"])
    inpainting.run(ctx)
    scored = [r for r in ctx.records if r.status == "ok"]
    assert {r.dataset for r in ctx.records} == {"natural"}
    assert {inpainting.GAN, inpainting.ABLATION, "mean-fill", "biharmonic"} <= {r.model for r in scored}
    lines = "\n".join(inpainting.claims(ctx.records))
    assert lines.count("global-only ablation:") == 2 and lines.count("beats biharmonic") == 3  # no FID: no extractor
