"""The `sr` suite at `smoke` through the runner, its paper profile on a local
folder (grayscale images stay grayscale), the VGG-19 switch of SRGAN's content
loss, the comparison figure, and the high-frequency measure (what it means: 1
for HR itself, < 1 when blurred, > 1 with noise)."""

import math

import pytest
import torch
from torchvision.models.vgg import cfgs, make_layers

from gbench.errors import GbenchError
from gbench.features import weights as weights_mod
from gbench.fit import model_dir
from gbench.metrics.sharpness import high_frequency_energy, high_frequency_ratio
from gbench.metrics.sr import psnr
from gbench.images import to_rgb
from gbench.records import read_records
from gbench.runner import RunRequest, run
from gbench.suites import SUITES
from gbench.suites.base import RunContext
from gbench.transforms.resize import imresize


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
    from gbench.data.sr_sets import drop_flat

    flat = torch.full((3, 3, 8, 8), 128, dtype=torch.uint8)
    textured = torch.randint(0, 256, (2, 3, 8, 8), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    patches = torch.cat([flat[:1], textured[:1], flat[1:], textured[1:]])
    assert torch.equal(drop_flat(patches, 2), textured)
    assert torch.equal(drop_flat(patches, 3)[2], flat[0])  # topped up with flat ones when too few qualify


def test_sr_suite_at_smoke_writes_records_markdown_and_figure(tmp_path, no_weights):
    results = tmp_path / "leaderboards" / "results"
    records = run(RunRequest(suite="sr", preset="smoke", device="cpu", results=results, runs=tmp_path / "runs",
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
    assert by[("bicubic", "psnr")].protocol == {"crop_border": 4, "y_channel": True, "y_convention": "matlab"}

    markdown = (tmp_path / "leaderboards" / "super_resolution.md").read_text()
    figure = by[("srgan", "psnr")].artifacts["comparison"]
    assert f"({figure})" in markdown and (tmp_path / "leaderboards" / figure).is_file()
    assert "PSNR-Y (dB)" in markdown and "content_loss = mse (VGG-19 weights not found" in markdown
    assert "Claims checked on these records (Ledig et al. 2017):" in markdown
    assert "- SRResNet beats bicubic on PSNR/SSIM:" in markdown and "- SRGAN scores lower PSNR" in markdown


def _ctx(tmp_path, **kw) -> RunContext:
    base = dict(suite="sr", profile="embedded", preset="smoke", seed=0, device=torch.device("cpu"),
                runs_dir=tmp_path / "runs", results_dir=tmp_path / "lb" / "results",
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
    # SRGAN started from SRResNet, trained first on the same pool
    assert (model_dir(ctx, "srresnet", "natural") / "checkpoint.safetensors").is_file()


def test_grayscale_hr_stays_one_channel_from_lr_to_score(tmp_path, no_weights):
    """A grayscale HR image is degraded, upscaled and scored on its own levels, never as a gray RGB image."""
    from PIL import Image

    root = tmp_path / "data"
    (root / "Set14").mkdir(parents=True)
    gray = _photo(64, seed=5)[:, :1, :60, :60].contiguous()
    Image.fromarray(gray[0, 0].numpy()).save(root / "Set14" / "gray.png")
    ctx = _ctx(tmp_path, profile="paper", data_root=root, models=("bicubic", "srresnet"))
    SUITES.get("sr").run(ctx)
    got = {(r.model, r.metric): r for r in ctx.records if r.dataset == "set14" and r.status == "ok"}
    assert {m for m, _ in got} == {"bicubic", "srresnet"} and got[("srresnet", "psnr")].n_real == 1
    assert "output channel 0 kept" in got[("srresnet", "psnr")].extra["grayscale"]  # the records say how

    bicubic = imresize(imresize(gray, 1 / 4, exact=True), 4, exact=True)
    assert got[("bicubic", "psnr")].value == pytest.approx(psnr(bicubic, gray, crop_border=4).item(), abs=1e-9)
    # What the bug scored: the gray image made RGB, then its luma Y = 16 + 219/255 · v, which shrinks every
    # error by 219/255 and lifts PSNR by 20 log10(255/219) ≈ 1.32 dB.
    as_rgb = psnr(to_rgb(bicubic), to_rgb(gray), crop_border=4, y_channel=True, y_convention="float").item()
    assert as_rgb - got[("bicubic", "psnr")].value == pytest.approx(20 * math.log10(255 / 219), abs=1e-9)


def test_rgb_network_upscales_gray_through_three_channels_and_keeps_the_first():
    from gbench.suites.sr_scoring import network_upscaler
    from zoo.models import srresnet

    model = srresnet.build(srresnet.make_config("smoke"))
    torch.manual_seed(0)
    model.reset_parameters()
    lr = imresize(_photo(32)[:, :1].contiguous(), 1 / 4, exact=True)
    upscale = network_upscaler(model, torch.device("cpu"))
    sr = upscale(lr)
    assert sr.dtype == torch.uint8 and sr.shape == (1, 1, 32, 32)
    assert torch.equal(sr, upscale(to_rgb(lr).contiguous())[:, :1])
    assert upscale(to_rgb(lr).contiguous()).shape == (1, 3, 32, 32)  # RGB passes through


def test_comparison_figure_titles_its_columns_and_skips_stale_strips(tmp_path):
    from gbench.data.folder import read_image
    from gbench.suites.sr_figures import FIGURE_CROP, save_crops, save_figure

    hrs = [_photo(160, seed=i) for i in range(2)] + [_photo(160, seed=2)[:, :1].contiguous()]  # one gray image
    blurred = [imresize(imresize(hr, 1 / 4, exact=True), 4, exact=True) for hr in hrs]
    save_crops(tmp_path, "bicubic", hrs, blurred)
    save_crops(tmp_path, "srgan", hrs, hrs)
    save_crops(tmp_path, "srresnet", hrs[:1], hrs[:1])  # from a run with other test images: left out
    strip = read_image(tmp_path / "crops" / "bicubic.png")
    assert strip.shape == (3, 3 * FIGURE_CROP, FIGURE_CROP)
    path = tmp_path / "figure.png"
    titles = save_figure(path, tmp_path, ("bicubic", "srresnet", "srgan"), hrs)
    assert titles == ["bicubic", "SRGAN", "HR"]
    image = read_image(path)
    assert image.shape[0] == 3 and image.shape[1] > 3 * FIGURE_CROP and image.shape[2] > 3 * FIGURE_CROP
    assert not list(tmp_path.glob(".*.tmp"))  # written through a temporary file, renamed into place
