"""The `gbench` command line.

Every user error (unknown name, missing file, bad images, …) is printed as one
line ``gbench: error: …`` on stderr with exit code 2 and no traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gbench import cli_score, cli_tools
from gbench.errors import GbenchError
from gbench.registry import UnknownNameError

USER_ERRORS = (GbenchError, UnknownNameError)


def _add_run(sub) -> None:
    from gbench.suites import PRESETS, PROFILES

    p = sub.add_parser("run", help="train, sample and score a suite; write records and leaderboard markdown",
                       description="Run a benchmark suite: train (or resume) its models at the preset, sample, "
                                   "score, append records under --results and regenerate the suite's markdown.")
    p.add_argument("--suite", required=True, help="suite name, or 'main' (the main job: a CPU-sized selection of "
                                                  "every suite) or 'all' (every suite); see `gbench list`")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (CUDA when available) [auto]")
    p.add_argument("--profile", default="embedded", choices=PROFILES,
                   help="embedded: offline data and shipped evaluators; paper: local CIFAR-10/MNIST/CelebA/Set5… "
                        "with ImageNet-pretrained extractors [embedded]")
    p.add_argument("--preset", default="quick", choices=PRESETS,
                   help="smoke: seconds (tests); quick: CPU minutes; full: GPU, paper-like training [quick]")
    p.add_argument("--models", default=None, help="comma-separated subset of the suite's models [all]")
    p.add_argument("--extractor", default=None,
                   help="feature extractor for the sample metrics (see `gbench list`) [the profile's]")
    p.add_argument("--runs", type=Path, default=Path("runs"), help="folder for checkpoints and run outputs [runs]")
    p.add_argument("--results", type=Path, default=Path("leaderboards/results"),
                   help="folder of JSON-lines records; markdown goes to its parent [leaderboards/results]")
    p.add_argument("--seed", type=int, default=0, help="seed for training, sampling and metrics [0]")
    p.add_argument("--data-root", type=Path, default=None, help="folder holding paper-profile datasets")
    p.add_argument("--weights", type=Path, default=None,
                   help="folder holding pretrained weight files (else $GBENCH_WEIGHTS, then the torch hub cache)")
    p.add_argument("--download", action="store_true", help="allow downloading datasets and weights")
    p.add_argument("--allow-unverified-weights", action="store_true",
                   help="accept weight files whose sha256 is unknown; records mark them unverified")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def cmd_run(args) -> int:
    from gbench.runner import RunRequest, run, summary

    records = run(RunRequest(
        suite=args.suite, device=args.device, profile=args.profile, preset=args.preset, runs=args.runs,
        results=args.results, seed=args.seed, data_root=args.data_root, download=args.download,
        progress=not args.no_progress, allow_unverified=args.allow_unverified_weights, weights=args.weights,
        extractor=args.extractor,
        models=None if args.models is None else tuple(m.strip() for m in args.models.split(",") if m.strip())))
    from gbench.launch import rank

    if rank() == 0:  # under torchrun every rank returns the same records; one summary (see gbench.launch)
        print(summary(records, args.results))
    return 0


def _add_leaderboard(sub) -> None:
    p = sub.add_parser("leaderboard", help="regenerate leaderboard markdown from records",
                       description="Write one markdown file per suite, from the records under --results only.")
    p.add_argument("--results", type=Path, default=Path("leaderboards/results"), help="records folder [leaderboards/results]")
    p.add_argument("--markdown", type=Path, default=None, help="folder for the markdown files [parent of --results]")


def cmd_leaderboard(args) -> int:
    from gbench.leaderboard import write_leaderboards

    from gbench.runner import check_output_folder

    if args.results.exists() and not args.results.is_dir():
        raise GbenchError(f"--results {args.results} is a file, not a folder of records: pass the results folder")
    if not args.results.is_dir():
        raise GbenchError(f"results folder {args.results} does not exist: run a suite first or pass --results DIR")
    if args.markdown is not None:
        check_output_folder("--markdown", args.markdown)
    for path in write_leaderboards(args.results, args.markdown):
        print(path)
    return 0


def _add_list(sub) -> None:
    sub.add_parser("list", help="suites, models, metrics, datasets and extractors, and whether each can run here",
                   description="List everything registered, with whether it can run on this machine and why not.")


def cmd_list(args) -> int:
    from tabulate import tabulate

    from gbench.data import DATASETS
    from gbench.features import EVALUATORS, EXTRACTORS
    from gbench.metrics.spec import METRICS
    from gbench.suites import META_SUITES, SUITES
    from zoo.models import MODELS

    def section(title, rows, headers):
        print(f"\n{title}\n" + tabulate(rows, headers=headers, disable_numparse=True))

    def suite_here(suite) -> str:
        # datasets outside the registry (Set5, Set14, BSD100) are local folders too
        needs_root = any(d not in DATASETS or DATASETS.get(d).profile == "paper" for d in suite.datasets.get("paper", ()))
        return "embedded: yes; paper: needs --data-root" if needs_root else "yes"

    section("Suites", [[n, suite_here(s), s.title] for n, s in SUITES.items()]
            + [[n, "as its suites", d] for n, d in META_SUITES.items()], ["suite", "runs here", "what it measures"])
    section("Models (zoo)", [[n, m.family, m.description] for n, m in MODELS.items()], ["model", "family", "description"])
    section("Metrics", [[n, m.header, m.consumes, ", ".join(f"{k}={v}" for k, v in m.protocol.items()),
                         m.description] for n, m in METRICS.items()],
            ["metric", "column", "consumes", "protocol", "description"])
    rows = []
    for n, d in DATASETS.items():
        ok, why = d.availability(None)
        rows.append([n, d.profile, "yes" if ok else f"no: {why}", d.description])
    section("Datasets", rows, ["dataset", "profile", "runs here", "description"])
    rows = []
    for n, e in EXTRACTORS.items():
        ok, why = e.availability()
        rows.append([n, "yes" if ok else f"no: {why}", e.description])
    section("Extractors", rows, ["extractor", "runs here", "description"])
    rows = []
    for n, e in EVALUATORS.items():
        ok, why = e.availability()
        entry = e.entry() if ok else None
        rows.append([n, e.group, "yes" if ok else f"no: {why}", e.quality(entry) if entry else "", e.description])
    section("Shipped evaluators (retrain: gbench evaluators train NAME|GROUP)", rows,
            ["evaluator", "group", "runs here", "test split", "description"])
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gbench", description="Evaluation and benchmarking for deep generative models in vision.",
        epilog="Start with `gbench list`, then `gbench run --suite main`.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_run(sub)
    _add_leaderboard(sub)
    _add_list(sub)
    cli_score.add_parsers(sub)
    cli_tools.add_parsers(sub)
    _add_verbose(sub)
    return parser


def _add_verbose(sub) -> None:
    """`--verbose` on every command (and `evaluators train`): errors stay one line, then their
    details (e.g. torch's full refusal of a weights file) follow as `gbench: detail:` lines."""
    for command in sub.choices.values():
        nested = [a for a in command._actions if isinstance(a, argparse._SubParsersAction)]
        if nested:
            _add_verbose(nested[0])
        else:
            command.add_argument("--verbose", action="store_true", help="after an error, print its details")


HANDLERS = {"run": cmd_run, "leaderboard": cmd_leaderboard, "list": cmd_list, **cli_score.HANDLERS,
            **cli_tools.HANDLERS}


_WARNED: set[str] = set()


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as one line each, like errors (no source line, no file path), each text once."""
    text = str(message)
    if text not in _WARNED:
        _WARNED.add(text)
        print(f"gbench: warning: {text}", file=sys.stderr if file is None else file)


def _environment_error(e: OSError) -> str | None:
    """One line for an OSError the user's machine caused (permissions, a full or read-only disk),
    wherever it surfaced; None for any other OSError."""
    import errno

    where = f" {e.filename}" if e.filename else ""
    if e.errno in (errno.EACCES, errno.EPERM):
        return f"permission denied on{where}: make it readable (writable for outputs) by this user, or pass another path"
    if e.errno == errno.ENOSPC:
        return f"no space left on the device writing{where}: free some space and rerun (finished records are kept)"
    if e.errno == errno.EROFS:
        return f"{where.strip() or 'a path'} is on a read-only file system: pass a writable folder"
    return None


def main(argv: list[str] | None = None) -> int:
    import warnings

    parser = build_parser()
    args = parser.parse_args(argv)
    handler = HANDLERS[args.command]
    try:
        with warnings.catch_warnings():  # restores the caller's warning display afterwards
            warnings.showwarning = _one_line_warning
            return handler(args)
    except USER_ERRORS as e:
        print(f"gbench: error: {e}", file=sys.stderr)
        details = getattr(e, "details", "")
        if details and getattr(args, "verbose", False):
            for line in filter(str.strip, details.splitlines()):
                print(f"gbench: detail: {line}", file=sys.stderr)
        return 2
    except OSError as e:
        line = _environment_error(e)
        if line is None:  # any other OSError is a gbench bug: keep its traceback
            raise
        print(f"gbench: error: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gbench: interrupted; finished records are saved, rerun to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
