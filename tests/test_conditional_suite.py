"""The `conditional` suite at the smoke preset on `scenes`: every row scored for realism and for its
condition, the CA ablation row, the figures linked, the claims, and the main job's empty run."""

import pytest
import torch

from gbench.records import Record, read_records
from gbench.runner import RunRequest, run
from gbench.suites import RunContext
from gbench.suites import conditional

TEXT = {"caption_consistency", "r_precision"}
LAYOUT = {"layout_miou", "pixel_accuracy"}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory, one_thread):
    root = tmp_path_factory.mktemp("conditional")
    run(RunRequest(suite="conditional", preset="smoke", device="cpu", runs=root / "runs",
                   results=root / "leaderboards" / "results", progress=False))
    return root, read_records(root / "leaderboards" / "results" / "conditional.jsonl")


def _metrics(records, model, variant=""):
    return {r.metric: r for r in records if r.model == model and r.variant == variant}


def test_each_row_is_scored_for_realism_and_for_its_condition(smoke):
    _, records = smoke
    assert len(records) == len({r.key() for r in records})
    expected = {conditional.FLOOR: TEXT | LAYOUT, **{m: TEXT for m in conditional.TEXT_MODELS},
                **{m: LAYOUT for m in conditional.LAYOUT_MODELS}}
    for row, conditioned in expected.items():
        got = _metrics(records, row)
        assert set(got) == set(conditional.SCORES) | conditioned, row
        for r in got.values():
            assert r.status == "ok" and r.dataset == "scenes", (row, r.metric, r.reason)
            if r.metric in conditional.SCORES:
                assert r.n_fake == r.n_real and r.extractor == "scenes-evaluator"
    ablation = _metrics(records, "stackgan1", "no-ca")
    assert set(ablation) == set(conditional.SCORES) | TEXT


def test_the_floor_reads_real_scenes_with_their_own_conditions_well(smoke):
    _, records = smoke
    floor = _metrics(records, conditional.FLOOR)
    # the shipped evaluators on real scenes (test-split quality: mIoU 0.964, R-precision 0.883)
    assert floor["layout_miou"].value > 0.8 and floor["pixel_accuracy"].value > 0.9
    assert floor["caption_consistency"].value > 0.8


def test_figures_are_written_and_linked_from_their_rows(smoke):
    root, records = smoke
    by_row = {r.model: r.artifacts for r in records if not r.variant}
    assert "text interpolation" in by_row["gan-int-cls"]
    for row, label in (("stackgan2", "captions and samples"), ("spade", "layouts and samples")):
        rel = by_row[row][label]
        assert (root / "leaderboards" / rel).is_file()


def _record(model, metric, value, variant=""):
    return Record(suite="conditional", model=model, dataset="scenes", metric=metric, value=value, status="ok",
                  variant=variant)


def test_claims_say_which_findings_hold():
    group = [_record("stackgan1", "fid", 30.0), _record("stackgan2", "fid", 25.0),
             _record("stackgan1", "recall", 0.2), _record("stackgan1", "recall", 0.3, "no-ca"),
             _record("stackgan1", "fid", 31.0, "no-ca"),
             _record("spade", "layout_miou", 0.5), _record("spade-baseline", "layout_miou", 0.4),
             _record("spade", "fid", 20.0), _record("spade-baseline", "fid", 20.0)]
    lines = conditional.claims(group)
    assert next(line for line in lines if "Stage-II" in line).endswith("— holds.")
    assert "does NOT hold" in next(line for line in lines if "augmentation" in line)
    assert next(line for line in lines if "layout_miou" in line).endswith("— holds.")
    assert "does NOT hold" in next(line for line in lines if "fid `spade`" in line)  # a tie is not a win


def test_the_main_job_runs_the_spade_pair_and_checks_its_claim(tmp_path, one_thread):
    """The main job's selection: the floor and the two layout models, scored, with SPADE's claim lines."""
    ctx = RunContext(suite="conditional", profile="embedded", preset="smoke", seed=0, device=torch.device("cpu"),
                     runs_dir=tmp_path / "runs", results_dir=tmp_path / "results", figures_dir=tmp_path / "figures",
                     progress=False, models=conditional.SUITE.main_models)
    conditional.run(ctx)
    assert {r.model for r in ctx.records} == {"real-data", "spade-baseline", "spade"}
    assert all(r.status == "ok" for r in ctx.records if r.metric in ("fid", "layout_miou"))
    lines = [line for line in conditional.claims(ctx.records) if line.startswith("- ")]
    assert len(lines) == 2 and all(line.startswith("- SPADE beats") for line in lines)
