"""The `ablation` suite at the smoke preset (digits), `zoo.models.with_overrides`, and `fit`'s variants."""

import pytest
import torch

from gbench.data import DATASETS
from gbench.errors import GbenchError
from gbench.fit import fit, model_dir
from gbench.records import Record, read_records
from gbench.runner import RunRequest, run
from gbench.suites import RunContext
from gbench.suites import ablation
from zoo.models import MODELS, with_overrides


@pytest.fixture(scope="module")
def smoke(tmp_path_factory, one_thread):
    root = tmp_path_factory.mktemp("ablation")
    run(RunRequest(suite="ablation", preset="smoke", device="cpu", runs=root / "runs",
                   results=root / "leaderboards" / "results", progress=False))
    return root, read_records(root / "leaderboards" / "results" / "ablation.jsonl")


def _ctx(root):
    return RunContext(suite="ablation", profile="embedded", preset="smoke", seed=0, device=torch.device("cpu"),
                      runs_dir=root / "runs", results_dir=root / "scratch", figures_dir=root / "scratch",
                      progress=False)


def _metrics(records, model, variant):
    return {r.metric: r for r in records if r.model == model and r.variant == variant}


def test_every_variant_is_scored_with_its_overrides_in_the_protocol(smoke):
    _, records = smoke
    assert len(records) == len({r.key() for r in records})
    for model, ablations in ablation.ABLATIONS.items():
        for variant, overrides in [(ablation.FULL, {}), *((v, o) for v, o, _ in ablations)]:
            got = _metrics(records, model, variant)
            expected = set(ablation.SCORES)
            expected |= {f"ppl_{s}_{m}" for s in ablation.PPL_SPACES.get(model, ()) for m in ("full", "end")}
            expected |= {"fid_truncated"} if model == "biggan" else set()
            assert set(got) == expected, (model, variant)
            for r in got.values():
                assert r.status == "ok" and r.protocol["ablation"] == overrides
                assert r.artifacts["samples per variant"].endswith(f"digits_{model}_smoke_ablation.png")
            ppl = got.get("ppl_z_full")
            if ppl is not None:  # offline: the digits evaluator's features stand in for LPIPS, and say so
                assert ppl.value > 0 and ppl.protocol["ppl_paths"] == ablation.PPL_PATHS["smoke"]
                assert ppl.extra["ppl_distance"] in ("lpips-vgg", "features-digits-evaluator")


def test_variants_train_in_their_own_directory_with_the_switch_off(smoke):
    root, _ = smoke
    ctx = _ctx(root)
    train = DATASETS.get("digits")("train")
    full = model_dir(ctx, "progan", "digits")
    assert (full / "checkpoint.safetensors").is_file()  # the generation suite's directory: shared
    fitted = fit(ctx, "progan", "digits", train, variant="no-mbstd", overrides={"minibatch_stddev": False})
    assert (model_dir(ctx, "progan", "digits", "no-mbstd") / "checkpoint.safetensors").is_file()
    assert fitted.config.minibatch_stddev is False
    assert isinstance(fitted.model.discriminator.final[0], torch.nn.Identity)
    assert fit(ctx, "progan", "digits", train).config.minibatch_stddev is True
    with pytest.raises(GbenchError, match="variant"):
        fit(ctx, "progan", "digits", train, variant="no-mbstd")
    with pytest.raises(GbenchError, match="no field"):
        fit(ctx, "progan", "digits", train, variant="typo", overrides={"minibatch_sttdev": False})


def test_with_overrides_reaches_the_train_config_and_runs_the_config_checks():
    spec = MODELS.get("biggan")
    cfg = spec.make_config("smoke", (1, 32, 32), 10)
    off = with_overrides(cfg, {"ortho_reg": False, "train.k_d_steps": 1})
    assert (off.ortho_reg, off.train.k_d_steps) == (False, 1) and cfg.ortho_reg and cfg.train.k_d_steps == 2
    assert with_overrides(cfg, {"ema": False}).train.ema_decay == 0.0  # BigGANConfig.__post_init__ ran
    with pytest.raises(ValueError, match="no field 'train.nope'"):
        with_overrides(cfg, {"train.nope": 1})


def _record(model, variant, metric, value):
    return Record(suite="ablation", model=model, dataset="digits", metric=metric, value=value, status="ok",
                  variant=variant)


def test_claims_compare_each_variant_with_the_full_model():
    group = [_record("progan", "full", "fid", 10.0), _record("progan", "no-mbstd", "fid", 12.0),
             _record("progan", "full", "recall", 0.5), _record("progan", "no-mbstd", "recall", 0.6),
             _record("progan", "no-eqlr", "fid", 9.0)]
    lines = ablation.claims(group)
    fid_mbstd = next(line for line in lines if "no-mbstd 12.00" in line)
    assert fid_mbstd.endswith("— holds.")
    recall = next(line for line in lines if "recall drops" in line)
    assert "does NOT hold" in recall  # recall rose without the trick
    assert next(line for line in lines if "no-eqlr" in line).endswith("does NOT hold.")
    assert not any("no-pixelnorm" in line for line in lines)  # not measured: no line


def test_main_job_selects_no_model_and_says_so(tmp_path):
    ctx = RunContext(suite="ablation", profile="embedded", preset="smoke", seed=0, device=torch.device("cpu"),
                     runs_dir=tmp_path / "runs", results_dir=tmp_path / "results", figures_dir=tmp_path / "figures",
                     progress=False, models=ablation.SUITE.main_models)
    ablation.run(ctx)
    (r,) = ctx.records
    assert r.status == "unavailable" and "run `gbench run --suite ablation`" in r.reason
