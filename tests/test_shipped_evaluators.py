"""Every shipped evaluator: its file matches the manifest, loads verified, and a tampered copy is refused."""

import pytest

from gbench.errors import GbenchError
from gbench.features import EVALUATORS, EXTRACTORS
from gbench.features.shipped import WEIGHTS_DIR, read_manifest
from gbench.features.weights import sha256_file


@pytest.mark.parametrize("name", EVALUATORS.names())
def test_shipped_file_matches_its_manifest_entry_and_loads_verified(name):
    spec, entry = EVALUATORS.get(name), read_manifest()[name]
    path = WEIGHTS_DIR / spec.filename
    assert entry["file"] == spec.filename and entry["version"] == spec.version
    assert path.stat().st_size == entry["bytes"] < 1_000_000  # shipped evaluator weights stay under 1 MB
    assert sha256_file(path) == entry["sha256"] == spec.weights().sha256
    loaded = spec.load()
    assert loaded.verified and loaded.weights_sha256 == entry["sha256"]
    assert not loaded.net.training and not any(p.requires_grad for p in loaded.net.parameters())
    assert sum(p.numel() for p in loaded.net.parameters()) == entry["num_params"]
    assert spec.availability() == (True, "") and spec.quality(entry)
    assert entry["command"].startswith("gbench evaluators train ")


@pytest.mark.parametrize("name", EVALUATORS.names())
def test_a_tampered_copy_is_refused_unless_explicitly_allowed(tmp_path, name):
    spec = EVALUATORS.get(name)
    data = bytearray((WEIGHTS_DIR / spec.filename).read_bytes())
    data[-1] ^= 0x01  # one bit of the last weight
    bad = tmp_path / spec.filename
    bad.write_bytes(bytes(data))
    with pytest.raises(GbenchError, match="sha256"):
        spec.load(weights_path=bad)
    loaded = spec.load(weights_path=bad, allow_unverified=True)
    assert not loaded.verified and loaded.weights_sha256 != spec.weights().sha256
    if name in EXTRACTORS:  # the same file through the extractor path FID/KID/IS use
        with pytest.raises(GbenchError, match="sha256"):
            EXTRACTORS.get(name).load(weights_path=bad)
        assert not EXTRACTORS.get(name).load(weights_path=bad, allow_unverified=True).verified
