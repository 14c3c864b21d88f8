"""The `disentanglement` suite at the smoke preset, through the runner: one record
per model × metric with its sample size, markdown from the records with each
model's traversal figure linked, and a resumed run that reproduces the records."""

import json

import pytest
import torch
from PIL import Image

from gbench.leaderboard import render_suite
from gbench.records import load_results
from gbench.runner import RunRequest, run
from gbench.suites import SUITES
from gbench.suites.disentanglement import METRIC_NAMES, MODELS, PROTOCOLS


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("disentanglement")
    request = RunRequest(suite="disentanglement", preset="smoke", device="cpu", results=root / "results",
                         runs=root / "runs", progress=False)
    threads = torch.get_num_threads()
    records = run(request)
    assert torch.get_num_threads() == threads  # the suite's one-thread setting does not leak
    return root, request, records


def test_suite_is_registered_with_its_leaderboard():
    suite = SUITES.get("disentanglement")
    assert suite.leaderboard == "disentanglement.md"
    from gbench.metrics.spec import METRICS
    from zoo.models import MODELS as ZOO

    assert all(ZOO.get(m).family == "vae" for m in suite.models)  # every row is a registered zoo VAE
    assert all(m in METRICS for m in suite.metrics)  # every column has its registered spec
    assert set(suite.main_models) <= set(MODELS)


def test_smoke_run_writes_every_model_and_metric(smoke_run):
    root, _, records = smoke_run
    assert {(r.model, r.metric) for r in records} == {(m, k) for m in MODELS for k in METRIC_NAMES}
    assert len(records) == len(MODELS) * len(METRIC_NAMES)
    protocol = PROTOCOLS["smoke"]
    for r in records:
        assert r.status == "ok" and r.dataset == "dsprites" and r.preset == "smoke"
        assert isinstance(r.value, float) and r.value == r.value
        if r.metric in ("mig", "sap", "dci_disentanglement", "dci_completeness", "dci_informativeness"):
            assert r.n_real == protocol.num_codes and 0.0 <= r.value <= 1.0
        elif r.metric == "factorvae_score":
            assert r.n_real == protocol.factorvae_variance + 64 * (protocol.factorvae_train + protocol.factorvae_eval)
        else:
            assert r.n_real == protocol.num_test
    nll = {r.model: r.value for r in records if r.metric == "recon_nll"}
    elbo = {r.model: r.value for r in records if r.metric == "elbo"}
    for m in MODELS:  # binary images: a Bernoulli NLL is > 0, and log p(x|z) ≤ 0, KL ≥ 0 make the ELBO < 0
        assert nll[m] > 0 and elbo[m] < 0
    on_disk = load_results(root / "results")["disentanglement"]
    assert sorted(r.key() for r in on_disk) == sorted(r.key() for r in records)


def test_markdown_comes_from_the_records_and_links_each_traversal(smoke_run):
    root, _, records = smoke_run
    markdown = (root / "disentanglement.md").read_text()
    assert markdown == render_suite(SUITES.get("disentanglement"), load_results(root / "results")["disentanglement"])
    for header in ("MIG", "SAP", "DCI-D", "DCI-C", "DCI-I", "FactorVAE", "recon. NLL (nats)", "ELBO (nats)"):
        assert header in markdown
    for m in MODELS:
        rel = f"figures/disentanglement/dsprites_{m}_smoke_traversal.png"
        assert f"[latent traversal]({rel})" in markdown
        image = Image.open(root / rel)
        # 10 latents × 11 values of 64×64 images with 2-pixel padding, under a title.
        assert image.size[0] == 11 * 66 + 2 and image.size[1] > 10 * 66 + 2


def test_rerun_resumes_from_checkpoints_and_reproduces_the_records(smoke_run):
    root, request, records = smoke_run
    again = run(request)  # training is finished in the model directories: loads the checkpoints
    values = {(r.model, r.metric): r.value for r in records}
    assert {(r.model, r.metric): r.value for r in again} == values
    lines = (root / "results" / "disentanglement.jsonl").read_text().splitlines()
    assert len(lines) == len(records)  # replaced, not duplicated
    assert all(json.loads(line)["suite"] == "disentanglement" for line in lines)
