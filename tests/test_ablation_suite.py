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
from zoo.train import CHECKPOINT, load_state


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


def test_the_main_job_scores_stylegan_full_and_no_ema_without_another_training(smoke):
    root, _ = smoke
    ctx = _ctx(root)
    ctx.models, ctx.variants = ablation.SUITE.main_models, ablation.SUITE.main_variants
    ablation.run(ctx)
    assert {(r.model, r.variant) for r in ctx.records} == {("stylegan", "full"), ("stylegan", "no-ema")}
    assert all(r.status == "ok" for r in ctx.records)
    assert not list((root / "runs" / "models").glob("*/*/*/*/seed0-no-ema"))  # never trained, in any run


@pytest.mark.parametrize("name", ["progan", "stylegan", "biggan"])
def test_a_no_ema_training_ends_on_the_full_runs_live_weights(tmp_path, one_thread, name):
    """The premise of ablation.LIVE: averaging never feeds back into training, so switching it off
    trains the very weights the full run's EMA was averaging (bit for bit, samples grids included)."""
    from zoo.train import train

    spec = MODELS.get(name)
    images = torch.randint(0, 256, (64, 1, 32, 32), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    labels = torch.arange(64) % 10 if spec.conditional else None
    off = next(o for v, o, _ in ablation.ABLATIONS[name] if v == ablation.LIVE)
    finals = {}
    for tag, overrides in (("full", {}), ("off", off)):
        config = spec.make_config("smoke", (1, 32, 32), 10 if spec.conditional else None)
        config = with_overrides(config, {"train.steps": 6, "train.sample_every": 2, **overrides})
        net = spec.build(config)  # the trainer sets seed 0's starting weights
        train(net, config, images, labels, tmp_path / tag, "cpu", 0, progress=False)
        finals[tag] = net.state_dict()
    live = load_state(tmp_path / "full" / CHECKPOINT)["model"]
    assert finals["off"].keys() == live.keys()
    assert all(torch.equal(finals["off"][k], live[k]) for k in live)
    assert any(not torch.equal(finals["full"][k], live[k]) for k in live)  # the full run did average


def test_fit_gives_the_live_weights_of_the_trained_run_only(smoke):
    root, _ = smoke
    ctx = _ctx(root)
    train = DATASETS.get("digits")("train")
    live = fit(ctx, "stylegan", "digits", train, averaged=False).model.state_dict()
    averaged = fit(ctx, "stylegan", "digits", train).model.state_dict()
    stored = load_state(model_dir(ctx, "stylegan", "digits") / CHECKPOINT)["model"]
    assert all(torch.equal(live[k], stored[k]) for k in stored)
    assert any(not torch.equal(averaged[k], stored[k]) for k in stored)
    with pytest.raises(GbenchError, match="live"):
        fit(ctx, "stylegan", "digits", train, trained=False, averaged=False)
