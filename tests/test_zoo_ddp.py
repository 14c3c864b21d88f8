"""Data-parallel training in the zoo's trainer: 2 gloo processes with B/2 images each reach the
one-process weights with batch B (DCGAN, the VAE, IcGAN's four phases), checkpoints move between
world sizes, and the synchronized batch norm is the one-process batch norm of the whole batch.

One ``mp.spawn`` (module fixture) runs every 2-process job; the tests compare its files with
one-process runs here. Tolerance 1e-6 (absolute, on weights of order 0.02–1 and batch-norm
statistics): float32 sums over ranks are added in another order than one process adds them.
"""

import datetime
import shutil

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from gbench.launch import free_port
from zoo.layers.sync_bn import convert_sync_batchnorm
from zoo.models import MODELS, with_overrides
from zoo.train import train

pytestmark = pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not built in")

WORLD, SHAPE, TOL = 2, (1, 16, 16), 1e-6
# (model, steps, classes): IcGAN's smoke preset trains D, G for 3 iterations, then its two encoders
RUNS = {"dcgan": (3, None), "vae": (3, None), "icgan": (5, 10)}


def _data(classes):
    g = torch.Generator().manual_seed(7)
    images = torch.randint(0, 256, (64, *SHAPE), generator=g, dtype=torch.uint8)
    labels = torch.randint(0, classes, (64,), generator=g) if classes else None
    return images, labels


def _build(name, steps, classes, **train_overrides):
    spec = MODELS.get(name)
    config = spec.make_config("smoke", SHAPE, classes)
    config = with_overrides(config, {"train.steps": steps, "train.checkpoint_every": 2, **train_overrides})
    return spec.build(config), config


def _train(name, run_dir, steps=None, classes=None, **train_overrides):
    default_steps, default_classes = RUNS.get(name, (2, None))
    classes = classes or default_classes
    model, config = _build(name, steps or default_steps, classes, **train_overrides)
    images, labels = _data(classes)
    history = train(model, config, images, labels, run_dir, "cpu", seed=3, progress=False)
    return model, history


def _state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


# --- the 2-process jobs --------------------------------------------------------------------------

def _sync_bn_job(rank):
    """Each rank normalizes its half of one batch (2-D and 1-D layers); the parent compares."""
    results = {}
    for dim, shape, momentum in ((2, (8, 3, 4, 4), 0.1), (1, (8, 5), None)):
        x = _bn_input(shape)
        bn = _bn(dim, momentum)
        convert_sync_batchnorm(bn)
        mine = x[rank * 4:(rank + 1) * 4].clone().requires_grad_(True)
        for _ in range(2):  # twice: the running statistics accumulate
            y = bn(mine)
        # a weighted sum, not a mean, of the outputs: the shards' losses add up to the whole batch's loss
        (y * _bn_weights(shape)[rank * 4:(rank + 1) * 4]).sum().backward()
        for p in bn.parameters():
            dist.all_reduce(p.grad)  # parameter gradient of the whole batch's loss = sum over ranks
        results[dim] = {"y": y.detach(), "x_grad": mine.grad, "running_mean": bn.running_mean.clone(),
                        "running_var": bn.running_var.clone(), "weight_grad": bn.weight.grad,
                        "bias_grad": bn.bias.grad, "tracked": bn.num_batches_tracked.clone()}
        bn.eval()
        results[dim]["eval"] = bn(mine).detach()  # running statistics: no collective, same as plain BN
    return results


