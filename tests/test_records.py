"""Records: JSON round trip, atomic replace-by-key, deterministic leaderboards."""

import json
import math
from pathlib import Path

import pytest

from gbench.leaderboard import render_suite, write_leaderboards
from gbench.records import Record, load_results, read_records, results_file, write_records

ROOT = Path(__file__).resolve().parent.parent


def rec(model="dcgan", metric="fid", value=1.5, seed=0, **kw):
    return Record(suite="toy", model=model, dataset="digits", metric=metric, value=value, seed=seed,
                  preset="smoke", profile="embedded", commit="abc", **kw)


def test_round_trip_including_inf():
    for r in (rec(std=0.25, extra={"variant": "x"}, artifacts={"grid": "figures/a.png"}),
              rec(value=math.inf), rec(value=None, status="unavailable", reason="needs --data-root")):
        assert Record.from_json(r.to_json()) == r
    assert json.loads(rec(value=math.inf).to_json())["value"] == "inf"


def test_status_and_value_agree():
    with pytest.raises(ValueError):
        rec(value=None)
    with pytest.raises(ValueError):
        rec(status="unavailable")


def test_rerun_replaces_same_key_and_keeps_other_seeds(tmp_path):
    write_records(tmp_path, [rec(value=1.0), rec(metric="kid", value=0.1)])
    write_records(tmp_path, [rec(value=2.0), rec(value=3.0, seed=1)])
    got = read_records(results_file(tmp_path, "toy"))
    assert sorted((r.metric, r.seed, r.value) for r in got) == [("fid", 0, 2.0), ("fid", 1, 3.0), ("kid", 0, 0.1)]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # no temp file left behind


def test_leaderboard_is_deterministic_and_aggregates_seeds(tmp_path):
    records = [rec(value=1.0), rec(value=3.0, seed=1), rec(model="gan", value=9.0),
               rec(model="gan", metric="is", value=None, status="unavailable", reason="no logits")]
    a = render_suite(None, records)
    b = render_suite(None, list(reversed(records)))
    assert a == b
    assert "2.00 ± 1.41 (n=2)" in a  # mean ± sample std of 1 and 3
    assert "n/a" in a and "no logits" in a
    assert "Provenance:" in a and "commit abc" in a


def test_write_leaderboards_byte_identical(tmp_path):
    write_records(tmp_path / "results", [rec(value=1.0), rec(model="gan", value=2.0)])
    (p1,) = write_leaderboards(tmp_path / "results")
    first = p1.read_bytes()
    write_leaderboards(tmp_path / "results")
    assert p1.read_bytes() == first


def test_committed_leaderboards_match_committed_records(tmp_path):
    """Nobody edits leaderboards by hand: regenerating them changes nothing."""
    results = ROOT / "leaderboards" / "results"
    if not load_results(results):
        pytest.skip("no committed records yet")
    for path in write_leaderboards(results, tmp_path):
        committed = ROOT / "leaderboards" / path.name
        assert committed.is_file(), f"{committed.name} is missing: run `gbench leaderboard`"
        assert committed.read_text(encoding="utf-8") == path.read_text(encoding="utf-8"), \
            f"{committed.name} does not match its records: run `gbench leaderboard`"
