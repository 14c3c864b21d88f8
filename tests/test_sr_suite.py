"""The `sr` suite at `smoke` through the runner, its paper profile on a local
folder, the VGG-19 switch of SRGAN's content loss, and the high-frequency
measure (what it means: 1 for HR itself, < 1 when blurred, > 1 with noise)."""

from pathlib import Path

import pytest
import torch
from torchvision.models.vgg import cfgs, make_layers

from gbench.errors import GbenchError
from gbench.features import weights as weights_mod
from gbench.transforms.resize import imresize
from gbench.metrics.sharpness import high_frequency_energy, high_frequency_ratio
from gbench.records import read_records
from gbench.runner import RunRequest, run
from gbench.suites import SUITES
from gbench.suites.base import RunContext


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    """A machine with no pretrained files: empty $GBENCH_WEIGHTS and torch hub cache."""
    empty = tmp_path / "no-weights"
    empty.mkdir()
    monkeypatch.setenv("GBENCH_WEIGHTS", str(empty))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(empty / "hub"))
    return empty


def _photo(size=96, seed=0):
    from gbench.data.natural import random_patches

    return random_patches("test", 1, size, seed=seed)


# --- the high-frequency measure -----------------------------------------------------------------

def test_hf_ratio_is_one_for_hr_itself_below_one_when_blurred_above_with_noise():
    hr = _photo(96)
    assert high_frequency_ratio(hr, hr, 4).item() == pytest.approx(1.0, abs=1e-12)
    blurred = imresize(imresize(hr, 1 / 4), 4)  # the bicubic ×4 baseline
    ratio = high_frequency_ratio(blurred, hr, 4, crop_border=4).item()
    assert 0 < ratio < 0.5
    g = torch.Generator().manual_seed(0)
    noisy = (hr.float() + 25 * torch.randn(hr.shape, generator=g)).round().clamp(0, 255).to(torch.uint8)
    assert high_frequency_ratio(noisy, hr, 4).item() > 1.0


def test_hf_energy_counts_only_frequencies_above_the_cutoff():
    n = 64
    y, x = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    low = torch.cos(2 * torch.pi * 0.05 * x)[None, None].double()   # 0.05 cycles/pixel
    high = torch.cos(2 * torch.pi * 0.375 * y)[None, None].double()  # 0.375 cycles/pixel
    assert high_frequency_energy(low, 0.125).item() < 1e-3 * high_frequency_energy(high, 0.125).item()


def test_hf_ratio_rejects_bad_input():
    hr = _photo(64)
    with pytest.raises(GbenchError, match="shape"):
        high_frequency_ratio(hr[..., :60], hr, 4)
    with pytest.raises(GbenchError, match="value range"):
        high_frequency_ratio(hr.float(), hr.float(), 4)
    with pytest.raises(GbenchError, match="scale"):
        high_frequency_ratio(hr, hr, 1)
    with pytest.raises(GbenchError, match="crop_border"):
        high_frequency_ratio(hr, hr, 4, crop_border=40)


# --- the suite ------------------------------------------------------------------------------------

