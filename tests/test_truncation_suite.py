"""The `truncation` suite (BigGAN / StyleGAN truncation trick) at the smoke preset, through the runner.

Only `digits` runs here (the module's dataset tuple is patched) to keep the test under a minute;
`scenes` takes the same code path with another extractor.
"""

import math

import pytest
import torch

from gbench.data import DATASETS
from gbench.evaluate import Reference, score_images
from gbench.fit import fit
from gbench.images import float_to_uint8
from gbench.records import read_records
from gbench.runner import RunRequest, run
from gbench.suites import SUITES, RunContext
from gbench.suites import truncation
from gbench.suites.generation import sample, smoke_reference


@pytest.fixture(scope="module")
def smoke(tmp_path_factory, one_thread):
    root = tmp_path_factory.mktemp("truncation")
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(truncation.DATASETS_BY_PROFILE, "embedded", ("digits",))
        run(RunRequest(suite="truncation", preset="smoke", device="cpu", runs=root / "runs",
                       results=root / "leaderboards" / "results", progress=False))
    return root, read_records(root / "leaderboards" / "results" / "truncation.jsonl")


@pytest.fixture(scope="module")
def stylegan(smoke):
    """The suite's trained StyleGAN (resumed from its checkpoint), the digits test reference and extractor."""
    from gbench.evaluate import load_profile_extractor

    root, _ = smoke
    ctx = RunContext(suite="truncation", profile="embedded", preset="smoke", seed=0, device=torch.device("cpu"),
                     runs_dir=root / "runs", results_dir=root / "scratch", figures_dir=root / "scratch", progress=False)
    train, test = (DATASETS.get("digits")(split) for split in ("train", "test"))
    model = fit(ctx, "stylegan", "digits", train).model
    extractor = load_profile_extractor(ctx, "digits")
    return model, Reference.from_images(extractor, smoke_reference(ctx, test, extractor).images), extractor


def _value(records, model, variant, metric):
    (r,) = [r for r in records if r.model == model and r.variant == variant and r.metric == metric]
    return r


def test_one_record_per_value_and_metric_with_variant_and_protocol(smoke):
    _, records = smoke
    for model, (key, _, grid) in truncation.GRIDS.items():
        for value in grid:
            variant = truncation.variant_name(key, value)
            for metric in truncation.METRICS:
                r = _value(records, model, variant, metric)
                assert r.status == "ok" and r.n_fake == r.n_real == 128 and r.extractor == "digits-evaluator"
                assert r.protocol[key] == ("inf" if math.isinf(value) else value)
                assert truncation.variant_value(variant) == value
    assert {truncation.variant_name("t", math.inf), truncation.variant_name("psi", 0.6)} == {"t=inf", "psi=0.6"}
    assert len(records) == len({r.key() for r in records})


def test_untruncated_stylegan_is_the_generation_sampling_path(smoke, stylegan):
    """ψ = 1 samples exactly what generation samples (model.sample without ψ), and its record is their score;
    ψ = 0.6 from the same seed is a different set (truncation changes the images, not the z)."""
    _, records = smoke
    model, reference, extractor = stylegan
    plain = sample(model, reference.n, 0, None, "cpu")
    assert torch.equal(sample(truncation.Truncated(model, 1.0), reference.n, 0, None, "cpu"), plain)
    assert not torch.equal(sample(truncation.Truncated(model, 0.6), reference.n, 0, None, "cpu"), plain)
    fid = score_images(extractor, reference, plain, ("fid",), seed=0)["fid"].value
    assert _value(records, "stylegan", "psi=1", "fid").value == pytest.approx(fid, rel=1e-9)


def test_psi_zero_collapses_to_the_mean_w_and_scores_duplicates(stylegan):
    """ψ = 0 maps every z to w̄: with the same noise inputs every image is identical, and the
    k-NN metrics still give numbers in [0, 1] on a set of duplicates (zero radii)."""
    model, reference, extractor = stylegan
    g = torch.Generator().manual_seed(0)
    w = model.truncate(model.mapping(torch.randn(reference.n, model.latent_dim, generator=g)), 0.0)
    assert torch.equal(w, model.generator.w_avg.expand_as(w))
    noise = [torch.randn(1, 1, r, r, generator=g).expand(reference.n, -1, -1, -1)
             for r in model.generator.synthesis.resolutions]
    with torch.no_grad():
        images = float_to_uint8(model.synthesis(w, noise=noise))
    assert (images == images[:1]).all()
    scores = score_images(extractor, reference, images, truncation.METRICS, seed=0)
    for metric in ("precision", "recall", "density", "coverage"):
        assert 0.0 <= scores[metric].value <= (math.inf if metric == "density" else 1.0), metric
    assert math.isfinite(scores["fid"].value)


def test_markdown_table_claims_and_figures(smoke):
    root, records = smoke
    md = (root / "leaderboards" / SUITES.get("truncation").leaderboard).read_text()
    for variant in ("psi=0.2", "psi=1", "t=0.25", "t=inf"):
        assert f"| {variant} " in md, variant
    assert "Claims checked on these records" in md and "lowering ψ raises precision" in md
    assert "lowering t lowers recall" in md and "Spearman ρ(psi, recall)" in md
    links = {p for r in records for p in r.artifacts.values()}
    assert any(p.endswith("digits_stylegan_smoke_truncation.png") for p in links)
    assert len(links) == 4 and all((root / "leaderboards" / p).is_file() for p in links)


def test_claim_verdicts_follow_the_sign_of_the_rank_correlation(smoke):
    """Precision falling with ψ holds, rising does not; recall the other way; a constant is undefined."""
    from dataclasses import replace

    _, records = smoke
    base = _value(records, "stylegan", "psi=1", "precision")

    def group(precision, recall):
        return [replace(base, variant=f"psi={v:g}", metric=m, value=y)
                for v, p, r in zip((0.2, 0.6, 1.0), precision, recall) for m, y in (("precision", p), ("recall", r))]

    good = "\n".join(truncation.claims(group((0.9, 0.5, 0.1), (0.1, 0.5, 0.9))))
    assert good.count("— holds.") == 2 and "ρ(psi, precision) = -1.00" in good
    bad = "\n".join(truncation.claims(group((0.1, 0.5, 0.9), (0.3, 0.3, 0.3))))
    assert bad.count("— does NOT hold.") == 2 and "undefined (constant)" in bad


def test_an_empty_selection_says_so(tmp_path):
    """No model selected: the suite trains nothing and writes one record saying how to run it."""
    ctx = RunContext(suite="truncation", profile="embedded", preset="smoke", seed=0, device=torch.device("cpu"),
                     runs_dir=tmp_path / "runs", results_dir=tmp_path / "results", figures_dir=tmp_path / "figures",
                     progress=False, models=())
    truncation.run(ctx)
    (r,) = ctx.records
    assert r.status == "unavailable" and "gbench run --suite truncation" in r.reason
