"""`gbench run` under torchrun (issue 16, item 1): two gloo processes on the CPU sample and extract
their shards and give the one-process sample set, features and records."""

import json
import os
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from gbench.launch import free_port
from gbench.sharding import SAMPLE_CHUNK, extract, feature_stats, sample_images



def _model():
    from zoo.models import MODELS
    from zoo.train import init_weights

    spec = MODELS.get("cgan")  # class-conditional: the labels are sharded with the chunks
    model = spec.build(spec.make_config("smoke", (1, 32, 32), 10)).eval()
    init_weights(model, 3)
    return model


def _work(n: int):
    """What each process computes: samples, their features and logits, and FID statistics."""
    from gbench.features import EXTRACTORS

    labels = torch.arange(n) % 10
    images = sample_images(_model(), n, seed=11, labels=labels, device="cpu")
    extractor = EXTRACTORS.get("digits-evaluator").load("cpu")
    out = extract(extractor, images, want=("features", "logits"), batch_size=64)
    mu, sigma = feature_stats(out["features"]).compute()
    return {"images": images, "features": out["features"], "logits": out["logits"],
            "mu": torch.from_numpy(mu), "sigma": torch.from_numpy(sigma)}


def _worker(rank, port, sizes, out_dir):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        for n in sizes:
            torch.save(_work(n), os.path.join(out_dir, f"rank{rank}_n{n}.pt"))
    finally:
        dist.destroy_process_group()


# 600: three chunks (256, 256, 88) split 1 + 2; 100: one chunk, so rank 1 samples nothing.
SIZES = (2 * SAMPLE_CHUNK + 88, 100)


def test_two_processes_sample_and_extract_the_one_process_set(tmp_path):
    mp.spawn(_worker, args=(free_port(), SIZES, str(tmp_path)), nprocs=2, join=True)
    for n in SIZES:
        one = _work(n)
        for rank in (0, 1):
            two = torch.load(tmp_path / f"rank{rank}_n{n}.pt", weights_only=True)
            assert torch.equal(two["images"], one["images"])  # the same sample set, bit for bit
            # whole one-process batches per rank: the same kernels, so bitwise equal features on CPU
            assert torch.equal(two["features"], one["features"]) and torch.equal(two["logits"], one["logits"])
            # the all-reduced float64 sums: equal up to the order of two additions
            torch.testing.assert_close(two["mu"], one["mu"], rtol=1e-12, atol=1e-12)
            torch.testing.assert_close(two["sigma"], one["sigma"], rtol=1e-12, atol=1e-12)


def _run(args, **kwargs):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=600, env=env, **kwargs)


def _records(path):
    return {(r["model"], r["dataset"], r["variant"], r["metric"]): r
            for r in map(json.loads, path.read_text().splitlines())}


def test_torchrun_run_writes_the_one_process_records(tmp_path):
    """One process trains and scores; then torchrun with 2 ranks resumes the finished model
    from the same --runs and scores it sharded: the same records (FID to 1e-10), written by
    rank 0 alone, with world_size 2, one summary."""
    common = ["run", "--suite", "generation", "--preset", "smoke", "--models", "gan", "--device", "cpu",
              "--no-progress", "--runs", str(tmp_path / "runs")]
    one = _run(["-m", "gbench", *common, "--results", str(tmp_path / "one" / "results")])
    assert one.returncode == 0, one.stderr
    two = _run(["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "gbench", *common,
                "--results", "two/results"], cwd=tmp_path)  # relative: rank 0's absolute path is used
    assert two.returncode == 0, two.stderr
    a, b = _records(tmp_path / "one" / "results" / "generation.jsonl"), \
        _records(tmp_path / "two" / "results" / "generation.jsonl")
    assert a.keys() == b.keys() and a
    for key, r in a.items():
        assert b[key]["world_size"] == 2 and r["world_size"] == 1
        assert b[key]["status"] == r["status"]
        if r["value"] is not None:
            # float64 sums all-reduced in another order: FID (and the rest) agree to 1e-10
            assert b[key]["value"] == pytest.approx(r["value"], rel=1e-10, abs=1e-12), key
    assert (tmp_path / "two" / "figures" / "generation" / "digits_gan_smoke_samples.png").is_file()
    assert (tmp_path / "two" / "generation.md").is_file()
    assert two.stdout.count("generation · digits") == 1  # rank 0 prints the summary
    assert two.stderr.count("gbench: warning: KID") == one.stderr.count("gbench: warning: KID")
