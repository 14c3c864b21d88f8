"""The weights resolver: search order, sha256 verification, messages — with tiny fake files."""

import hashlib

import pytest
import torch

from gbench.errors import GbenchError
from gbench.features import weights as W

FILE = "fake-net-0123abcd.pth"
URL = "https://example.invalid/fake-net-0123abcd.pth"


@pytest.fixture
def places(tmp_path, monkeypatch):
    """Isolated $GBENCH_WEIGHTS and torch hub dirs, and a known-hash table entry for FILE."""
    env_dir, hub_dir = tmp_path / "env", tmp_path / "hub"
    env_dir.mkdir()
    (hub_dir / "checkpoints").mkdir(parents=True)
    monkeypatch.setenv(W.ENV_VAR, str(env_dir))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub_dir))
    good = b"the genuine weights"
    monkeypatch.setitem(W.KNOWN_WEIGHTS, FILE, W.KnownWeights(sha256=hashlib.sha256(good).hexdigest(), url=URL))
    monkeypatch.setattr(W, "_HASH_CACHE", {})
    return {"env": env_dir, "hub": hub_dir / "checkpoints", "good": good, "tmp": tmp_path}


def test_missing_file_message_names_file_paths_url_and_flag(places, monkeypatch):
    with pytest.raises(GbenchError) as e:
        W.resolve_known(FILE)
    msg = str(e.value)
    assert "\n" not in msg
    for part in (FILE, str(places["env"] / FILE), str(places["hub"] / FILE), URL, "--download"):
        assert part in msg
    monkeypatch.delenv(W.ENV_VAR)
    with pytest.raises(GbenchError, match=r"\$GBENCH_WEIGHTS/fake-net"):
        W.resolve_known(FILE)


def test_env_dir_found_and_verified(places):
    (places["env"] / FILE).write_bytes(places["good"])
    path, verified = W.resolve_known(FILE)
    assert path == places["env"] / FILE and verified


def test_hub_cache_found_and_env_dir_wins_over_it(places):
    (places["hub"] / FILE).write_bytes(places["good"])
    assert W.resolve_known(FILE) == (places["hub"] / FILE, True)
    (places["env"] / FILE).write_bytes(places["good"])
    assert W.resolve_known(FILE) == (places["env"] / FILE, True)


def test_explicit_path_wins_and_may_be_a_directory(places):
    (places["env"] / FILE).write_bytes(places["good"])
    mine = places["tmp"] / "mine"
    mine.mkdir()
    (mine / FILE).write_bytes(places["good"])
    assert W.resolve_known(FILE, explicit_path=mine / FILE) == (mine / FILE, True)
    assert W.resolve_known(FILE, explicit_path=mine) == (mine / FILE, True)


def test_explicit_directory_without_the_file_falls_through(places):
    # `--weights DIR` is searched first, then $GBENCH_WEIGHTS and the hub cache.
    (places["env"] / FILE).write_bytes(places["good"])
    empty = places["tmp"] / "empty"
    empty.mkdir()
    assert W.resolve_known(FILE, explicit_path=empty) == (places["env"] / FILE, True)
    (places["env"] / FILE).unlink()
    with pytest.raises(GbenchError, match=str(empty / FILE)):
        W.resolve_known(FILE, explicit_path=empty)


def test_explicit_path_that_does_not_exist_is_an_error_not_a_fallback(places):
    (places["env"] / FILE).write_bytes(places["good"])
    with pytest.raises(GbenchError, match="does not exist"):
        W.resolve_known(FILE, explicit_path=places["tmp"] / "nope.pth")


def test_wrong_hash_refused_unless_allowed_then_flagged(places):
    bad = places["env"] / FILE
    bad.write_bytes(b"something else entirely")
    with pytest.raises(GbenchError) as e:
        W.resolve_known(FILE)
    assert hashlib.sha256(b"something else entirely").hexdigest() in str(e.value)
    assert "--allow-unverified-weights" in str(e.value)
    assert W.resolve_known(FILE, allow_unverified=True) == (bad, False)


def test_found_bad_file_is_not_skipped_for_a_good_one_later(places):
    # The hub cache holds a good copy, but $GBENCH_WEIGHTS's bad one comes
    # first: gbench must say so rather than silently use another file.
    (places["env"] / FILE).write_bytes(b"corrupt")
    (places["hub"] / FILE).write_bytes(places["good"])
    with pytest.raises(GbenchError, match=str(places["env"])):
        W.resolve_known(FILE)


def test_hash_prefix_is_accepted_as_in_torch_hub(places, monkeypatch):
    digest = hashlib.sha256(places["good"]).hexdigest()
    (places["env"] / FILE).write_bytes(places["good"])
    assert W.resolve_weights(FILE, digest[:8]) == (places["env"] / FILE, True)
    assert W.resolve_weights(FILE, digest[:8].upper()) == (places["env"] / FILE, True)
    wrong = "0" * 8 if not digest.startswith("0" * 8) else "f" * 8
    with pytest.raises(GbenchError):
        W.resolve_weights(FILE, wrong)
    with pytest.raises(ValueError):  # a too-short known digest is a table bug
        W.resolve_weights(FILE, digest[:4])


def test_unknown_digest_needs_allow_unverified(places):
    (places["env"] / FILE).write_bytes(places["good"])
    with pytest.raises(GbenchError, match="no known digest"):
        W.resolve_weights(FILE, None)
    assert W.resolve_weights(FILE, None, allow_unverified=True) == (places["env"] / FILE, False)


def test_download_only_when_allowed_into_hub_cache(places, monkeypatch):
    calls = []

    def fake_download(url, dst, *args, **kwargs):
        calls.append(url)
        with open(dst, "wb") as f:
            f.write(places["good"])

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    with pytest.raises(GbenchError):
        W.resolve_known(FILE)
    assert calls == []
    assert W.resolve_known(FILE, allow_download=True) == (places["hub"] / FILE, True)
    assert calls == [URL]


def test_bad_download_is_deleted_and_refused(places, monkeypatch):
    def fake_download(url, dst, *args, **kwargs):
        with open(dst, "wb") as f:
            f.write(b"an error page")

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    with pytest.raises(GbenchError, match="sha256"):
        W.resolve_known(FILE, allow_download=True)
    assert not (places["hub"] / FILE).exists()


def test_hash_cache_rehashes_a_changed_file(places):
    p = places["tmp"] / "f.bin"
    p.write_bytes(b"one")
    assert W.sha256_file(p) == hashlib.sha256(b"one").hexdigest()
    p.write_bytes(b"two, longer")  # new size → new cache key
    assert W.sha256_file(p) == hashlib.sha256(b"two, longer").hexdigest()


class NotATensor:
    """Stands for any pickled object that is not a tensor or a plain container."""


def test_load_state_dict_refuses_pickled_code(tmp_path):
    good = tmp_path / "good.pth"
    torch.save({"w": torch.ones(2)}, good)
    assert torch.equal(W.load_state_dict(good)["w"], torch.ones(2))
    evil = tmp_path / "evil.pth"
    torch.save({"w": NotATensor()}, evil)
    with pytest.raises(GbenchError, match="pickled code is refused"):
        W.load_state_dict(evil)
    with pytest.raises(GbenchError) as info:  # torch explains the refusal over several lines: one is kept
        W.load_state_dict(evil)
    assert "\n" not in str(info.value)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00" * 64)
    with pytest.raises(GbenchError, match="as safetensors") as info:
        W.load_state_dict(garbage)
    assert "\n" not in str(info.value)
