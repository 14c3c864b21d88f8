"""Result records: one JSON line per (suite, model, dataset, variant, metric).

A record carries the number and everything needed to trust it: std where
defined, sample counts, extractor and its weights' sha256, the metric's
protocol parameters, preset, profile, seed, device, world size, git commit,
package versions, wall seconds, UTC time. ``variant`` names the condition a
number was measured under when a row has several (a disturbance level, a
truncation ψ, a hole ratio); it is "" otherwise.

Records of a suite live in ``<results>/<suite>.jsonl``. Writing replaces any
earlier record with the same :meth:`Record.key` (same suite, model, dataset,
variant, metric, preset, profile and seed) — also when the extractor's
weights changed, so a table never mixes two versions of one row; different
seeds are kept and aggregated by the leaderboard. Every
write rewrites the file through a temporary file and ``os.replace``, so a crash
leaves either the old or the new file, never half a line; the read–merge–replace
runs under an exclusive lock (``fcntl.flock`` on ``.<suite>.jsonl.lock`` beside
the file), so concurrent runs writing to one results folder lose no record.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from gbench.errors import GbenchError

STATUS = ("ok", "unavailable")


@dataclass(frozen=True)
class Record:
    """One measured number (or the reason there is none).

    ``value`` is None exactly when ``status`` is ``unavailable``; ``reason``
    then says why (e.g. "needs --data-root", "unavailable: vgg19-dcbb9e9d.pth
    not found"). ``extra`` holds small JSON-able facts that qualify the row
    (e.g. which SRGAN content loss ran); ``protocol`` holds the metric's
    protocol parameters as used (KID subset size and count, IS splits, PR k);
    ``artifacts`` maps a label to a file path relative to the leaderboards
    folder (sample grids, plots).
    """

    suite: str
    model: str
    dataset: str
    metric: str
    value: float | None
    std: float | None = None
    status: str = "ok"
    reason: str = ""
    n_real: int | None = None
    n_fake: int | None = None
    extractor: str | None = None
    extractor_sha256: str | None = None
    extractor_verified: bool | None = None
    preset: str = ""
    profile: str = ""
    seed: int = 0
    device: str = ""
    world_size: int = 1
    commit: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    wall_seconds: float = 0.0
    utc: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)
    variant: str = ""
    protocol: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.status not in STATUS:
            raise ValueError(f"record status must be one of {STATUS}, got {self.status!r}")
        if (self.value is None) != (self.status != "ok"):
            raise ValueError("a record has a value exactly when its status is 'ok'")
        if self.value is not None and not isinstance(self.value, (int, float)):
            raise TypeError(f"record value must be a number, got {type(self.value).__name__}")

    def key(self) -> tuple:
        return (self.suite, self.model, self.dataset, self.variant, self.metric, self.preset, self.profile, self.seed)

    def to_json(self) -> str:
        d = dataclasses.asdict(self)
        for k in ("value", "std"):
            if isinstance(d[k], float) and not math.isfinite(d[k]):
                d[k] = str(d[k])  # JSON has no inf/nan; keep them readable and round-trippable
        return json.dumps(d, sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_json(cls, line: str) -> "Record":
        d = json.loads(line)
        for k in ("value", "std"):
            if isinstance(d.get(k), str):
                d[k] = float(d[k])
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def results_file(results_dir: Path | str, suite: str) -> Path:
    return Path(results_dir) / f"{suite}.jsonl"


def atomic_write(path: Path | str, write: Callable[[Path], None]) -> Path:
    """``write(tmp)`` to a fresh temporary file beside ``path``, then rename it over ``path``:
    readers see the old file or the new one, never half of one, and concurrent writers never
    share a temporary name. The folder is created if missing."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        os.chmod(tmp, _new_file_mode())  # mkstemp makes 0600; a written file keeps the user's umask
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def _new_file_mode() -> int:
    """0o666 less the process umask: the mode ``open()`` would give a new file."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_text(path: Path | str, text: str) -> None:
    """Write ``text`` to ``path`` atomically (:func:`atomic_write`), flushed to disk first."""
    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())

    atomic_write(path, write)


def read_records(path: Path | str) -> list[Record]:
    """The records of one results file ([] when there is none yet).

    Raises:
        GbenchError: the path is a folder, unreadable, not UTF-8, or a line is not a record
            (truncated, foreign JSON, a wrong schema) — named by file and line, with the fix.
    """
    path = Path(path)
    if not path.exists():
        return []
    fix = f"restore it (e.g. git checkout -- {path}) or move it away; the next run writes its records anew"
    if not path.is_file():
        raise GbenchError(f"{path} is not a file but a records file is expected there: {fix}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise GbenchError(f"{path} is not UTF-8 text, so not a records file: {fix}") from None
    except OSError as e:
        raise GbenchError(f"cannot read {path}: {e.strerror}: check its permissions") from None
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(Record.from_json(line))
        except (ValueError, TypeError, AttributeError) as e:  # JSONDecodeError is a ValueError
            what = "not JSON" if isinstance(e, json.JSONDecodeError) else "not a gbench record"
            raise GbenchError(f"{path} line {number} is {what} (truncated or foreign): {fix}") from None
    return records


def load_results(results_dir: Path | str) -> dict[str, list[Record]]:
    """All records under ``results_dir``, by suite (file stem), suites sorted."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        return {}
    return {p.stem: read_records(p) for p in sorted(results_dir.glob("*.jsonl"))}


@contextmanager
def locked(path: Path | str, required: bool = True) -> Iterator[None]:
    """Hold an exclusive advisory lock for ``path`` (on ``.<name>.lock`` beside it; the folder is
    created if missing): one process at a time reads, merges and replaces the file.

    ``required=False`` is for readers: where the lock file cannot be created (a read-only
    results folder, which nobody can be writing to) they go on without the lock.
    """
    import fcntl

    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path.with_name(f".{path.name}.lock"), "a")
    except OSError:
        if required:
            raise
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_records(results_dir: Path | str, records: Iterable[Record]) -> None:
    """Add ``records`` to their suites' files, replacing records of the same key, under each
    file's lock (:func:`locked`)."""
    by_suite: dict[str, list[Record]] = {}
    for r in records:
        by_suite.setdefault(r.suite, []).append(r)
    for suite, new in by_suite.items():
        path = results_file(results_dir, suite)
        new_by_key = {r.key(): r for r in new}
        with locked(path):
            kept = [r for r in read_records(path) if r.key() not in new_by_key]
            atomic_write_text(path, "".join(r.to_json() + "\n" for r in [*kept, *new_by_key.values()]))
