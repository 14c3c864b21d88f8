"""The command line: help everywhere, `list`, and one-line errors with exit code 2."""

import subprocess
import sys

import numpy as np
import pytest

from gbench.cli import main


def run_cli(*args):
    """Run `python -m gbench` in a subprocess: what a user sees, exit code included."""
    return subprocess.run([sys.executable, "-m", "gbench", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("args", [[], ["run"], ["leaderboard"], ["list"], ["fid"], ["score"], ["evaluators"]])
def test_help_everywhere(args, capsys):
    with pytest.raises(SystemExit) as e:
        main([*args, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "usage: gbench" in out and "-h, --help" in out


def test_list_reports_availability(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for section in ("Suites", "Models", "Metrics", "Datasets", "Extractors"):
        assert section in out
    assert "digits-evaluator" in out and "yes" in out
    # the shipped evaluators, each with its test-split quality from the manifest
    evaluators = out[out.index("Shipped evaluators"):]
    for name, quality in (("scenes-evaluator", "shape 0.9"), ("scenes-segmenter", "mIoU 0.9"),
                          ("scenes-matcher", "R-precision 0.8"), ("digits-evaluator", "test accuracy 0.9")):
        line = next(x for x in evaluators.splitlines() if x.startswith(name))
        assert " yes " in line and quality in line, line
    # ImageNet weights are not on a CI machine: the reason names the file
    assert "pt_inception-2015-12-05" in out
    assert "needs --data-root" in out


def one_line_error(result):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gbench: error:"), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.mark.parametrize("args, needle", [
    (["run", "--suite", "generaton", "--preset", "smoke"], "did you mean 'generation'"),
    (["run", "--suite", "generation", "--device", "cuda"], "no CUDA device"),
    (["run", "--suite", "generation", "--device", "mps"], "mps is not supported"),
    (["run", "--suite", "generation", "--device", "meta"], "meta is not supported"),
    (["run", "--suite", "generation", "--device", "gpu"], "unknown device"),
    (["run", "--suite", "generation", "--data-root", "/nonexistent/dir"], "is not a folder"),
    (["fid", "/nonexistent/a", "/nonexistent/b", "--extractor", "digits-evaluator"], "does not exist"),
    (["fid", "a", "b", "--extractor", "incepton"], "did you mean"),
    (["run", "--suite", "likelihood", "--runs", "{file}"], "is a file, not a folder"),
    (["leaderboard", "--results", "{file}"], "is a file, not a folder of records"),
    (["score", "--metrics", "fid,kdi", "a"], "did you mean 'kid' for 'kdi'"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, args, needle):
    if "cuda" in args:
        import torch
        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
    (tmp_path / "a_file").write_text("not a folder")
    args = [a.replace("{file}", str(tmp_path / "a_file")) for a in args]
    result = run_cli(*args, "--results", str(tmp_path / "results")) if args[0] == "run" else run_cli(*args)
    assert needle in one_line_error(result)
    assert not (tmp_path / "results").exists()  # no partial record


@pytest.mark.parametrize("case", ["empty", "mixed", "corrupt_npz", "nan_stats", "mu_only"])
def test_bad_image_inputs_via_cli(tmp_path, case):
    from PIL import Image

    good = tmp_path / "good"
    good.mkdir()
    for i in range(4):
        Image.new("L", (32, 32), color=i * 40).save(good / f"{i}.png")
    bad = tmp_path / "bad"
    if case == "empty":
        bad.mkdir()
    elif case == "mixed":
        bad.mkdir()
        Image.new("L", (32, 32)).save(bad / "a.png")
        Image.new("L", (30, 32)).save(bad / "b.png")
    elif case == "corrupt_npz":
        bad = tmp_path / "bad.npz"
        bad.write_bytes(b"PK\x03\x04 truncated")
    elif case == "nan_stats":
        bad = tmp_path / "bad.npz"
        np.savez(bad, mu=np.full(64, np.nan), sigma=np.eye(64))
    elif case == "mu_only":  # statistics missing sigma: said so, not "holds float64 images" (issue 17, item 5)
        bad = tmp_path / "bad.npz"
        np.savez(bad, mu=np.zeros(64))
    line = one_line_error(run_cli("fid", str(good), str(bad), "--extractor", "digits-evaluator"))
    assert case != "mu_only" or "need both 'mu' and 'sigma'" in line


def test_unknown_model_selection_is_one_line(tmp_path):
    line = one_line_error(run_cli("run", "--suite", "generation", "--models", "dcgann", "--preset", "smoke",
                                  "--results", str(tmp_path / "r")))
    assert "dcgann" in line and "dcgan" in line


def test_fid_and_score_on_folders_npz_and_stats(tmp_path):
    """Happy paths: a folder vs itself is 0; saved stats score like the images
    they came from; `score --json` reports every requested metric."""
    import json

    from gbench.data import DATASETS
    from gbench.data.folder import save_image_folder

    test = DATASETS.get("digits")("test").images
    save_image_folder(test[:120], tmp_path / "a")
    np.savez(tmp_path / "b.npz", images=test[120:].numpy())
    same = json.loads(run_cli("fid", str(tmp_path / "a"), str(tmp_path / "a"), "--json", "--device", "cpu").stdout)
    assert abs(same["fid"]) < 1e-6 and same["verified"]
    r = run_cli("fid", str(tmp_path / "a"), str(tmp_path / "b.npz"), "--json", "--device", "cpu",
                "--save-stats", str(tmp_path / "a_stats.npz"))
    direct = json.loads(r.stdout)["fid"]
    via_stats = json.loads(run_cli("fid", str(tmp_path / "a_stats.npz"), str(tmp_path / "b.npz"), "--json",
                                   "--device", "cpu").stdout)["fid"]
    assert direct > 0 and via_stats == pytest.approx(direct, rel=1e-9)
    out = json.loads(run_cli("score", str(tmp_path / "b.npz"), str(tmp_path / "a"), "--json", "--device", "cpu").stdout)
    scores = out["scores"][str(tmp_path / "a")]
    assert set(scores) >= {"fid", "is", "kid", "precision", "recall", "density", "coverage"}
    assert scores["fid"] == pytest.approx(direct, rel=1e-9)  # FID is symmetric


def test_init_rows_are_not_a_model_selection(tmp_path):
    line = one_line_error(run_cli("run", "--suite", "generation", "--models", "gan@init", "--preset", "smoke",
                                  "--results", str(tmp_path / "r")))
    assert "untrained row of 'gan'" in line and "--models gan" in line and "dcgan, vae" in line
    assert not (tmp_path / "r").exists()


def test_empty_model_selection_is_refused(tmp_path):
    line = one_line_error(run_cli("run", "--suite", "generation", "--models", ",", "--preset", "smoke",
                                  "--results", str(tmp_path / "r")))
    assert "--models names no model" in line


def test_run_extractor_is_checked_before_any_work(tmp_path):
    line = one_line_error(run_cli("run", "--suite", "generation", "--extractor", "digits-evaluater", "--preset",
                                  "smoke", "--results", str(tmp_path / "r")))
    assert "did you mean 'digits-evaluator'" in line


def test_fid_picks_the_digits_evaluator_for_digits_and_asks_otherwise(tmp_path):
    import json

    from gbench.data import DATASETS

    test = DATASETS.get("digits")("test").images
    np.savez(tmp_path / "a.npz", images=test[:60].numpy())
    np.savez(tmp_path / "b.npz", images=test[60:120].numpy())
    out = json.loads(run_cli("fid", str(tmp_path / "a.npz"), str(tmp_path / "b.npz"), "--json", "--device",
                             "cpu").stdout)
    assert out["extractor"] == "digits-evaluator"
    rgb = np.random.default_rng(0).integers(0, 256, (8, 3, 64, 64), dtype=np.uint8)
    np.savez(tmp_path / "rgb.npz", images=rgb)
    line = one_line_error(run_cli("fid", str(tmp_path / "rgb.npz"), str(tmp_path / "rgb.npz")))
    assert "3×64×64" in line and "--extractor" in line and "inception-v3-fid" in line


def test_leaderboard_command_regenerates_markdown_from_records(tmp_path):
    from gbench.records import Record, write_records

    write_records(tmp_path / "results", [Record(suite="generation", model="dcgan", dataset="digits", metric="fid",
                                                value=4.25, preset="quick", profile="embedded")])
    result = run_cli("leaderboard", "--results", str(tmp_path / "results"), "--markdown", str(tmp_path / "md"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path / "md" / "generation.md")
    md = (tmp_path / "md" / "generation.md").read_text()
    assert md.startswith("# Generation") and "| dcgan " in md and "4.25" in md
    line = one_line_error(run_cli("leaderboard", "--results", str(tmp_path / "nothing")))
    assert "does not exist" in line
    with open(tmp_path / "results" / "generation.jsonl", "a") as f:  # a run killed mid-line, by another tool
        f.write('{"suite": "generation", "mod')
    line = one_line_error(run_cli("leaderboard", "--results", str(tmp_path / "results"), "--markdown",
                                  str(tmp_path / "md")))
    assert "generation.jsonl line 2 is not JSON" in line


def test_evaluators_train_never_rewrites_the_shipped_weights(tmp_path):
    from gbench.features.shipped import WEIGHTS_DIR

    line = one_line_error(run_cli("evaluators", "train", "digits", "--weights-out", str(WEIGHTS_DIR)))
    assert "never rewrites" in line
    line = one_line_error(run_cli("evaluators", "train", "digits", "--epochs", "0", "--weights-out",
                                  str(tmp_path / "ev")))
    assert "--epochs must be ≥ 1" in line
    line = one_line_error(run_cli("evaluators", "train", "scenes", "--weights-out", str(WEIGHTS_DIR)))
    assert "never rewrites" in line
    line = one_line_error(run_cli("evaluators", "train", "scenes-segmentr", "--weights-out", str(tmp_path / "ev")))
    assert "unknown evaluator or group 'scenes-segmentr'" in line and "scenes-segmenter" in line
    assert not (tmp_path / "ev").exists()


def test_evaluator_groups():
    from gbench.features import EVALUATORS

    groups = {}
    for name, spec in EVALUATORS.items():
        groups.setdefault(spec.group, set()).add(name)
    assert groups == {"digits": {"digits-evaluator"},
                      "scenes": {"scenes-evaluator", "scenes-segmenter", "scenes-matcher"},
                      "voxels": {"voxels-evaluator"}}
