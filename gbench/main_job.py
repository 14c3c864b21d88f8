"""The main job on the CPU: its suites in parallel lanes, one torch thread per lane.

``gbench run --suite main --device cpu`` trains and scores small networks
(32×32 digits, 64×64 dSprites, SR patches): torch's intra-op threads barely
help them, so two one-thread processes on two cores finish nearly twice the
work of one two-thread process (measured numbers: the README's main-job
section). The suites are therefore dealt into lanes:

* :data:`LANES` groups the suites. A group runs in one process, one suite
  after another in the listed order, so a model that two suites share is
  trained once: ``generation`` trains the digits DCGAN that ``features``
  probes next, ``truncation`` the StyleGAN whose full row ``ablation`` reuses
  (:mod:`gbench.fit` keys model directories by model, dataset, profile,
  preset and seed; its training lock makes any other process wait rather than
  train a directory twice).
* The groups are balanced by the measured seconds of each suite's main
  selection at one thread (the numbers beside :data:`LANES`); a suite not
  listed (a new one) joins the lane with the fewest suites.
* Each lane writes its records and markdown under the records files' locks
  (:mod:`gbench.records`), as concurrent runs always do; the parent returns
  every lane's records in the suites' order for the summary.

Lanes are used only where they help and are safe: the main job, on the CPU,
outside torchrun (ranks are already parallel), with at least two usable
cores. Otherwise the suites run one after another in this process, as every
other ``gbench run`` does. One thread per lane also means the same float
sums on any machine with two or more cores.
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ProcessPoolExecutor

import torch

# Suites of one group share trained models or are short; each group is one lane. Beside them: the
# seconds each suite's main selection took at the quick preset in a two-lane run on 2 cores (the first
# run in the README's main-job section); the lanes are balanced on them.
LANES: tuple[tuple[str, ...], ...] = (
    # generation 117 s (GAN, DCGAN, VAE on digits), features 19 s (its DCGAN is generation's), likelihood
    # 47 s (the binary VAE), disentanglement 145 s (VAE and β-TCVAE on dSprites), conditional 309 s (SPADE
    # and its baseline on scenes), corruption 8 s: 644 s
    ("generation", "features", "likelihood", "disentanglement", "conditional", "corruption"),
    # sr 201 s (SRResNet), truncation 74 s (StyleGAN on digits), ablation 22 s (truncation's StyleGAN: full
    # and no-ema, no training), inpainting 180 s (the patch-discriminator GAN and its global-only ablation on
    # natural patches, and the fills), shapes3d 234 s (3D-GAN on 32³ voxels): 710 s
    ("sr", "truncation", "ablation", "inpainting", "shapes3d"),
)


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def lanes(names: list[str], cores: int) -> list[list[str]]:
    """Deal suite ``names`` into at most ``cores`` lanes following :data:`LANES`; the
    listed order within a group is kept, a suite outside every group goes to the
    shortest lane (fewest suites). One core (or one suite) gives one lane."""
    count = max(1, min(cores, len(LANES), len(names)))
    out: list[list[str]] = [[] for _ in range(count)]
    for i, group in enumerate(LANES):
        out[i % count].extend(n for n in group if n in names)
    for n in names:
        if not any(n in lane for lane in out):
            min(out, key=len).append(n)
    return [lane for lane in out if lane]


def parallel(req, device: torch.device) -> bool:
    """Whether ``req`` runs in lanes: the main job, CPU, not under torchrun, two or more cores."""
    from gbench.launch import requested_world_size

    under_torchrun = requested_world_size() > 1
    return req.suite == "main" and device.type == "cpu" and not under_torchrun and usable_cores() >= 2


def run_lanes(req, suites) -> list:
    """Run ``suites`` (the main job's, in registry order) in lanes of one-thread processes;
    return their records in the suites' order."""
    names = [s.name for s in suites]
    plan = lanes(names, usable_cores())
    if req.progress:
        print("[gbench] main job in %d lanes of one thread: %s" % (len(plan), " | ".join(", ".join(p) for p in plan)),
              flush=True)
    import multiprocessing

    # spawn, not fork: a forked child inherits torch's thread pools and locks mid-state.
    with ProcessPoolExecutor(len(plan), mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_lane, req, tuple(lane)) for lane in plan]
        results = [f.result() for f in futures]  # a lane's error (GbenchError included) is raised here
    by_suite: dict[str, list] = {}
    shown = set()
    for records, caught in results:
        for r in records:
            by_suite.setdefault(r.suite, []).append(r)
        for message, category in caught:  # each warning once, in this process's one-line display
            if (message, category) not in shown:
                shown.add((message, category))
                warnings.warn(message, category, stacklevel=1)
    return [r for n in names for r in by_suite.get(n, [])]


def _lane(req, names: tuple[str, ...]) -> tuple[list, list[tuple[str, type]]]:
    """One lane (a spawned process): its suites one after another on one CPU thread.
    Returns their records and the warnings they raised (shown by the parent, once each)."""
    torch.set_num_threads(1)
    from gbench.runner import run_suites
    from gbench.suites import SUITES

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        records = run_suites(req, [SUITES.get(n) for n in names], torch.device("cpu"))
    return records, [(str(w.message), w.category) for w in caught]


__all__ = ["LANES", "lanes", "parallel", "run_lanes", "usable_cores"]
