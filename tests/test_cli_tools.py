"""`gbench stats` and `gbench sr`: their numbers equal the library's, and bad input is one line, exit 2."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import gbench
from gbench.cli import main
from gbench.transforms.resize import mod_crop


@pytest.fixture(autouse=True)
def tmp_cache(tmp_path, monkeypatch):
    """The reference cache goes to a tmp folder (subprocesses inherit the variable)."""
    monkeypatch.setenv("GBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("GBENCH_NO_CACHE", raising=False)
    return tmp_path / "cache"


def run_cli(*args):
    """`python -m gbench` in a subprocess: what a user sees, exit code included."""
    return subprocess.run([sys.executable, "-m", "gbench", *args], capture_output=True, text=True, timeout=300)


def one_line_error(capsys, argv) -> str:
    """Run main() in-process; it must return 2 with one `gbench: error:` line and no traceback."""
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if not line.startswith("gbench: note:")]
    assert len(errors) == 1 and errors[0].startswith("gbench: error:"), err
    return errors[0]


def save(img: torch.Tensor, path) -> None:
    """uint8 (C, H, W) → PNG (mode L for one channel, RGB for three)."""
    a = img.numpy()
    Image.fromarray(a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0)).save(path)


def load(path) -> torch.Tensor:
    from gbench.data.folder import read_image

    return torch.from_numpy(np.require(read_image(path), requirements="W"))


# --- gbench stats --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits_npz(tmp_path_factory):
    from gbench.data import DATASETS

    path = tmp_path_factory.mktemp("digits") / "test.npz"
    np.savez(path, images=DATASETS.get("digits")("test").images[:150].numpy())
    return path


def test_stats_writes_pytorch_fid_keys_and_uses_the_cache(digits_npz, tmp_path, tmp_cache, capsys):
    from gbench.data.folder import load_npz
    from gbench.features import EXTRACTORS

    out = tmp_path / "ref.npz"
    assert main(["stats", str(digits_npz), str(out), "--device", "cpu"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"{out}: n = 150, digits-evaluator v1 (weights sha256 ") and line.endswith("extracted")
    with np.load(out, allow_pickle=False) as z:  # what pytorch-fid's fid_score.py reads
        mu, sigma = z["mu"], z["sigma"]
    ex = EXTRACTORS.get("digits-evaluator").load(device="cpu")
    want = gbench.FeatureStats().update(ex.features(load_npz(digits_npz), batch_size=128)).compute()
    # the same float32 features summed in float64 in the same order: equal to rounding of the sums
    np.testing.assert_allclose(mu, want[0], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(sigma, want[1], rtol=1e-10, atol=1e-13)
    assert len(list(tmp_cache.glob("*.npz"))) == 1
    assert main(["stats", str(digits_npz), str(tmp_path / "again.npz"), "--device", "cpu"]) == 0
    assert capsys.readouterr().out.strip().endswith("features from the cache")
    with np.load(tmp_path / "again.npz", allow_pickle=False) as z:
        assert np.array_equal(z["mu"], mu) and np.array_equal(z["sigma"], sigma)


def test_stats_file_is_a_fid_path(digits_npz, tmp_path):
    """`gbench fid` of the images against their own saved statistics is 0 (end to end, a subprocess)."""
    out = tmp_path / "ref.npz"
    assert run_cli("stats", str(digits_npz), str(out), "--device", "cpu").returncode == 0
    r = run_cli("fid", str(out), str(digits_npz), "--json", "--device", "cpu")
    assert r.returncode == 0, r.stderr
    assert abs(json.loads(r.stdout)["fid"]) < 1e-6  # eigh square root of a PSD matrix: ~1e-9 here


@pytest.mark.parametrize("case, needle", [
    ("missing", "does not exist"),
    ("not_npz", "must end in .npz"),
    ("stats_in", "already holds statistics"),
    ("typo", "did you mean 'digits-evaluator'"),
    ("rgb", "--extractor"),
    ("no_folder", "does not exist; create it first"),
    ("batch", "--batch-size must be ≥ 1"),
])
def test_stats_bad_input_is_one_line(digits_npz, tmp_path, capsys, case, needle):
    args = [str(digits_npz), str(tmp_path / "o.npz"), "--device", "cpu"]
    if case == "missing":
        args[0] = str(tmp_path / "nothing")
    elif case == "not_npz":
        args[1] = str(tmp_path / "o.txt")
    elif case == "stats_in":
        np.savez(tmp_path / "s.npz", mu=np.zeros(3), sigma=np.eye(3))
        args[0] = str(tmp_path / "s.npz")
    elif case == "typo":
        args += ["--extractor", "digits-evaluater"]
    elif case == "rgb":
        np.savez(tmp_path / "rgb.npz", images=np.zeros((4, 3, 16, 16), np.uint8))
        args[0] = str(tmp_path / "rgb.npz")
    elif case == "no_folder":
        args[1] = str(tmp_path / "no" / "o.npz")
    elif case == "batch":
        args += ["--batch-size", "0"]
    assert needle in one_line_error(capsys, ["stats", *args])
    assert not (tmp_path / "o.npz").exists()


# --- gbench sr -----------------------------------------------------------------------------------------------


def make_sr_folders(root, suffix="", gray=False, scale=4):
    """HR images whose sizes are not multiples of the scale, and SR = bicubic ×scale of bicubic ÷scale
    of the mod-cropped HR (what an SR method's output looks like to the protocol)."""
    g = torch.Generator().manual_seed(0)
    hr_dir, sr_dir = root / "hr", root / "sr"
    hr_dir.mkdir()
    sr_dir.mkdir()
    sizes = [(50, 42), (36, 61), (48, 48)]
    for i, (h, w) in enumerate(sizes):
        base = torch.randint(0, 256, (1 if gray else 3, h // 6 + 1, w // 6 + 1), dtype=torch.uint8, generator=g)
        hr = gbench.imresize(base[None], 6)[0, :, :h, :w]  # smooth, so that the metrics are informative
        save(hr, hr_dir / f"img{i}.png")
        lr = gbench.imresize(mod_crop(hr[None], scale), 1 / scale)
        save(gbench.imresize(lr, scale)[0], sr_dir / f"img{i}{suffix}.png")
    return sr_dir, hr_dir


def direct(sr_dir, hr_dir, suffix="", scale=4, **kw):
    """{name: (psnr, ssim)} computed with the library on the same files."""
    out = {}
    for hr_path in sorted(hr_dir.iterdir()):
        sr = load(sr_dir / f"{hr_path.stem}{suffix}.png")[None]
        hr = mod_crop(load(hr_path)[None], scale)
        out[hr_path.stem] = (gbench.psnr(sr, hr, **kw).item(), gbench.ssim(sr, hr, **kw).item())
    return out


@pytest.mark.parametrize("options, kw", [
    ([], dict(crop_border=4, y_channel=True, y_convention="matlab")),  # the published protocol by default
    (["--rgb", "--crop", "2"], dict(crop_border=2, y_channel=False)),
    (["--y-convention", "float", "--crop", "0"], dict(crop_border=0, y_channel=True, y_convention="float")),
])
def test_sr_numbers_equal_the_library(tmp_path, capsys, options, kw):
    sr_dir, hr_dir = make_sr_folders(tmp_path)
    assert main(["sr", str(sr_dir), str(hr_dir), "--json", "--no-lpips", *options]) == 0
    out = json.loads(capsys.readouterr().out)
    want = direct(sr_dir, hr_dir, **kw)
    # the same function on the same pixels; JSON round-trips a float exactly
    assert {r["name"]: (r["psnr"], r["ssim"]) for r in out["images"]} == want
    assert out["mean"]["psnr"] == pytest.approx(np.mean([v[0] for v in want.values()]), rel=1e-15)
    assert out["mean"]["ssim"] == pytest.approx(np.mean([v[1] for v in want.values()]), rel=1e-15)
    assert out["n"] == 3 and out["protocol"]["crop_border"] == kw["crop_border"]
    assert 15 < out["mean"]["psnr"] < 60 and "lpips" not in out["mean"]


def test_sr_table_and_suffix(tmp_path, capsys):
    sr_dir, hr_dir = make_sr_folders(tmp_path, suffix="_x4")
    assert main(["sr", str(sr_dir), str(hr_dir), "--suffix", "_x4", "--no-lpips"]) == 0
    text = capsys.readouterr().out
    want = direct(sr_dir, hr_dir, suffix="_x4", crop_border=4, y_channel=True)
    assert "PSNR-Y (dB)" in text and "SSIM-Y" in text and "3 pairs" in text
    for name, (p, s) in want.items():
        assert f"{p:.4f}" in text and f"{s:.4f}" in text and name in text
    mean_line = next(line for line in text.splitlines() if line.startswith("mean"))
    assert f"{np.mean([v[0] for v in want.values()]):.4f}" in mean_line
    line = one_line_error(capsys, ["sr", str(sr_dir), str(hr_dir), "--no-lpips"])  # suffix forgotten
    assert "img0_x4.png" in line and "--suffix" in line


def test_sr_grayscale_pairs_are_scored_as_gray(tmp_path, capsys):
    sr_dir, hr_dir = make_sr_folders(tmp_path, gray=True)
    assert main(["sr", str(sr_dir), str(hr_dir), "--json", "--no-lpips"]) == 0
    gray = json.loads(capsys.readouterr().out)
    want = direct(sr_dir, hr_dir, crop_border=4, y_channel=True)
    assert {r["name"]: (r["psnr"], r["ssim"]) for r in gray["images"]} == want
    # a gray SR output saved as RGB (R = G = B) is the same image: the same numbers
    for f in sr_dir.iterdir():
        save(load(f).expand(3, -1, -1).contiguous(), f)
    assert load(sr_dir / "img0.png").shape[0] == 3
    assert main(["sr", str(sr_dir), str(hr_dir), "--json", "--no-lpips"]) == 0
    assert json.loads(capsys.readouterr().out)["images"] == gray["images"]


def test_sr_lpips_column_with_a_stand_in_network(tmp_path, capsys, monkeypatch):
    """The LPIPS path (crop, gray → RGB, [-1, 1] input, mean) with a stand-in for the network,
    whose ImageNet backbone is not on a CI machine: mean |a − b| over the cropped images."""
    import gbench.cli_tools as tools
    from gbench.features.lpips_net import LoadedLPIPS

    seen = []

    def model(a, b):
        seen.append(a.shape)
        assert a.dtype == torch.float32 and a.min() >= -1 and a.max() <= 1
        return (a - b).abs().mean(dim=(1, 2, 3), keepdim=True)

    lp = LoadedLPIPS(model=model, net="alex", weights_sha256="0" * 64, verified=True)
    monkeypatch.setattr(tools, "_load_lpips", lambda args, device: (lp, ""))
    sr_dir, hr_dir = make_sr_folders(tmp_path, gray=True)
    assert main(["sr", str(sr_dir), str(hr_dir), "--json", "--crop", "3"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert seen[0] == (1, 3, 48 - 6, 40 - 6)  # img0: HR 50×42 → 48×40, 3 px off every side, RGB
    sr = load(sr_dir / "img0.png").float()[..., 3:-3, 3:-3]
    hr = mod_crop(load(hr_dir / "img0.png"), 4).float()[..., 3:-3, 3:-3]
    assert out["images"][0]["lpips"] == pytest.approx(((sr - hr).abs() / 127.5).mean().item(), rel=1e-6)
    assert out["mean"]["lpips"] == pytest.approx(np.mean([r["lpips"] for r in out["images"]]), rel=1e-12)


def test_sr_without_lpips_weights_says_which_file(tmp_path, monkeypatch):
    from gbench.features.weights import find_weights

    if find_weights("alexnet-owt-7be5be79.pth") is not None:
        pytest.skip("the LPIPS backbone is on this machine")
    sr_dir, hr_dir = make_sr_folders(tmp_path)
    r = run_cli("sr", str(sr_dir), str(hr_dir), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["lpips"] is None and "alexnet-owt-7be5be79.pth" in out["lpips_note"]
    note = r.stderr.strip().splitlines()
    assert len(note) == 1 and note[0].startswith("gbench: note: LPIPS skipped") and "--download" in note[0]


@pytest.mark.parametrize("case, needle", [
    ("sr_unmatched", "extra.png has no HR image"),
    ("hr_unmatched", "img2.png has no SR image"),
    ("size", "mod-cropped to a multiple of 4 is 48×40"),
    ("scale", "mod-cropped to a multiple of 3"),
    ("colour", "colour but its partner is grayscale"),
    ("crop", "img0.png: ssim: crop_border=18 leaves 12×4"),
    ("no_dir", "does not exist or is not a folder"),
    ("empty", "holds no image files"),
    ("twins", "both pair as 'img0'"),
    ("bad_scale", "--scale must be a positive integer"),
    ("bad_crop", "--crop must be ≥ 0"),
])
def test_sr_bad_input_is_one_line(tmp_path, capsys, case, needle):
    sr_dir, hr_dir = make_sr_folders(tmp_path)
    extra = []
    if case == "sr_unmatched":
        save(load(sr_dir / "img0.png"), sr_dir / "extra.png")
    elif case == "hr_unmatched":
        (sr_dir / "img2.png").unlink()
    elif case == "size":  # SR the size of the full HR image instead of the mod-cropped one
        save(load(hr_dir / "img0.png"), sr_dir / "img0.png")
    elif case == "scale":
        extra = ["--scale", "3"]
    elif case == "colour":
        save(load(sr_dir / "img0.png")[:1], sr_dir / "img0.png")  # HR stays colour
    elif case == "crop":
        extra = ["--crop", "18"]  # img0's 48×40 → 12×4: PSNR can, SSIM's 11×11 window cannot
    elif case == "no_dir":
        sr_dir = tmp_path / "nothing"
    elif case == "empty":
        for f in sr_dir.iterdir():
            f.unlink()
    elif case == "twins":
        save(load(sr_dir / "img0.png"), sr_dir / "img0.bmp")
    elif case == "bad_scale":
        extra = ["--scale", "0"]
    elif case == "bad_crop":
        extra = ["--crop", "-1"]
    line = one_line_error(capsys, ["sr", str(sr_dir), str(hr_dir), "--no-lpips", *extra])
    assert needle in line, line


def test_sr_error_end_to_end_is_one_line(tmp_path):
    """The same through `python -m gbench`: exit 2, one line, no traceback."""
    sr_dir, hr_dir = make_sr_folders(tmp_path)
    (sr_dir / "img1.png").unlink()
    r = run_cli("sr", str(sr_dir), str(hr_dir), "--no-lpips")
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and "img1.png has no SR image" in lines[0], r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("command", ["stats", "sr"])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as e:
        main([command, "--help"])
    assert e.value.code == 0 and "usage: gbench" in capsys.readouterr().out
