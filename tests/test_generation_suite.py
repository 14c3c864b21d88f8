"""The generation suite end to end at the smoke preset."""

import re
import subprocess
import sys

import pytest

from gbench.leaderboard import write_leaderboards
from gbench.records import read_records, results_file
from gbench.runner import RunRequest, run
from gbench.evaluate import sample_metrics


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("gen")
    req = RunRequest(suite="generation", preset="smoke", device="cpu", runs=root / "runs",
                     results=root / "leaderboards" / "results", progress=False,
                     models=("dcgan", "vae", "icgan", "pixelcnn"))
    return root, req, run(req)


def test_rows_and_columns(smoke_run):
    root, _, records = smoke_run
    by = {(r.model, r.metric): r for r in records if r.dataset == "digits"}
    for model in ("real-data", "dcgan", "dcgan@init", "vae", "vae@init", "icgan", "icgan@init", "pixelcnn",
                  "pixelcnn@init"):
        for metric in sample_metrics():
            r = by[(model, metric)]
            assert r.status == "ok" and r.n_fake == r.n_real == 128  # same reference and sample count everywhere
            assert r.extractor == "digits-evaluator" and r.extractor_verified
    for metric in ("elbo", "nll_iwae", "bits_per_dim"):
        assert by[("vae", metric)].value is not None
    # The IWAE bound is at least the ELBO (Burda et al. 2016, Thm. 1): NLL_IWAE ≤ −ELBO, up to the
    # Monte Carlo noise of two independent estimates (k = 4 samples at smoke; a few nats on 1,024 pixels).
    nll, elbo = by[("vae", "nll_iwae")].value, by[("vae", "elbo")].value
    assert nll <= -elbo + 0.01 * abs(elbo), (nll, -elbo)
    assert by[("vae", "nll_iwae")].protocol == {"iwae_k": 4}
    for metric in ("edit_acc", "recon_mse", "class_acc"):
        assert by[("icgan", metric)].value is not None


def test_real_data_floor_is_best(smoke_run):
    _, _, records = smoke_run
    for dataset in ("digits", "scenes"):
        fid = {r.model: r.value for r in records if r.metric == "fid" and r.dataset == dataset}
        assert all(fid["real-data"] < v for m, v in fid.items() if m != "real-data"), dataset


def test_scenes_rows_use_the_scenes_evaluators(smoke_run):
    """On scenes: DCGAN at 64×64 and its @init scored in scenes-evaluator's space; the real floor
    also with its own captions and label maps, which the shipped evaluators read almost perfectly."""
    _, _, records = smoke_run
    scenes = [r for r in records if r.dataset == "scenes"]
    assert {r.model for r in scenes} == {"real-data", "dcgan", "dcgan@init"}  # the MLP and VAE models skip 64×64
    by = {(r.model, r.metric): r for r in scenes}
    for model in ("real-data", "dcgan", "dcgan@init"):
        for metric in sample_metrics():
            r = by[(model, metric)]
            assert r.status == "ok" and r.extractor == "scenes-evaluator" and r.extractor_verified
    floor = {m: by[("real-data", m)] for m in ("caption_consistency", "layout_miou", "r_precision")}
    assert floor["caption_consistency"].value > 0.95 and floor["layout_miou"].value > 0.9
    assert floor["r_precision"].value > 0.7 and floor["r_precision"].protocol == {"r_mismatched": 99, "r_folds": 10}
    assert floor["layout_miou"].extractor == "scenes-segmenter" and floor["r_precision"].extractor == "scenes-matcher"
    assert not [r for r in scenes if r.model != "real-data" and r.metric in floor]  # unconditional: no condition


def test_figures_and_markdown(smoke_run):
    root, _, records = smoke_run
    links = {p for r in records for p in r.artifacts.values()}
    assert any("interpolation" in p for p in links) and any("arithmetic" in p for p in links)
    for rel in links:
        assert (root / "leaderboards" / rel).is_file()
    md = (root / "leaderboards" / "generation.md").read_text()
    assert "real-data" in md and "Provenance:" in md and "interpolation" in md
    assert "Claims checked on these records" in md and "IWAE bound is at least as tight" in md


def test_rerun_resumes_and_reproduces(smoke_run):
    """A second run finds the finished checkpoints, replaces records of the same
    key (no duplicates) and reproduces every number exactly (same seed, same device)."""
    root, req, first = smoke_run
    second = run(req)
    assert [(r.model, r.metric, r.value) for r in first] == [(r.model, r.metric, r.value) for r in second]
    stored = read_records(results_file(req.results, "generation"))
    assert len(stored) == len({r.key() for r in stored}) == len(first)


def test_main_meta_suite_smoke_via_cli(tmp_path):
    """`gbench run --suite main --preset smoke` writes records and markdown for every suite, and
    tells a log (not a TTY) what it does in plain lines: no progress bar, a compact summary."""
    from gbench.suites import SUITES

    results = tmp_path / "lb" / "results"
    proc = subprocess.run([sys.executable, "-m", "gbench", "run", "--suite", "main", "--preset", "smoke",
                           "--device", "cpu", "--runs", str(tmp_path / "runs"),
                           "--results", str(results)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "\r" not in proc.stdout + proc.stderr  # no carriage-return progress bars in a log
    assert "[generation] dcgan on digits:" in proc.stdout and "steps ready in" in proc.stdout
    summary = proc.stdout[proc.stdout.index("generation · digits — full table:"):]
    table_lines = [line for line in summary.splitlines() if not line.startswith("[")]
    assert max(len(line) for line in table_lines) < 160  # reasons are footnotes, not a column
    assert re.search(r"\n\[\d+\] unavailable:", summary)  # ... such as LPIPS' missing backbone
    assert proc.stderr.count("gbench: warning: KID: 128 images") == 1 and "Traceback" not in proc.stderr
    for name, suite in SUITES.items():
        assert read_records(results_file(results, name)), f"suite {name} wrote no record"
        assert (tmp_path / "lb" / suite.leaderboard).is_file()
    # markdown is a pure function of the records: this process (another hash seed) writes the same bytes
    before = {p.name: p.read_bytes() for p in (tmp_path / "lb").glob("*.md")}
    write_leaderboards(results)
    assert before == {p.name: p.read_bytes() for p in (tmp_path / "lb").glob("*.md")}
