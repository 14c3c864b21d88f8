"""`gbench fid`, `gbench score` and `gbench evaluators train`: score your own samples.

A PATH is a folder of images, a ``.npz`` of uint8 images, or saved statistics
(a ``.npz`` holding ``mu`` and ``sigma`` — pytorch-fid's keys — as written by
``--save-stats`` or by pytorch-fid itself). The first PATH is the reference.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from pathlib import Path

import numpy as np

from gbench.errors import GbenchError
from gbench.metrics._arrays import check_seed


def add_extractor_options(p: argparse.ArgumentParser) -> None:
    """The options of every command that extracts features (fid, score, stats)."""
    p.add_argument("--extractor", default=None,
                   help="feature extractor (see `gbench list`) [digits-evaluator for 1×32×32 digit-like images; "
                        "otherwise pass one, e.g. inception-v3-fid]")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto [auto]")
    p.add_argument("--batch-size", type=int, default=128, help="images per forward pass [128]")
    p.add_argument("--weights", type=Path, default=None, help="weights file or folder for the extractor")
    p.add_argument("--download", action="store_true", help="allow downloading the extractor's weights")
    p.add_argument("--allow-unverified-weights", action="store_true",
                   help="accept a weights file whose sha256 is unknown (results are marked unverified)")


def _add_scoring_options(p: argparse.ArgumentParser) -> None:
    add_extractor_options(p)
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
    _add_scoring_options(p)

    p = sub.add_parser("score", help="several metrics of sample sets against a reference",
                       description="Score every PATH after the first against the first (the reference).")
    p.add_argument("paths", nargs="+", metavar="PATH", help="reference first, then the sets to score")
    p.add_argument("--metrics", default=None,
                   help="comma-separated metric names or groups (pr = precision,recall; dc = density,coverage); "
                        "see `gbench list` [every sample metric]")
    p.add_argument("--seed", type=int, default=0, help="seed for IS splits and KID subsets [0]")
    _add_scoring_options(p)

    p = sub.add_parser("evaluators", help="train the shipped domain evaluators",
                       description="Reproduce a shipped domain evaluator's weights (seeded, documented recipe).")
    esub = p.add_subparsers(dest="evaluators_command", required=True, metavar="ACTION")
    t = esub.add_parser("train", help="retrain an evaluator; writes its weights + manifest to a folder of yours",
                        description="Reproduce a domain evaluator with its seeded recipe. The weights and a "
                                    "manifest go to --weights-out; the package's shipped files are never replaced "
                                    "(compare the sha256 printed with `gbench list`'s).")
    t.add_argument("name", metavar="NAME",
                   help="an evaluator (see `gbench list`) or a group: digits, scenes (all three scenes evaluators), "
                        "voxels")
    t.add_argument("--seed", type=int, default=0, help="training seed [0]")
    t.add_argument("--epochs", type=int, default=None, help="passes over the training split [recipe default]")
    t.add_argument("--weights-out", type=Path, default=Path("evaluators"),
                   help="folder for the retrained weights and their manifest [evaluators]")


def default_extractor(shapes: list[tuple[int, ...]]) -> str:
    """The extractor that fits images of these (C, H, W) shapes, or an error saying which to pass.

    1×32×32 images are what the shipped digits evaluator was trained on; for
    anything else gbench cannot guess a domain, so the user names one.
    """
    if shapes and all(tuple(s) == (1, 32, 32) for s in shapes):
        return "digits-evaluator"
    seen = ", ".join(sorted({"×".join(map(str, s)) for s in shapes})) or "saved statistics only"
    raise GbenchError(f"no default extractor for images of shape {seen}: pass --extractor NAME "
                      "(inception-v3-fid for natural RGB images, the standard FID; see `gbench list`)")


def _load_extractor(args, name: str):
    from gbench.features import EXTRACTORS
    from gbench.runner import resolve_device

    spec = EXTRACTORS.get(name)
    if args.batch_size < 1:
        raise GbenchError(f"--batch-size must be ≥ 1, got {args.batch_size}")
    return spec.load(device=resolve_device(args.device), weights_path=args.weights, allow_download=args.download,
                     allow_unverified=args.allow_unverified_weights)


def _is_stats(path: Path) -> bool:
    if path.suffix != ".npz" or not path.is_file():
        return False
    try:
        with np.load(path, allow_pickle=False) as z:
            # either key marks statistics: a file with mu but no sigma is an incomplete statistics file
            # (FeatureStats.load says so), not an image array
            return "mu" in z.files or "sigma" in z.files
    except Exception:  # an unreadable file is reported by the image loader
        return False


def _read_inputs(args) -> list:
    """Each PATH → FeatureStats (saved statistics) or uint8 images (N, C, H, W); a named
    extractor is checked first, so a typo is reported before any file is read."""
    from gbench.data.folder import check_input_path, load_images
    from gbench.features import EXTRACTORS
    from gbench.metrics.stats import FeatureStats

    if args.extractor is not None:
        EXTRACTORS.get(args.extractor)
    paths = args.paths

    for p in paths:
        check_input_path(p, "a folder of images, a .npz of images or saved statistics")
    return [FeatureStats.load(Path(p)) if _is_stats(Path(p)) else load_images(Path(p)) for p in paths]


def _extract(args, raw: list, need_logits: bool):
    """(extractor, [(FeatureStats, features or None, logits or None)] per input)."""
    from gbench.metrics.stats import FeatureStats

    images = [x for x in raw if not isinstance(x, FeatureStats)]
    if not images and args.extractor is None:  # statistics against statistics: nothing to extract
        return None, [(x, None, None) for x in raw]
    name = args.extractor or default_extractor([tuple(x.shape[1:]) for x in images])
    extractor = _load_extractor(args, name)
    out = []
    for i, x in enumerate(raw):
        if isinstance(x, FeatureStats):
            out.append((x, None, None))
            continue
        if i == 0:  # the reference: features from the content-keyed cache (its logits are never scored)
            from gbench.cache import cached_features

            feats = cached_features(extractor, x, batch_size=args.batch_size)[0]
            out.append((FeatureStats().update(feats), feats, None))
            continue
        want = ("features", "logits") if need_logits else ("features",)
        res = extractor.extract(x, batch_size=args.batch_size, want=want)
        out.append((FeatureStats().update(res["features"]), res["features"], res.get("logits")))
    return extractor, out


def cmd_fid(args) -> int:
    from gbench.metrics.frechet import frechet_distance

    extractor, ((s1, _, _), (s2, _, _)) = _extract(args, _read_inputs(args), need_logits=False)
    value = frechet_distance(*s1.compute(), *s2.compute(), backend=args.backend)
    if args.save_stats:
        s1.save(args.save_stats)
    name = extractor.name if extractor else "saved statistics"
    result = {"fid": value, "extractor": extractor and extractor.name,
              "weights_sha256": extractor and extractor.weights_sha256,
              "verified": extractor and extractor.verified, "n": [s1.n, s2.n], "backend": args.backend}
    unverified = " (UNVERIFIED weights)" if extractor and not extractor.verified else ""
    print(json.dumps(result) if args.json else f"FID: {value:.6f}  ({name}{unverified}, n = {s1.n} / {s2.n})")
    return 0


def parse_metrics(text: str | None) -> tuple[str, ...]:
    """--metrics → registered metric names (groups expanded, order kept, no repeats)."""
    from gbench.evaluate import sample_metrics
    from gbench.metrics.spec import cli_names

    if text is None:
        return sample_metrics()
    known = cli_names()
    names = [m.strip() for m in text.split(",") if m.strip()]
    bad = [m for m in names if m not in known]
    if bad or not names:
        close = {m: difflib.get_close_matches(m, list(known), n=1, cutoff=0.5) for m in bad}
        hint = "".join(f"did you mean {c[0]!r} for {m!r}? " for m, c in close.items() if c)
        raise GbenchError(f"unknown metric(s) {', '.join(bad) or '(none)'} in --metrics: {hint}use a comma-separated "
                          f"list of {', '.join(known)}")
    return tuple(dict.fromkeys(m for n in names for m in known[n]))


def cmd_score(args) -> int:
    from gbench.evaluate import Reference, needs_logits, score

    metrics = parse_metrics(args.metrics)
    check_seed(args.seed, "--seed")
    if len(args.paths) < 2:
        raise GbenchError("gbench score needs a reference PATH and at least one PATH to score")
    extractor, inputs = _extract(args, _read_inputs(args), need_logits=needs_logits(metrics))
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
        scores = score(reference, f, logits, metrics, seed=args.seed)
        rows[path] = ({m: s.value for m, s in scores.items()}
                      | {f"{m}_std": s.std for m, s in scores.items() if s.std is not None})
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
    from gbench.features import EVALUATORS
    from gbench.features.shipped import WEIGHTS_DIR

    groups = {}
    for name, spec in EVALUATORS.items():
        groups.setdefault(spec.group, []).append(name)
    if args.name not in groups and args.name not in EVALUATORS:
        raise GbenchError(f"unknown evaluator or group {args.name!r}: choose one of "
                          f"{', '.join(sorted(groups) + EVALUATORS.names())} (see `gbench list`)")
    names = groups.get(args.name, [args.name])
    out = args.weights_out
    if out.resolve() == Path(WEIGHTS_DIR).resolve():
        raise GbenchError(f"--weights-out {out} is the package's shipped weights folder, which gbench never "
                          "rewrites: write the retrained evaluator to a folder of yours")
    if out.exists() and not out.is_dir():
        raise GbenchError(f"--weights-out {out} is a file: pass a folder")
    if args.epochs is not None and args.epochs < 1:
        raise GbenchError(f"--epochs must be ≥ 1, got {args.epochs}")
    check_seed(args.seed, "--seed")
    for name in names:
        spec = EVALUATORS.get(name)
        entry = spec.train(out, seed=args.seed, epochs=args.epochs)
        print(f"{name}: {spec.quality(entry)}, sha256 {entry['sha256']}, written to {out} (the shipped weights "
              f"are unchanged; use these with --weights {out / entry['file']} --allow-unverified-weights)",
              file=sys.stdout)
    return 0


HANDLERS = {"fid": cmd_fid, "score": cmd_score, "evaluators": cmd_evaluators}
