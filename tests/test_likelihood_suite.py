"""The `likelihood` suite at the smoke preset through the runner, and its exact baseline.

The independent-pixel NLL is checked against a direct count, and the suite's PixelCNN and VAE numbers
against the zoo models' own methods on the same discretized test images.
"""

import math

import numpy as np
import pytest
import torch

from gbench.data import DATASETS
from gbench.fit import fit
from gbench.images import uint8_to_float
from gbench.records import read_records
from gbench.runner import RunRequest, run
from gbench.suites import RunContext
from gbench.suites import likelihood


@pytest.fixture(scope="module")
def smoke(tmp_path_factory, one_thread):
    root = tmp_path_factory.mktemp("likelihood")
    run(RunRequest(suite="likelihood", preset="smoke", device="cpu", runs=root / "runs",
                   results=root / "leaderboards" / "results", progress=False))
    return root, read_records(root / "leaderboards" / "results" / "likelihood.jsonl")


def _value(records, model, variant, metric):
    (r,) = [r for r in records if r.model == model and r.variant == variant and r.metric == metric]
    assert r.status == "ok" and r.dataset == "digits"
    return r.value


def test_every_row_variant_and_metric(smoke):
    root, records = smoke
    for variant in likelihood.VARIANTS:
        for row in ("pixelcnn", likelihood.FLOOR):
            nll = _value(records, row, variant, "nll_exact")
            assert _value(records, row, variant, "bits_per_dim") == pytest.approx(nll / (1024 * math.log(2)))
        assert _value(records, "vae", variant, "nll_iwae") > 0
        assert _value(records, "vae", variant, "bits_per_dim") > 0
    markdown = (root / "leaderboards" / "likelihood.md").read_text()
    assert "discretization" in markdown and "independent-pixels" in markdown and "8-bit" in markdown


def test_independent_pixels_against_a_direct_count():
    g = torch.Generator().manual_seed(0)
    train = torch.randint(0, 256, (50, 1, 3, 3), generator=g, dtype=torch.uint8)
    test = torch.randint(0, 256, (7, 1, 3, 3), generator=g, dtype=torch.uint8)
    got = likelihood.independent_pixels_nll(train, test, 256).numpy()
    tr, te = train.reshape(50, -1).numpy(), test.reshape(7, -1).numpy()
    want = np.zeros(7)
    for d in range(9):
        p = (np.bincount(tr[:, d], minlength=256) + 1.0) / (50 + 256)
        want -= np.log(p[te[:, d]])
    np.testing.assert_allclose(got, want, rtol=1e-12)  # the same sums in float64: rounding only
    bits = likelihood.binarize(train)
    assert set(bits.unique().tolist()) <= {0, 255}
    ones = (bits > 0).reshape(50, -1).double().sum(0)
    p1 = (ones + 1) / 52
    x = (likelihood.binarize(test) > 0).reshape(7, -1).double()
    want = -(x * p1.log() + (1 - x) * (1 - p1).log()).sum(1)
    np.testing.assert_allclose(likelihood.independent_pixels_nll(bits, likelihood.binarize(test), 2), want,
                               rtol=1e-12)


def test_records_are_the_models_own_numbers(smoke):
    """The binary PixelCNN's record is model.nll on the thresholded test images (resumed from its checkpoint);
    the binary VAE's IWAE bound lies between the ELBO and 0 and the 8-bit VAE adds the bin width."""
    root, records = smoke
    ctx = RunContext(suite="likelihood", profile="embedded", preset="smoke", seed=0, device=torch.device("cpu"),
                     runs_dir=root / "runs", results_dir=root / "scratch", figures_dir=root / "scratch",
                     progress=False)
    train, test = (DATASETS.get("digits")(s) for s in ("train", "test"))
    binary = likelihood.binarize(test.images[:likelihood.SMOKE_TEST_IMAGES])
    train_bits = type(train)(likelihood.binarize(train.images[:]))
    model = fit(ctx, "pixelcnn", "digits", train_bits, variant="binary", overrides={"binarized": True}).model
    with torch.no_grad():
        nll = model.nll(uint8_to_float(binary)).double().mean().item()
    assert _value(records, "pixelcnn", "binary", "nll_exact") == pytest.approx(nll, rel=1e-6)
    for variant in likelihood.VARIANTS:
        # L_k ≥ ELBO holds in expectation; both are Monte-Carlo estimates on 32 images (slack: their noise)
        assert _value(records, "vae", variant, "nll_iwae") <= -_value(records, "vae", variant, "elbo") + 5.0
    # every row's nats are a discrete likelihood (the 8-bit VAE's density bound plus D·log(2/256)), so
    # bits/dim is nats / (D ln 2) for every row; the density's own bits/dim (+7 for the bin width) agrees
    model = fit(ctx, "vae", "digits", train, variant="gaussian", overrides={"decoder": "gaussian"}).model
    nats = _value(records, "vae", "8-bit", "nll_iwae")
    assert _value(records, "vae", "8-bit", "bits_per_dim") == pytest.approx(nats / (1024 * math.log(2)))
    density = -nats - 1024 * math.log(2 / 256)
    assert model.bits_per_dim(torch.tensor([density], dtype=torch.float64)).item() == pytest.approx(
        nats / (1024 * math.log(2)))
