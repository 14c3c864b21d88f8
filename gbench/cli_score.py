"""`gbench fid`, `gbench score` and `gbench evaluators train`: score your own samples.

A PATH is a folder of images, a ``.npz`` of uint8 images, or saved statistics
(a ``.npz`` holding ``mu`` and ``sigma`` — pytorch-fid's keys — as written by
``--save-stats`` or by pytorch-fid itself). The first PATH is the reference.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from gbench.errors import GbenchError

METRIC_GROUPS = {"fid": ("fid",), "kid": ("kid",), "is": ("is",), "pr": ("precision", "recall"),
                 "dc": ("density", "coverage")}


def _add_extractor_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--extractor", default="digits-evaluator",
                   help="feature extractor (see `gbench list`) [digits-evaluator]")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto [auto]")
    p.add_argument("--batch-size", type=int, default=128, help="images per forward pass [128]")
    p.add_argument("--weights", type=Path, default=None, help="weights file or folder for the extractor")
    p.add_argument("--download", action="store_true", help="allow downloading the extractor's weights")
    p.add_argument("--allow-unverified-weights", action="store_true",
                   help="accept a weights file whose sha256 is unknown (results are marked unverified)")
    p.add_argument("--save-stats", type=Path, default=None, metavar="OUT.npz",
                   help="save the first PATH's feature statistics (mu, sigma + sums) to OUT.npz")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def add_parsers(sub) -> None:
    p = sub.add_parser("fid", help="FID between two image sets or saved statistics",
                       description="Fréchet distance between the features of PATH1 and PATH2. A PATH is a folder "
                                   "of images, a .npz of uint8 images, or a .npz of saved mu/sigma statistics.")
    p.add_argument("paths", nargs=2, metavar="PATH", help="folder, images .npz or stats .npz")
    p.add_argument("--backend", default="eigh", choices=("eigh", "scipy", "newton-schulz"),
                   help="matrix square root: eigh (default), scipy (pytorch-fid's), newton-schulz")
    _add_extractor_options(p)

    p = sub.add_parser("score", help="several metrics of sample sets against a reference",
                       description="Score every PATH after the first against the first (the reference).")
    p.add_argument("paths", nargs="+", metavar="PATH", help="reference first, then the sets to score")
    p.add_argument("--metrics", default="fid,is,kid,pr,dc",
                   help="comma-separated from fid, is, kid, pr (precision/recall), dc (density/coverage) [all]")
    p.add_argument("--seed", type=int, default=0, help="seed for IS splits and KID subsets [0]")
    _add_extractor_options(p)

    p = sub.add_parser("evaluators", help="train the shipped domain evaluators",
                       description="Reproduce a shipped domain evaluator's weights (seeded, documented recipe).")
    esub = p.add_subparsers(dest="evaluators_command", required=True, metavar="ACTION")
    t = esub.add_parser("train", help="train an evaluator and write its weights + manifest entry",
                        description="Train a domain evaluator; by default the package's shipped file is replaced.")
    t.add_argument("name", choices=("digits",), help="which evaluator")
    t.add_argument("--seed", type=int, default=0, help="training seed [0]")
    t.add_argument("--epochs", type=int, default=None, help="passes over the training split [recipe default]")
    t.add_argument("--out", type=Path, default=None, help="folder for the weights and manifest [the package's]")


def _load_extractor(args):
    from gbench.features import EXTRACTORS
    from gbench.runner import resolve_device

    spec = EXTRACTORS.get(args.extractor)
    if args.batch_size < 1:
        raise GbenchError(f"--batch-size must be ≥ 1, got {args.batch_size}")
    return spec.load(device=resolve_device(args.device), weights_path=args.weights, allow_download=args.download,
                     allow_unverified=args.allow_unverified_weights)


def _is_stats(path: Path) -> bool:
    if path.suffix != ".npz" or not path.is_file():
        return False
    try:
        with np.load(path, allow_pickle=False) as z:
            return "mu" in z.files and "sigma" in z.files
    except Exception:  # an unreadable file is reported by the image loader
        return False


def _inputs(paths, extractor, batch_size, need_logits):
    """Each PATH → (FeatureStats, features or None, logits or None)."""
    from gbench.data.folder import load_images
    from gbench.metrics.stats import FeatureStats

    out = []
    for raw in paths:
        path = Path(raw)
        if _is_stats(path):
            out.append((FeatureStats.load(path), None, None))
            continue
        images = load_images(path)
        want = ("features", "logits") if need_logits else ("features",)
        res = extractor.extract(images, batch_size=batch_size, want=want)
        out.append((FeatureStats().update(res["features"]), res["features"], res.get("logits")))
    return out


def cmd_fid(args) -> int:
    from gbench.features import EXTRACTORS
    from gbench.metrics.frechet import frechet_distance

    EXTRACTORS.get(args.extractor)  # an unknown name is reported before anything else
    for p in args.paths:
        if not Path(p).exists():
            raise GbenchError(f"{p} does not exist: pass a folder of images, a .npz of images or saved statistics")
    extractor = _load_extractor(args)
    (s1, _, _), (s2, _, _) = _inputs(args.paths, extractor, args.batch_size, need_logits=False)
    value = frechet_distance(*s1.compute(), *s2.compute(), backend=args.backend)
    if args.save_stats:
        s1.save(args.save_stats)
    result = {"fid": value, "extractor": extractor.name, "weights_sha256": extractor.weights_sha256,
              "verified": extractor.verified, "n": [s1.n, s2.n], "backend": args.backend}
    print(json.dumps(result) if args.json else f"FID: {value:.6f}  ({extractor.name}, n = {s1.n} / {s2.n})")
    return 0


def parse_metrics(text: str) -> tuple[str, ...]:
    names = [m.strip() for m in text.split(",") if m.strip()]
    bad = [m for m in names if m not in METRIC_GROUPS]
    if bad or not names:
        raise GbenchError(f"unknown metric(s) {', '.join(bad) or '(none)'} in --metrics: use a comma-separated "
                          f"list of {', '.join(METRIC_GROUPS)}")
    return tuple(m for n in names for m in METRIC_GROUPS[n])


def cmd_score(args) -> int:
    from gbench.evaluate import Reference, score_features
    from gbench.features import EXTRACTORS

    EXTRACTORS.get(args.extractor)
    metrics = parse_metrics(args.metrics)
    if len(args.paths) < 2:
        raise GbenchError("gbench score needs a reference PATH and at least one PATH to score")
    for p in args.paths:
        if not Path(p).exists():
            raise GbenchError(f"{p} does not exist: pass a folder of images, a .npz of images or saved statistics")
    extractor = _load_extractor(args)
    inputs = _inputs(args.paths, extractor, args.batch_size, need_logits="is" in metrics)
    stats, feats, _ = inputs[0]
    reference = Reference.from_stats(stats) if feats is None else Reference.from_features(feats)
    if args.save_stats:
        stats.save(args.save_stats)
    rows = {}
    for path, (s, f, logits) in zip(args.paths[1:], inputs[1:]):
        if f is None:
            if set(metrics) - {"fid"}:
                raise GbenchError(f"{path} is saved statistics: only --metrics fid can score it")
            rows[path] = {"fid": reference.frechet.distance(*s.compute())}
            continue
        scores = score_features(reference, f, logits, metrics, seed=args.seed)
        rows[path] = {m: v for m, (v, _) in scores.items()} | {f"{m}_std": s for m, (_, s) in scores.items() if s is not None}
    if args.json:
        print(json.dumps({"reference": args.paths[0], "extractor": extractor.name, "verified": extractor.verified,
                          "scores": rows}))
    else:
        from tabulate import tabulate

        print(tabulate([[p] + [f"{r.get(m, float('nan')):.6g}" for m in metrics] for p, r in rows.items()],
                       headers=["path", *metrics], disable_numparse=True))
        print(f"reference: {args.paths[0]} · extractor {extractor.name}"
              f"{'' if extractor.verified else ' (UNVERIFIED weights)'}")
    return 0


def cmd_evaluators(args) -> int:
    from gbench.features import train_digits_evaluator

    kwargs = {"seed": args.seed, "out_dir": args.out}
    if args.epochs is not None:
        kwargs["epochs"] = args.epochs
    entry = train_digits_evaluator(**kwargs)
    print(f"digits-evaluator: test accuracy {entry['test_accuracy']:.4f}, sha256 {entry['sha256']}", file=sys.stdout)
    return 0


HANDLERS = {"fid": cmd_fid, "score": cmd_score, "evaluators": cmd_evaluators}
