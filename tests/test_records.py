"""Records: JSON round trip, atomic replace-by-key, deterministic leaderboards."""

import json
import math
from pathlib import Path

import pytest

from gbench.errors import GbenchError
from gbench.leaderboard import render_suite, write_leaderboards
from gbench.records import Record, load_results, read_records, results_file, write_records

ROOT = Path(__file__).resolve().parent.parent


def rec(model="dcgan", metric="fid", value=1.5, seed=0, **kw):
    return Record(suite="toy", model=model, dataset="digits", metric=metric, value=value, seed=seed,
                  preset="smoke", profile="embedded", commit="abc", **kw)


def test_round_trip_including_inf():
    for r in (rec(std=0.25, extra={"note": "x"}, artifacts={"grid": "figures/a.png"}, variant="0.25",
                  protocol={"kid_subset_size": 179}),
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
    assert "2.00 ± 1.41 (n=2 seeds)" in a  # mean ± sample std of 1 and 3
    assert "n/a" in a and "no logits" in a
    assert "Provenance:" in a and "commit abc" in a


def test_write_leaderboards_byte_identical_across_processes(tmp_path):
    """Two processes with different hash seeds (set and dict orders differ) write the same bytes."""
    import os
    import subprocess
    import sys

    write_records(tmp_path / "results", [rec(value=1.0, std=0.1), rec(model="gan", value=2.0, extra={"a": 1, "b": 2}),
                                         rec(model="vae", metric="kid", value=0.5, protocol={"x": 1, "y": 2})])
    outputs = []
    for hash_seed in ("1", "2"):
        out = tmp_path / f"md{hash_seed}"
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        subprocess.run([sys.executable, "-m", "gbench", "leaderboard", "--results", str(tmp_path / "results"),
                        "--markdown", str(out)], check=True, env=env, capture_output=True)
        outputs.append((out / "toy.md").read_bytes())
    assert outputs[0] == outputs[1]


def test_variant_is_part_of_the_key(tmp_path):
    write_records(tmp_path, [rec(variant="0.25", value=1.0), rec(variant="0.5", value=2.0), rec(value=3.0)])
    write_records(tmp_path, [rec(variant="0.5", value=4.0)])
    got = sorted((r.variant, r.value) for r in read_records(results_file(tmp_path, "toy")))
    assert got == [("", 3.0), ("0.25", 1.0), ("0.5", 4.0)]
    md = render_suite(None, read_records(results_file(tmp_path, "toy")))
    assert "| variant" in md  # a variant column appears when some record has one


def test_rerun_with_new_extractor_weights_replaces_the_record(tmp_path):
    """The key has no extractor hash: a table never shows a row twice, once per weights version."""
    write_records(tmp_path, [rec(value=4.53, extractor="digits-evaluator", extractor_sha256="aaa")])
    write_records(tmp_path, [rec(value=0.09, extractor="digits-evaluator", extractor_sha256="bbb")])
    (only,) = read_records(results_file(tmp_path, "toy"))
    assert (only.value, only.extractor_sha256) == (0.09, "bbb")


def test_plus_minus_says_what_it_is():
    one_run = render_suite(None, [rec(metric="kid", value=0.004, std=0.001)])
    assert "4.00 ± 1.00" in one_run  # KID shown ×10³, its within-run std too
    assert "KID×10³: std over the subsets" in one_run
    seeds = render_suite(None, [rec(metric="kid", value=0.004), rec(metric="kid", value=0.006, seed=1)])
    assert "(n=2 seeds)" in seeds and "std over the subsets" not in seeds


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


@pytest.mark.parametrize("content, needle", [
    (b'{"suite": "toy", "model": "dcgan", "dat', "line 2 is not JSON"),             # truncated by a crash
    (b'[1, 2, 3]', "line 2 is not a gbench record"),                               # foreign JSON
    (b'{"suite": "toy"}', "line 2 is not a gbench record"),                        # wrong schema
    (b'\xff\xfe\x00garbage', "not UTF-8"),                                         # binary
])
def test_corrupt_records_file_is_named_with_its_line_and_the_fix(tmp_path, content, needle):
    """Issue 17, item 3: a corrupt results file is one GbenchError naming the file, not a traceback,
    and a write into it refuses rather than replacing it (the file is left as it was)."""
    path = results_file(tmp_path, "toy")
    write_records(tmp_path, [rec()])
    path.write_bytes(path.read_bytes() + content + b"\n")
    before = path.read_bytes()
    for call in (lambda: read_records(path), lambda: load_results(tmp_path), lambda: write_records(tmp_path, [rec()])):
        with pytest.raises(GbenchError, match=needle) as info:
            call()
        assert str(path) in str(info.value) and "git checkout" in str(info.value)
    assert path.read_bytes() == before


def test_a_folder_where_the_records_file_should_be(tmp_path):
    results_file(tmp_path, "toy").mkdir()
    with pytest.raises(GbenchError, match="is not a file"):
        read_records(results_file(tmp_path, "toy"))