def _worker(rank, port, out_dir):
    torch.set_num_threads(1)
    # a rank that fails makes mp.spawn stop the other; the timeout is for a collective nobody answers
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD,
                            timeout=datetime.timedelta(seconds=120))
    try:
        out = {"sync_bn": _sync_bn_job(rank)}
        for name in RUNS:
            model, history = _train(name, f"{out_dir}/{name}")
            out[name] = {"state": _state(model), "history": history}
        # resume a one-process checkpoint (written by the parent) with two processes
        model, _ = _train("dcgan", f"{out_dir}/dcgan_from_one", steps=4)
        out["dcgan_from_one"] = _state(model)
        model, _ = _train("stylegan", f"{out_dir}/stylegan")  # R1 phase, mixing, noise inputs, EMA
        out["stylegan"] = _state(model)
        try:
            _train("vae", f"{out_dir}/odd", **{"train.batch_size": 9})
        except ValueError as e:
            out["odd_batch"] = str(e)
        torch.save(out, f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()



@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    """Runs every 2-process job once; returns (out dir, [rank 0's results, rank 1's])."""
    out = tmp_path_factory.mktemp("ddp")
    _train("dcgan", out / "dcgan_from_one", steps=2)  # one process, 2 steps: resumed by the workers
    mp.spawn(_worker, args=(free_port(), str(out)), nprocs=WORLD, join=True)
    return out, [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]


def _assert_close(a, b, what):
    assert a.keys() == b.keys(), what
    for k in a:
        torch.testing.assert_close(a[k].double(), b[k].double(), rtol=0, atol=TOL, msg=f"{what}: {k}")


# --- the tests ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(RUNS))
def test_two_processes_with_half_batches_reach_the_one_process_weights(two_processes, name, tmp_path):
    _, ranks = two_processes
    model, history = _train(name, tmp_path)
    _assert_close(ranks[0][name]["state"], _state(model), f"{name}, 2 processes vs 1")
    # the ranks hold the very same weights: one all-reduced gradient, the same Adam steps
    for k, v in ranks[0][name]["state"].items():
        assert torch.equal(v, ranks[1][name]["state"][k]), k
    # logged values are averaged over ranks: the one-process history (float32 means of the shards)
    assert len(ranks[0][name]["history"]) == len(history)
    for mine, one in zip(ranks[0][name]["history"], history):
        assert mine.keys() == one.keys()
        assert all(mine[k] == pytest.approx(one[k], rel=1e-5, abs=1e-5) for k in one), (mine, one)


def test_a_two_process_checkpoint_resumes_in_one_process(two_processes, tmp_path):
    out, _ = two_processes
    resumed_dir = tmp_path / "resumed"
    shutil.copytree(out / "dcgan", resumed_dir)  # written by rank 0 at step 3
    resumed, _ = _train("dcgan", resumed_dir, steps=5)
    uninterrupted, _ = _train("dcgan", tmp_path / "one", steps=5)
    _assert_close(_state(resumed), _state(uninterrupted), "2-process checkpoint resumed in 1 process")


def test_a_one_process_checkpoint_resumes_in_two_processes(two_processes, tmp_path):
    _, ranks = two_processes
    uninterrupted, _ = _train("dcgan", tmp_path, steps=4)
    _assert_close(ranks[0]["dcgan_from_one"], _state(uninterrupted), "1-process checkpoint resumed in 2 processes")


def test_only_rank_zero_writes_and_the_log_is_complete(two_processes):
    out, ranks = two_processes
    log = (out / "dcgan" / "log.jsonl").read_text().splitlines()
    assert len(log) == len(ranks[0]["dcgan"]["history"]) == 3
    assert not list((out / "dcgan").glob("*.tmp"))


def test_a_multi_phase_model_with_r1_and_ema_trains_in_sync(two_processes):
    _, ranks = two_processes
    for k, v in ranks[0]["stylegan"].items():  # StyleGAN's minibatch std is per shard: no one-process equality
        assert torch.isfinite(v.float()).all() and torch.equal(v, ranks[1]["stylegan"][k]), k


def test_a_global_batch_not_divisible_by_the_world_size_is_an_error(two_processes):
    _, ranks = two_processes
    for r in ranks:
        assert "batch_size = 9" in r["odd_batch"] and "multiple of 2" in r["odd_batch"]


# --- synchronized batch norm -------------------------------------------------------------------

def _bn_input(shape):
    # off 0 (mean 10, std ~1): a float32 E[x²] − E[x]² would be off by ~1e-5 (float32 spacing at 100 is 8e-6)
    return 10.0 + torch.randn(shape, generator=torch.Generator().manual_seed(1))


def _bn(dim, momentum):
    bn = nn.BatchNorm2d(3, momentum=momentum) if dim == 2 else nn.BatchNorm1d(5, momentum=momentum)
    with torch.no_grad():
        bn.weight.copy_(torch.linspace(0.5, 1.5, bn.num_features))
        bn.bias.copy_(torch.linspace(-1.0, 1.0, bn.num_features))
    return bn


def _bn_weights(shape):
    return torch.randn(shape, generator=torch.Generator().manual_seed(2))


def test_synced_batch_norm_is_batch_norm_of_the_whole_batch(two_processes):
    _, ranks = two_processes
    for dim, shape, momentum in ((2, (8, 3, 4, 4), 0.1), (1, (8, 5), None)):
        x = _bn_input(shape).requires_grad_(True)
        bn = _bn(dim, momentum)
        for _ in range(2):
            y = bn(x)
        (y * _bn_weights(shape)).sum().backward()
        for rank, r in enumerate(ranks):
            got, rows = r["sync_bn"][dim], slice(rank * 4, (rank + 1) * 4)
            # gradients are sums of 8·16 float32 terms up to ~16 in size: relative 1e-6 as well
            close = dict(rtol=TOL, atol=TOL)
            torch.testing.assert_close(got["y"], y[rows].detach(), **close)
            torch.testing.assert_close(got["x_grad"], x.grad[rows], **close)
            torch.testing.assert_close(got["running_mean"], bn.running_mean, **close)
            torch.testing.assert_close(got["running_var"], bn.running_var, **close)
            torch.testing.assert_close(got["weight_grad"], bn.weight.grad, **close)
            torch.testing.assert_close(got["bias_grad"], bn.bias.grad, **close)
            assert int(got["tracked"]) == int(bn.num_batches_tracked) == 2
            bn.eval()
            torch.testing.assert_close(got["eval"], bn(x[rows]).detach(), **close)
            bn.train()


def test_converting_keeps_weights_classes_and_one_process_results():
    bn = _bn(2, 0.1)
    x = _bn_input((8, 3, 4, 4))
    expected = bn(x)
    before = {k: v.clone() for k, v in bn.state_dict().items()}
    convert_sync_batchnorm(bn)
    assert isinstance(bn, nn.BatchNorm2d) and type(bn).__name__ == "SyncBatchNorm2d"
    _assert_close(bn.state_dict(), before, "state after converting")
    assert torch.equal(bn(x), expected)  # no process group: exactly nn.BatchNorm2d
