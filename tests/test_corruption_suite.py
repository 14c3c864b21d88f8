"""The `corruption` suite (Heusel et al. 2017, appendix) at the smoke preset, through the runner."""

from dataclasses import replace

import pytest
from scipy.stats import spearmanr

from gbench.transforms.corruptions import DISTURBANCES
from gbench.records import Record, read_records
from gbench.runner import RunRequest, run
from gbench.suites import SUITES
from gbench.leaderboard import render_suite
from gbench.suites.corruption import BASE_METRICS, level_variant, spearman_by_disturbance


@pytest.fixture(scope="module")
def smoke(tmp_path_factory, one_thread):
    root = tmp_path_factory.mktemp("corruption")
    run(RunRequest(suite="corruption", preset="smoke", device="cpu", results=root / "results",
                   runs=root / "runs", progress=False))
    return root, read_records(root / "results" / "corruption.jsonl")


def _value(records, model, metric, level=None):
    variant = "" if level is None else level_variant(level)
    (r,) = [r for r in records if r.model == model and r.metric == metric and r.variant == variant]
    return r.value


def test_smoke_writes_every_level_and_spearman_record_with_unique_keys(smoke):
    _, records = smoke
    assert len({r.key() for r in records}) == len(records)
    expected = {(name, level_variant(level), m) for name, d in DISTURBANCES.items() for level in d.levels
                for m in BASE_METRICS}
    expected |= {(name, "", f"spearman_{m}") for name in DISTURBANCES for m in BASE_METRICS}
    assert {(r.model, r.variant, r.metric) for r in records} == expected
    for r in records:
        assert r.status == "ok" and r.dataset == "digits" and r.extractor == "digits-evaluator"
    kid = next(r for r in records if r.metric == "kid")
    assert kid.protocol == {"kid_subsets": 100, "kid_subset_size": 64}  # 128 disturbed images: subsets of n/2
    # Level 0 is the identity for every disturbance: one real-data floor.
    assert len({_value(records, name, "fid", 0) for name in DISTURBANCES}) == 1


def test_fid_of_strongest_gaussian_noise_exceeds_the_floor(smoke):
    _, records = smoke
    assert _value(records, "gaussian_noise", "fid", 0.75) > _value(records, "gaussian_noise", "fid", 0) + 10


def test_spearman_records_are_the_rank_correlation_of_the_level_records(smoke):
    _, records = smoke
    for name, d in DISTURBANCES.items():
        for m in BASE_METRICS:
            values = [_value(records, name, m, level) for level in d.levels]
            expected = spearmanr(d.levels, values).statistic
            assert _value(records, name, f"spearman_{m}") == pytest.approx(expected, abs=1e-12)


def test_smoke_writes_plots_and_a_markdown_table(smoke):
    root, records = smoke
    md = (root / SUITES.get("corruption").leaderboard).read_text()
    import re

    head = next(ln for ln in md.splitlines() if ln.startswith("| disturbance") and "level α" in ln)
    assert [c.strip() for c in head.strip("|").split("|")] == ["disturbance", "level α", "FID ↓", "KID×10³ ↓", "IS ↑"]
    assert re.search(r"^\| gaussian_noise\s+\| 0\.75\s+\|", md, re.M) and "Spearman" in md
    for name in DISTURBANCES:
        for path in {p for r in records if r.model == name for p in r.artifacts.values()}:
            png = root / path
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 1000
            assert f"]({path})" in md
    assert len({p for r in records for p in r.artifacts.values()}) == 2 * len(DISTURBANCES)


def test_render_lists_disturbances_where_a_metric_is_not_monotone(smoke):
    _, records = smoke
    # Reverse IS over swirl's levels: IS then rises with the level, and the text must say so.
    levels = DISTURBANCES["swirl"].levels
    is_values = {level_variant(a): float(i) for i, a in enumerate(levels)}
    edited = [replace(r, value=is_values[r.variant]) if r.model == "swirl" and r.metric == "is" and r.variant else r
              for r in records if not (r.model == "swirl" and r.metric == "spearman_is")]
    rho = spearman_by_disturbance([r for r in edited if r.model == "swirl"])[("swirl", "is")]
    assert rho == pytest.approx(1.0)
    swirl_is = next(r for r in records if r.model == "swirl" and r.metric == "spearman_is")
    edited.append(replace(swirl_is, value=rho))
    md = render_suite(SUITES.get("corruption"), edited)
    line = next(ln for ln in md.splitlines() if ln.startswith("- IS"))
    assert "does not fall monotonically" in line and "`swirl` (ρ = 1.00)" in line


def test_spearman_is_undefined_for_a_constant_metric():
    recs = [Record(suite="corruption", model="x", dataset="d", metric="is", variant=level_variant(a), value=1.0)
            for a in (0, 1, 2)]
    rho = spearman_by_disturbance(recs)[("x", "is")]
    assert rho != rho  # NaN
    spearman = Record(suite="corruption", model="x", dataset="d", metric="spearman_is", value=rho)
    md = render_suite(SUITES.get("corruption"), [*recs, spearman])
    assert "undefined" in md and "| nan" not in md


def test_paper_profile_without_inception_weights_is_unavailable(tmp_path, monkeypatch):
    monkeypatch.setenv("GBENCH_WEIGHTS", str(tmp_path / "no-weights"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no-torch-home"))
    records = run(RunRequest(suite="corruption", profile="paper", preset="smoke", device="cpu",
                             results=tmp_path / "results", runs=tmp_path / "runs", progress=False))
    assert len(records) == 1 and records[0].status == "unavailable"
    assert "inception-v3-fid" in records[0].reason
