"""`gbench run` under torchrun: the process group from torchrun's environment, and who writes.

``torchrun --nproc_per_node N -m gbench run …`` (and ``--nnodes`` for several
machines) starts N copies of ``gbench run`` with ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` set. gbench joins that
process group — gloo for ``--device cpu``, nccl for CUDA, each rank on
``cuda:LOCAL_RANK`` — and has no launcher or scheduler of its own. Then:

* training is data-parallel (the zoo's trainer sees the process group);
* sampling and feature extraction are sharded (:mod:`gbench.sharding`);
* rank 0 alone writes records, figures and leaderboard markdown: the other
  ranks' results folder is a scratch folder under the runs folder
  (``runs/ranks/rank<r>/``), never read, so suites need no rank checks;
* every rank uses rank 0's absolute runs and results paths (a relative path
  on another node's working directory would name another folder). Several
  nodes need those paths on a shared file system: checkpoints written by
  rank 0 are read back by every rank when a run resumes.

Without torchrun (``WORLD_SIZE`` unset or 1) nothing here does anything.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from gbench.errors import GbenchError
from gbench.metrics.distributed import is_distributed


def requested_world_size() -> int:
    """The number of processes torchrun started (``WORLD_SIZE``), 1 without torchrun."""
    value = os.environ.get("WORLD_SIZE", "1")
    try:
        world = int(value)
    except ValueError:
        raise GbenchError(f"WORLD_SIZE={value!r} is not a number: launch gbench with torchrun") from None
    if world < 1:
        raise GbenchError(f"WORLD_SIZE={world}: launch gbench with torchrun --nproc_per_node N (N ≥ 1)")
    return world


def join_process_group(device: torch.device) -> tuple[torch.device, bool]:
    """Join torchrun's process group when there is one to join.

    Args:
        device: the resolved ``--device`` (cpu or cuda).

    Returns:
        (this rank's device, whether this call created the group — the caller then destroys it
        with :func:`leave_process_group`). One process, or a group that already exists (a test
        or a program that set it up): ``(device, False)`` unchanged.
    """
    if requested_world_size() == 1 or is_distributed():
        return device, False
    import torch.distributed as dist

    for name in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        if name not in os.environ:
            raise GbenchError(f"WORLD_SIZE is set but {name} is not: launch gbench with torchrun, which sets both")
    if device.type == "cuda":
        local = int(os.environ["LOCAL_RANK"])
        if device.index is not None and device.index != local:
            raise GbenchError(f"--device {device} under torchrun: each rank uses cuda:LOCAL_RANK; pass --device cuda")
        if local >= torch.cuda.device_count():
            raise GbenchError(f"LOCAL_RANK {local} but this machine has {torch.cuda.device_count()} CUDA device(s): "
                              "start at most that many processes per node (--nproc_per_node)")
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")  # env://, as torchrun set it
    return device, True


def leave_process_group() -> None:
    """Wait for every rank (rank 0 may still be writing), then destroy the group."""
    import torch.distributed as dist

    if is_distributed():
        dist.barrier()
        dist.destroy_process_group()


def rank() -> int:
    """This process's rank: the process group's, else torchrun's ``RANK`` (after the group is left,
    as when the CLI prints its summary), else 0."""
    from zoo.train.distributed import rank_and_world

    if is_distributed():
        return rank_and_world()[0]
    return int(os.environ.get("RANK", "0")) if requested_world_size() > 1 else 0


def agreed_paths(*paths: Path) -> list[Path]:
    """Rank 0's absolute ``paths`` on every rank (each rank's own, absolute, in one process)."""
    resolved = [str(Path(p).resolve()) for p in paths]
    if is_distributed():
        import torch.distributed as dist

        dist.broadcast_object_list(resolved, src=0)
    return [Path(p) for p in resolved]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now, for a process group on this machine
    (``init_method=f"tcp://127.0.0.1:{port}"``: tests and benchmarks that spawn their ranks)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scratch_results(runs: Path) -> Path:
    """Where a rank other than 0 puts the records and figures it does not publish."""
    return runs / "ranks" / f"rank{rank()}" / "results"


__all__ = ["agreed_paths", "free_port", "join_process_group", "leave_process_group", "rank", "requested_world_size",
           "scratch_results"]
