"""Bad input and faults through the CLI entry point, in process (issue 17): one line
`gbench: error: …` naming the problem and the fix, exit code 2, no traceback, nothing lost.

The sweep's other cases are tested beside the code they exercise:
- records (lock, corrupt/truncated/foreign/non-UTF-8 files, a folder in the way, figure names
  per seed): test_records.py, test_records_concurrency.py (two writer processes; two concurrent
  smoke runs);
- checkpoints (corrupt, empty, foreign, other model, truncated, a folder): test_zoo_train.py;
- images (16-bit PNGs, float and 32-bit images, decompression bombs, FIFOs and symlink loops)
  and CIFAR batches: test_datasets.py;
- statistics files (.npy named .npz, string/complex mu, mu without sigma, saving to a folder),
  `kid`/`inception_score` seeds, `psnr`'s value_range, the umask of saved files: test_feature_stats.py,
  test_cli.py;
- weights (garbage .safetensors, one-line errors, LPIPS loaded with weights_only=True):
  test_weights_resolver.py, test_features.py;
- devices, --runs/--results/--markdown in the way, --models/--metrics/--suite typos, empty and
  @init model selections, `evaluators train` never rewriting the shipped weights: test_cli.py;
- `imresize` output limit: test_imresize.py.
"""

import errno
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from gbench.cli import main


