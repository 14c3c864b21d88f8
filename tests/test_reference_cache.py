"""The content-keyed reference-feature cache (gbench.cache): what the key names, that a hit
equals a miss bit for bit, and that a stale or corrupt file is never trusted."""

import os
import time
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import gbench.cache as cache
from gbench.cache import cache_dir, cache_key, cached_features, content_digest, load_features


@pytest.fixture(autouse=True)
def tmp_cache(tmp_path, monkeypatch):
    """Every test here gets its own cache folder; nothing goes to ~/.cache."""
    monkeypatch.setenv("GBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("GBENCH_NO_CACHE", raising=False)
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def extractor():
    from gbench.features import EXTRACTORS

    return EXTRACTORS.get("digits-evaluator").load(device="cpu")


@pytest.fixture(scope="module")
def digits():
    from gbench.data import DATASETS

    return DATASETS.get("digits")("test").images[:120]


class Counting:
    """An extractor that counts its extract() calls (a cache hit makes none)."""

    def __init__(self, inner):
        self.inner, self.calls = inner, 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def extract(self, *args, **kwargs):
        self.calls += 1
        return self.inner.extract(*args, **kwargs)


def fake(**over):
    base = dict(name="x", version="1", feature_dim=4, weights_sha256="ab" * 32, verified=True,
                device=torch.device("cpu"), channels_last=False)
    return SimpleNamespace(**(base | over))


def test_hit_equals_miss_bit_for_bit_and_skips_extraction(extractor, digits, tmp_cache):
    ex = Counting(extractor)
    miss, was_hit = cached_features(ex, digits, batch_size=64)
    assert not was_hit and ex.calls == 1
    assert len(list(tmp_cache.glob("*.npz"))) == 1
    hit, was_hit = cached_features(ex, digits, batch_size=64)
    assert was_hit and ex.calls == 1
    assert hit.dtype == torch.float32 and torch.equal(hit, miss)
    direct = extractor.extract(digits, batch_size=64, want=("features",))["features"]
    assert torch.equal(miss, direct)
    assert not list(tmp_cache.glob("*.tmp"))  # atomic write leaves no temporary file
    _, was_hit = cached_features(ex, digits, batch_size=1)  # another batch size rounds differently: a miss
    assert not was_hit and ex.calls == 2 and len(list(tmp_cache.glob("*.npz"))) == 2


def test_reference_from_images_uses_the_cache(extractor, digits, tmp_cache):
    from gbench.evaluate import Reference

    ex = Counting(extractor)
    a = Reference.from_images(ex, digits)
    b = Reference.from_images(ex, digits)
    assert ex.calls == 1 and torch.equal(a.features, b.features) and a.n == b.n == 120
    c = Reference.from_images(ex, digits, cache=False)
    assert ex.calls == 2 and torch.equal(a.features, c.features)


def test_key_names_content_shape_extractor_device_and_batch_size():
    x = torch.randint(0, 256, (6, 1, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    k = cache_key(fake(), x, 128)
    # torch or numpy: the same bytes give the same key
    assert k == cache_key(fake(), x.clone(), 128) == cache_key(fake(), x.numpy(), 128)
    y = x.clone()
    y[5, 0, 7, 7] ^= 1  # one bit of the last image
    assert cache_key(fake(), y, 128) != k
    assert cache_key(fake(), x.reshape(6, 1, 4, 16), 128) != k  # same bytes, other shape
    for change in ({"name": "y"}, {"version": "2"}, {"weights_sha256": "cd" * 32}, {"feature_dim": 5},
                   {"device": torch.device("cuda")}, {"channels_last": True}):
        assert cache_key(fake(**change), x, 128) != k, change
    assert cache_key(fake(), x, 64) != k
    assert k != cache_key(fake(), x[:5], 128)


def test_code_version_is_in_the_key(monkeypatch):
    x = torch.zeros(2, 1, 4, 4, dtype=torch.uint8)
    k = cache_key(fake(), x, 128)
    monkeypatch.setattr(cache, "FEATURE_CODE_VERSION", cache.FEATURE_CODE_VERSION + 1)
    assert cache_key(fake(), x, 128) != k


def test_chunked_hash_equals_one_pass(monkeypatch):
    """The bytes are hashed in chunks (memory, GPU tensors); the digest must not depend on the
    chunk size or on the tensor's memory layout."""
    x = torch.randint(0, 256, (50, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    whole = content_digest(x)
    monkeypatch.setattr(cache, "_CHUNK", 3 * 8 * 8 * 7 + 5)  # 7 images per chunk, not a divisor of 50
    assert content_digest(x) == whole
    nhwc = x.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)  # same values, non-contiguous
    assert not nhwc.is_contiguous() and content_digest(nhwc) == whole


def test_unverified_or_random_weights_are_never_cached(extractor, digits, tmp_cache):
    assert cache_key(fake(verified=False), digits, 128) is None
    assert cache_key(fake(weights_sha256=None), digits, 128) is None
    unverified = Counting(extractor)
    unverified.verified = False  # what --allow-unverified-weights with a foreign file gives
    cached_features(unverified, digits, batch_size=64)
    cached_features(unverified, digits, batch_size=64)
    assert unverified.calls == 2 and not tmp_cache.exists()


def test_switches_turn_it_off(extractor, digits, tmp_cache, monkeypatch):
    ex = Counting(extractor)
    cached_features(ex, digits, batch_size=64, cache=False)
    assert not tmp_cache.exists()
    monkeypatch.setenv("GBENCH_NO_CACHE", "1")
    assert cache_dir() is None
    cached_features(ex, digits, batch_size=64)
    assert ex.calls == 2 and not tmp_cache.exists()
    monkeypatch.setenv("GBENCH_NO_CACHE", "0")  # "0" means on
    assert cache_dir() == tmp_cache


def test_default_folder_is_under_the_home_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("GBENCH_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_dir() == tmp_path / ".cache" / "gbench" / "reference"


@pytest.mark.parametrize("damage", ["truncated", "garbage", "other_key", "wrong_shape", "nan", "pickled"])
def test_stale_or_corrupt_file_is_ignored_and_rewritten(extractor, digits, tmp_cache, damage):
    ex = Counting(extractor)
    good, _ = cached_features(ex, digits, batch_size=64)
    (path,) = tmp_cache.glob("*.npz")
    key = path.stem
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:300])
    elif damage == "garbage":
        path.write_bytes(b"not a zip file at all")
    elif damage == "other_key":  # a well-formed file that claims another key (e.g. copied or renamed)
        np.savez(path, key=np.array("0" * 64), features=good.numpy())
    elif damage == "wrong_shape":
        np.savez(path, key=np.array(key), features=good.numpy()[:-1])
    elif damage == "nan":
        bad = good.numpy().copy()
        bad[3, 2] = np.nan
        np.savez(path, key=np.array(key), features=bad)
    elif damage == "pickled":  # object arrays need pickle, which the loader refuses
        np.savez(path, key=np.array([key], dtype=object), features=good.numpy())
    assert load_features(key, len(digits), extractor.feature_dim) is None
    again, was_hit = cached_features(ex, digits, batch_size=64)
    assert not was_hit and ex.calls == 2 and torch.equal(again, good)
    assert load_features(key, len(digits), extractor.feature_dim) is not None  # rewritten, trusted again


def test_lazy_source_is_keyed_on_files_without_decoding_them(tmp_path):
    from gbench.data.folder import read_image, save_image_folder
    from gbench.data.lazy import LazyImages

    decoded = []
    x = torch.randint(0, 256, (5, 1, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    save_image_folder(x, tmp_path / "imgs")
    files = sorted((tmp_path / "imgs").glob("*.png"))
    lazy = LazyImages(files, read_image, (1, 8, 8))
    k = cache_key(fake(), lazy, 128)
    assert k is not None and k == cache_key(fake(), LazyImages(files, read_image, (1, 8, 8)), 128)
    assert k != cache_key(fake(), x, 128)  # a lazy source and a tensor never share a key

    class Spy:  # the same source, counting decodes
        def __init__(self, src):
            self.files, self.image_shape, self.decode, self.src = src.files, src.image_shape, src.decode, src

        def __getitem__(self, i):
            decoded.append(i)
            return self.src[i]

        def __len__(self):
            return len(self.src)

    assert cache_key(fake(), Spy(lazy), 128) == k and decoded == [0]  # only the first image, as a decoder guard
    st = os.stat(files[3])
    os.utime(files[3], ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # touched: may have changed
    assert cache_key(fake(), lazy, 128) != k
    assert cache_key(fake(), lazy.subset([0, 1]), 128) not in (k, None)
    closure = LazyImages(files, lambda p: read_image(p), (1, 8, 8))
    assert cache_key(fake(), closure, 128) is None  # a lambda's behaviour has no stable name: not cached


def test_lazy_reference_hits_the_cache(extractor, tmp_path, tmp_cache):
    from gbench.data import DATASETS
    from gbench.data.folder import read_image, save_image_folder
    from gbench.data.lazy import LazyImages

    save_image_folder(DATASETS.get("digits")("test").images[:40], tmp_path / "imgs")
    lazy = LazyImages(sorted((tmp_path / "imgs").glob("*.png")), read_image, (1, 32, 32))
    ex = Counting(extractor)
    a, hit_a = cached_features(ex, lazy, batch_size=16)  # batches of several lazily decoded images
    b, hit_b = cached_features(ex, lazy, batch_size=16)
    assert (hit_a, hit_b) == (False, True) and ex.calls == 1 and torch.equal(a, b)
    assert torch.equal(a, extractor.features(lazy.materialize(), batch_size=16))


def test_hashing_is_cheaper_than_extraction(extractor):
    """Keying must never cost what it saves. Measured on two shared CPU cores: hashing 1,000
    digit-sized images takes ~0.5 ms, extracting them ~0.5 s; the bound leaves a factor 100 for noise."""
    x = torch.randint(0, 256, (1000, 1, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(3))
    t = time.perf_counter()
    content_digest(x)
    hashing = time.perf_counter() - t
    t = time.perf_counter()
    extractor.features(x, batch_size=128)
    extracting = time.perf_counter() - t
    assert hashing < extracting / 10, (hashing, extracting)