def test_training_pool_drops_flat_patches_first():
    from gbench.suites.sr import drop_flat

    flat = torch.full((3, 3, 8, 8), 128, dtype=torch.uint8)
    textured = torch.randint(0, 256, (2, 3, 8, 8), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    patches = torch.cat([flat[:1], textured[:1], flat[1:], textured[1:]])
    assert torch.equal(drop_flat(patches, 2), textured)
    assert torch.equal(drop_flat(patches, 3)[2], flat[0])  # topped up with flat ones when too few qualify


def test_sr_suite_at_smoke_writes_records_markdown_and_figure(tmp_path, no_weights):
    results = tmp_path / "leaderboards" / "results"
    records = run(RunRequest(suite="sr", preset="smoke", device="cpu", results=results, out=tmp_path / "runs",
                             progress=False))
    assert records == read_records(results / "sr.jsonl")
    by = {(r.model, r.metric): r for r in records}
    for model in ("bicubic", "srresnet", "srgan"):
        for metric in ("psnr", "ssim", "hf_ratio", "params", "ms_per_image"):
            r = by[(model, metric)]
            assert r.status == "ok" and r.dataset == "natural" and r.n_real == 3, (model, metric)
        lp = by[(model, "lpips")]
        assert lp.value is None and lp.reason.startswith("unavailable: alexnet-owt-7be5be79.pth not found")
    assert by[("bicubic", "params")].value == 0 and by[("srresnet", "params")].value > 0
    assert by[("srgan", "psnr")].extra["content_loss"] == "mse (VGG-19 weights not found: vgg19-dcbb9e9d.pth)"
    assert 25 < by[("bicubic", "psnr")].value < 35  # ×4 bicubic on natural photos, luma, crop 4
    assert by[("bicubic", "hf_ratio")].value < 0.2

    markdown = (tmp_path / "leaderboards" / "super_resolution.md").read_text()
    figure = by[("srgan", "psnr")].artifacts["comparison"]
    assert f"({figure})" in markdown and (tmp_path / "leaderboards" / figure).is_file()
    assert "PSNR-Y (dB)" in markdown and "content_loss = mse (VGG-19 weights not found" in markdown


def _ctx(tmp_path, **kw) -> RunContext:
    base = dict(suite="sr", profile="embedded", preset="smoke", seed=0, device=torch.device("cpu"),
                out_dir=tmp_path / "runs", results_dir=tmp_path / "lb" / "results",
                figures_dir=tmp_path / "lb" / "figures", progress=False)
    return RunContext(**{**base, **kw})


def test_paper_profile_reads_set_folders_and_names_the_missing_ones(tmp_path, no_weights):
    from PIL import Image

    root = tmp_path / "data"
    (root / "Set5").mkdir(parents=True)
    for i in range(2):  # odd sizes: mod-cropped to multiples of 4
        Image.fromarray(_photo(64, seed=i)[0, :, :62, :59].permute(1, 2, 0).numpy()).save(root / "Set5" / f"{i}.png")
    Image.fromarray(_photo(64, seed=5)[0, 0, :50, :50].numpy()).save(root / "Set5" / "gray.png")  # grayscale
    ctx = _ctx(tmp_path, profile="paper", data_root=root, models=("bicubic",))
    SUITES.get("sr").run(ctx)
    ok = {(r.dataset, r.metric): r for r in ctx.records if r.status == "ok"}
    assert ok[("set5", "psnr")].n_real == 3 and ok[("set5", "psnr")].model == "bicubic"
    missing = {r.dataset: r.reason for r in ctx.records if r.model == "all"}
    assert set(missing) == {"set14", "bsd100"}
    assert "Set14" in missing["set14"] and "BSD100" in missing["bsd100"]

    nothing = _ctx(tmp_path / "b", profile="paper", data_root=None)
    SUITES.get("sr").run(nothing)
    assert {r.dataset for r in nothing.records} == {"set5", "set14", "bsd100"}
    assert all(r.status == "unavailable" and "--data-root" in r.reason for r in nothing.records)


def test_srgan_uses_the_vgg_content_loss_when_vgg19_weights_resolve(tmp_path, no_weights, monkeypatch):
    torch.manual_seed(0)  # a random VGG-19 in torchvision's file layout stands in for the ImageNet file
    state = {f"features.{k}": v for k, v in make_layers(cfgs["E"]).state_dict().items()}
    path = no_weights / "vgg19-dcbb9e9d.pth"
    torch.save(state, path)
    monkeypatch.setitem(weights_mod.KNOWN_WEIGHTS, path.name,
                        weights_mod.KnownWeights(sha256=weights_mod.sha256_file(path)))
    ctx = _ctx(tmp_path, models=("srgan",))
    SUITES.get("sr").run(ctx)
    psnr = next(r for r in ctx.records if r.metric == "psnr")
    assert psnr.model == "srgan" and psnr.extra["content_loss"] == "vgg19-54"
    assert psnr.extra["vgg19_sha256"] == weights_mod.sha256_file(path)[:12]
    assert Path(ctx.run_dir / "srresnet" / "checkpoint.safetensors").is_file()  # SRGAN started from SRResNet