def one_line_error(capsys, argv) -> str:
    """Run the CLI in process; assert exit 2 and exactly one `gbench: error:` line; return it."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = [x for x in err.strip().splitlines() if not x.startswith("gbench: warning:")]
    assert len(lines) == 1 and lines[0].startswith("gbench: error:"), err
    return lines[0]


@pytest.fixture
def digits_npz(tmp_path):
    from gbench.data import DATASETS

    test = DATASETS.get("digits")("test").images
    np.savez(tmp_path / "digits.npz", images=test[:64].numpy())
    return tmp_path / "digits.npz"


def _raw_member_npz(path: Path, members: dict[str, bytes]) -> Path:
    """An .npz whose members lack the .npy header: numpy hands them back as bytes, and a pickle
    inside must be neither executed nor crash the reader."""
    import pickle

    with zipfile.ZipFile(path, "w") as z:
        for name, payload in members.items():
            z.writestr(f"{name}.npy", payload if isinstance(payload, bytes) else pickle.dumps(payload))
    return path


@pytest.mark.parametrize("members, needle", [
    ({"mu": {"a": 1}, "sigma": {"a": 1}}, "member 'mu' is not an .npy array"),  # statistics
    ({"images": {"a": 1}}, "member 'images' is not an .npy array"),           # images
    ({"arr_0": b"junk"}, "member 'arr_0' is not an .npy array"),             # the only member
])
def test_npz_member_that_is_a_raw_pickle(tmp_path, capsys, digits_npz, members, needle):
    bad = _raw_member_npz(tmp_path / "bad.npz", members)
    line = one_line_error(capsys, ["fid", str(digits_npz), str(bad), "--extractor", "digits-evaluator",
                                   "--device", "cpu"])
    assert needle in line and str(bad) in line


def _stats_file(path: Path, n: float, shift, s1, s2, mu, sigma) -> Path:
    np.savez(path, mu=mu, sigma=sigma, n=np.array(n), shift=shift, shifted_sum=s1, shifted_sum_outer=s2)
    return path


@pytest.mark.parametrize("case, needle", [
    ("disagree", "its sums and its mu/sigma disagree"),
    ("shapes", "inconsistent shapes"),
    ("one_sample", "the sums count 1 sample"),
])
def test_inconsistent_sums_name_the_file(tmp_path, capsys, digits_npz, case, needle):
    """Issue 17, item 5: statistics whose sums do not hold together say which file."""
    d, z = 3, np.zeros(3)
    args = {"disagree": (10.0, z, np.ones(d), 9 * np.eye(d), z, np.eye(d)),  # sums say mu = 0.1, file says 0
            "shapes": (10.0, np.zeros(4), z, 9 * np.eye(d), z, np.eye(d)),
            "one_sample": (1.0, z, z, np.zeros((d, d)), z, np.eye(d))}[case]
    bad = _stats_file(tmp_path / "bad.npz", *args)
    line = one_line_error(capsys, ["fid", str(digits_npz), str(bad), "--extractor", "digits-evaluator"])
    assert needle in line and str(bad) in line


def test_saved_statistics_still_load_exactly(tmp_path, rng):
    """The consistency check passes on every file FeatureStats writes, far from the origin too."""
    import torch

    from gbench.metrics.stats import FeatureStats

    for offset in (0.0, 1e6):
        stats = FeatureStats().update(torch.from_numpy(rng.standard_normal((50, 8)) + offset))
        stats.save(tmp_path / "s.npz")
        mu, sigma = FeatureStats.load(tmp_path / "s.npz").compute()
        assert np.array_equal(mu, stats.compute()[0]) and np.array_equal(sigma, stats.compute()[1])


@pytest.mark.parametrize("argv", [
    ["score", "{npz}", "{npz}", "--seed", "-1"],
    ["score", "{npz}", "{npz}", "--seed", str(2**64)],
    ["run", "--suite", "generation", "--preset", "smoke", "--seed", str(2**64)],  # overflowed torch.manual_seed
    ["evaluators", "train", "digits", "--seed", "-3", "--weights-out", "{tmp}/ev"],
])
def test_seed_out_of_range(tmp_path, capsys, digits_npz, argv):
    argv = [a.replace("{npz}", str(digits_npz)).replace("{tmp}", str(tmp_path)) for a in argv]
    if argv[0] == "run":
        argv += ["--results", str(tmp_path / "r"), "--runs", str(tmp_path / "runs")]
    line = one_line_error(capsys, argv)
    assert "--seed: seed must be an integer from 0 to 4294967295" in line
    assert not (tmp_path / "r").exists() and not (tmp_path / "ev").exists()


def _sr_pair(root: Path, sr_size: int, hr_size: int) -> tuple[Path, Path]:
    from PIL import Image

    (root / "sr").mkdir()
    (root / "hr").mkdir()
    Image.new("RGB", (sr_size, sr_size)).save(root / "sr" / "x.png")
    Image.new("RGB", (hr_size, hr_size)).save(root / "hr" / "x.png")
    return root / "sr", root / "hr"


@pytest.mark.parametrize("sr_size, hr_size, extra, needle", [
    (1, 4, ["--scale", "4"], "is 1×1 but HR"),                           # wrong scale
    (1, 1, ["--scale", "1"], "leaves 0×0 of the 1×1 images"),           # the crop eats the image
    (1, 1, ["--scale", "1", "--crop", "0"], "need at least 11×11"),      # smaller than SSIM's window
])
def test_one_pixel_sr_image_names_the_file(tmp_path, capsys, sr_size, hr_size, extra, needle):
    sr, hr = _sr_pair(tmp_path, sr_size, hr_size)
    line = one_line_error(capsys, ["sr", str(sr), str(hr), "--no-lpips", *extra])
    assert needle in line and str(sr / "x.png") in line


def test_corrupt_image_in_an_sr_folder(tmp_path, capsys):
    sr, hr = _sr_pair(tmp_path, 16, 16)
    (hr / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    line = one_line_error(capsys, ["sr", str(sr), str(hr), "--no-lpips", "--scale", "1"])
    assert f"cannot read image {hr / 'x.png'}" in line


def test_failed_download_is_one_line(tmp_path, monkeypatch):
    """Issue 17, item 3: a dataset download that fails (no network here: stubbed) is a GbenchError
    naming the data set, the folder and what to do — which a run turns into an 'unavailable' record."""
    import urllib.error

    import torchvision.datasets as tvd

    from gbench.data import DATASETS
    from gbench.errors import GbenchError

    def refuse(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(tvd, "CIFAR10", refuse)
    with pytest.raises(GbenchError) as info:
        DATASETS.get("cifar10")("train", tmp_path, download=True)
    message = str(info.value)
    assert "could not download cifar10" in message and str(tmp_path) in message and "\n" not in message
    assert "name resolution" in message and "by hand" in message


def test_paper_profile_with_missing_data_records_unavailable_and_goes_on(tmp_path, capsys):
    """Issue 17, item 4 (and the README's promise): a paper-profile run whose data are missing
    exits 0, with one 'unavailable' record per data set naming what to put where."""
    root = tmp_path / "data"
    root.mkdir()
    results = tmp_path / "lb" / "results"
    assert main(["run", "--suite", "generation", "--profile", "paper", "--preset", "smoke", "--data-root", str(root),
                 "--results", str(results), "--runs", str(tmp_path / "runs"), "--no-progress", "--device", "cpu"]) == 0
    records = [json.loads(x) for x in (results / "generation.jsonl").read_text().splitlines()]
    assert {r["dataset"] for r in records} == {"mnist", "cifar10", "celeba"}
    assert all(r["status"] == "unavailable" and str(root) in r["reason"] for r in records)
    assert "unavailable" in (tmp_path / "lb" / "generation.md").read_text()


@pytest.mark.parametrize("code, needle", [
    (errno.EACCES, "permission denied on"),
    (errno.ENOSPC, "no space left on the device"),
    (errno.EROFS, "read-only file system"),
])
def test_unreadable_folder_and_full_disk_are_one_line(tmp_path, capsys, monkeypatch, code, needle):
    """An unreadable folder (chmod 000 cannot be tested as root, so the OSError is injected where
    the folder is listed), a full disk or a read-only one: one line naming the path."""
    import os

    from gbench.data import folder as folder_module

    images = tmp_path / "images"
    images.mkdir()

    def fail(path):
        raise OSError(code, os.strerror(code), str(path))

    monkeypatch.setattr(folder_module, "image_files", fail)
    line = one_line_error(capsys, ["fid", str(images), str(images), "--extractor", "digits-evaluator"])
    assert needle in line and str(images) in line


def test_a_bug_shaped_oserror_keeps_its_traceback(monkeypatch):
    """Only the machine's faults become one line; any other OSError is a gbench bug and propagates."""
    from gbench import cli

    def broken(args):
        raise OSError(errno.EBADF, "Bad file descriptor")

    monkeypatch.setitem(cli.HANDLERS, "list", broken)
    with pytest.raises(OSError):
        main(["list"])


def test_plain_text_output_marks_unverified_weights(tmp_path, capsys, digits_npz):
    """Issue 17, item 5: weights not in the shipped manifest (one bit flipped) are refused, or with
    --allow-unverified-weights used and marked in the plain-text output, not only in --json."""
    from gbench.features.shipped import WEIGHTS_DIR

    data = bytearray((Path(WEIGHTS_DIR) / "digits-evaluator.safetensors").read_bytes())
    data[-1] ^= 1  # the last byte of the last tensor: still a loadable file, a different sha256
    weights = tmp_path / "retrained.safetensors"
    weights.write_bytes(bytes(data))
    base = [str(digits_npz), str(digits_npz), "--extractor", "digits-evaluator", "--weights", str(weights),
            "--device", "cpu"]
    assert "--allow-unverified-weights" in one_line_error(capsys, ["fid", *base])
    for command in ("fid", "score"):
        assert main([command, *base, "--allow-unverified-weights"]) == 0
        assert "(UNVERIFIED weights)" in capsys.readouterr().out
    assert main(["fid", *base[:4], "--device", "cpu"]) == 0  # the shipped weights: not marked
    assert "UNVERIFIED" not in capsys.readouterr().out


def test_weight_errors_are_one_line_and_details_follow_only_with_verbose(tmp_path, capsys, digits_npz):
    """Issue 17, item 5: torch's 6–8-line refusal of a pickled file is one line by default (without
    its advice to retry with weights_only=False); `--verbose` adds it as `gbench: detail:` lines."""
    import pickle

    weights = tmp_path / "evil.pth"
    weights.write_bytes(pickle.dumps({"not": "tensors"}))
    argv = ["fid", str(digits_npz), str(digits_npz), "--extractor", "digits-evaluator", "--weights", str(weights),
            "--allow-unverified-weights"]
    line = one_line_error(capsys, argv)
    assert "weights_only=True) refused it" in line and "weights_only` set to `False`" not in line
    assert main([*argv, "--verbose"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0] == line and len(err) > 2 and all(x.startswith("gbench: detail: ") for x in err[1:])
