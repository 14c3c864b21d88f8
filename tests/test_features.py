"""Extractor registry and interface, and `inception-v3-fid` with random weights.

Real ImageNet weights are not available offline, so the Inception network is
built with random weights; parity with pytorch-fid is checked by loading the
same random state dict into pytorch-fid's own `InceptionV3`. Inception runs at
299×299 (~0.1-0.3 s per image on 2 CPU cores), so these tests use 3 images.
"""

import hashlib
import subprocess
import sys

import pytest
import torch

import gbench.features.inception as inc
from gbench.errors import GbenchError
from gbench.features import EXTRACTORS, Extractor
from gbench.features import weights as W
from gbench.registry import UnknownNameError


pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


@pytest.fixture(scope="module")
def inception():
    """A seeded random-weights FID Inception, its state dict, 3 test images and their outputs."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = inc.FIDInception()
        # With default init and identity BN statistics, activations shrink
        # layer by layer until every image gets the same pool3. Set the BN
        # running statistics from one batch (as training would) so that the
        # random network keeps images apart, like real weights.
        bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        for m in bns:
            m.reset_running_stats()
            m.momentum = None  # cumulative average: exactly this batch's statistics
        with torch.no_grad():
            net.net.train()(torch.rand(4, 3, 128, 128) * 2 - 1)  # 128²: cheaper than 299², same statistics scale
        net.eval()
        g = torch.Generator().manual_seed(1)
        rgb = torch.randint(0, 256, (2, 3, 64, 64), dtype=torch.uint8, generator=g)
        gray = torch.randint(0, 256, (1, 1, 64, 64), dtype=torch.uint8, generator=g)
    images = torch.cat([rgb, gray.expand(-1, 3, -1, -1)])
    ex = Extractor(inc.SPEC, net, weights_sha256=None, verified=False)
    out = ex.extract(images, batch_size=3)
    state = {k: v.clone() for k, v in net.net.state_dict().items()}
    return {"net": net, "state": state, "ex": ex, "images": images, "gray": gray, "out": out}


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a − b| / max |b|."""
    return float((a.double() - b.double()).abs().max() / b.double().abs().max())


# --------------------------------------------------------------------------- registry


def test_registry_names_and_specs():
    assert {"inception-v3-fid", "digits-evaluator"} <= set(EXTRACTORS.names())
    spec = EXTRACTORS.get("inception-v3-fid")
    assert (spec.feature_dim, spec.num_logits, spec.channels, spec.image_size) == (2048, 1008, 3, None)
    assert spec.weights_sha256 == "6726825d"  # the hub-convention prefix in the file name
    assert spec.weights().filename.endswith(spec.weights_sha256 + ".pth")
    with pytest.raises(UnknownNameError, match="inception-v3-fid"):
        EXTRACTORS.get("inception-v3-fd")


def test_import_loads_no_network_code_or_weights(tmp_path):
    # A fresh interpreter with an empty hub dir: importing and listing must not
    # import pytorch-fid / torchvision models or create any weights file.
    code = (
        "import sys, torch; torch.hub.set_dir(sys.argv[1]);"
        "from gbench.features import EXTRACTORS;"
        "[EXTRACTORS.get(n).availability() for n in EXTRACTORS];"
        "assert 'pytorch_fid' not in sys.modules, 'pytorch_fid imported';"
        "assert 'torchvision.models' not in sys.modules, 'torchvision.models imported'"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True)
    assert list(tmp_path.iterdir()) == []


def test_availability_inception(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.delenv(W.ENV_VAR, raising=False)
    monkeypatch.setattr(W, "_HASH_CACHE", {})
    ok, reason = inc.SPEC.availability()
    assert not ok and inc.FILENAME in reason and "--download" in reason
    fake = b"stand-in for the Inception weights"
    (tmp_path / inc.FILENAME).write_bytes(fake)
    monkeypatch.setenv(W.ENV_VAR, str(tmp_path))
    ok, reason = inc.SPEC.availability()
    assert not ok and "sha256" in reason  # present but not the genuine file
    monkeypatch.setitem(W.KNOWN_WEIGHTS, inc.FILENAME,
                        W.KnownWeights(hashlib.sha256(fake).hexdigest(), W.KNOWN_WEIGHTS[inc.FILENAME].url))
    assert inc.SPEC.availability() == (True, "")


# --------------------------------------------------------------------------- inception


def test_inception_shapes_and_dtypes(inception):
    out = inception["out"]
    assert out["features"].shape == (3, 2048) and out["logits"].shape == (3, 1008)
    assert out["features"].dtype == out["logits"].dtype == torch.float32
    assert torch.isfinite(out["features"]).all() and torch.isfinite(out["logits"]).all()
    assert (out["features"] >= 0).all()  # pool3 averages ReLU outputs
    # The images are told apart far beyond the 1e-5 tolerances used below
    # (otherwise those comparisons would prove little).
    f = out["features"]
    assert torch.pdist(f).min() > 1e-2 * f.norm(dim=1).max()


def test_inception_matches_pytorch_fid(inception, monkeypatch):
    """pool3 equals pytorch-fid's InceptionV3 on the same weights; logits are fc without bias."""
    import pytorch_fid.inception as pf

    # pytorch-fid's fid_inception_v3 downloads its weights unconditionally;
    # hand it our random state dict instead.
    monkeypatch.setattr(pf, "load_state_dict_from_url", lambda *a, **k: inception["state"])
    ref_net = pf.InceptionV3([pf.InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).eval()
    with torch.no_grad():
        # pytorch-fid feeds images as ToTensor() does: uint8 / 255 in [0, 1].
        ref = ref_net(inception["images"].float() / 255)[0].flatten(1)
        out = inception["out"]
        # Same modules, same ops, same order: equal up to float32 rounding.
        assert rel_err(out["features"], ref) < 1e-5
        fc = inception["net"].net.fc
        assert rel_err(out["logits"] + fc.bias, fc(ref)) < 1e-5


def test_inception_batch_size_independent(inception):
    a = inception["ex"].extract(inception["images"], batch_size=2)  # batches of 2 and 1
    # float32: kernels may differ per batch size; 1e-5 relative (see Extractor.extract).
    for k, b in inception["out"].items():
        assert rel_err(a[k], b) < 1e-5


def test_grayscale_is_repeated_to_rgb(inception):
    f = inception["ex"].features(inception["gray"])  # (1, 1, H, W) input
    assert rel_err(f, inception["out"]["features"][2:]) < 1e-5  # batch of 1 vs 3: see above


def test_spec_load_from_file_verified_and_unverified(inception, tmp_path, monkeypatch):
    path = tmp_path / inc.FILENAME
    torch.save(inception["state"], path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    monkeypatch.setattr(W, "_HASH_CACHE", {})
    # The genuine prefix "6726825d" does not match random weights: refused...
    with pytest.raises(GbenchError, match="--allow-unverified"):
        inc.SPEC.load(weights_path=path)
    # ...accepted when allowed, loaded as they are, and flagged.
    ex = inc.SPEC.load(weights_path=path, allow_unverified=True)
    assert (ex.verified, ex.weights_sha256) == (False, digest)
    assert ex.verified is False
    loaded = ex.net.net.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in inception["state"].items())
    # With the file's digest in the known table it verifies (the directory holding it is searched).
    monkeypatch.setitem(W.KNOWN_WEIGHTS, inc.FILENAME, W.KnownWeights(digest, None))
    assert inc.SPEC.resolve(weights_path=tmp_path) == (path, True)


def test_spec_load_wrong_state_dict_is_a_clear_error(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"fc.weight": torch.zeros(3, 3)}, path)
    with pytest.raises(GbenchError, match="does not fit inception-v3-fid"):
        inc.SPEC.load(weights_path=path, allow_unverified=True)


# --------------------------------------------------------------------------- interface checks


def test_bad_inputs_are_refused(inception):
    ex, images = inception["ex"], inception["images"]
    with pytest.raises(GbenchError, match="uint8"):
        ex.extract(images.float())
    with pytest.raises(GbenchError, match="unknown extractor output"):
        ex.extract(images, want=("pool3",))
    with pytest.raises(GbenchError, match="batch_size"):
        ex.extract(images, batch_size=0)
    with pytest.raises(GbenchError, match="channels"):
        ex.extract(images[:, :2])


def test_cuda_only_options_refused_on_cpu(inception):
    with pytest.raises(GbenchError, match="CUDA-only"):
        Extractor(inc.SPEC, inception["net"], weights_sha256=None, verified=False, channels_last=True)


# --------------------------------------------------------------------------- LPIPS backbone


def test_lpips_backbone_missing_is_unavailable(tmp_path, monkeypatch):
    from gbench.features.lpips_net import load_lpips, lpips_availability

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.delenv(W.ENV_VAR, raising=False)
    with pytest.raises(GbenchError, match=r"LPIPS \(alex\) unavailable: weights file alexnet-owt-7be5be79.pth not found"):
        load_lpips("alex")
    ok, reason = lpips_availability("vgg")
    assert not ok and "vgg16-397923af.pth" in reason
    with pytest.raises(GbenchError, match="unknown LPIPS network"):
        load_lpips("squeeze")


def test_lpips_backbone_loaded_from_resolved_file(tmp_path):
    import lpips
    import torchvision

    from gbench.features.lpips_net import load_lpips

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        features = torchvision.models.alexnet(weights=None).features
    state = {f"features.{k}": v for k, v in features.state_dict().items()}
    path = tmp_path / "alexnet-owt-7be5be79.pth"
    torch.save(state, path)
    with pytest.raises(GbenchError, match="sha256"):  # random weights: not the genuine file
        load_lpips("alex", weights_path=tmp_path)
    calls = []
    original_load = torch.load

    def recording_load(*args, **kwargs):  # every file is read without unpickling code (issue 17, item 6)
        calls.append(kwargs.get("weights_only"))
        return original_load(*args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(torch, "load", recording_load)
        loaded = load_lpips("alex", weights_path=tmp_path, allow_unverified=True)
    assert len(calls) >= 2 and all(w is True for w in calls), calls
    assert not loaded.verified and loaded.weights_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    sd = loaded.model.state_dict()
    assert torch.equal(sd["net.slice2.3.weight"], state["features.3.weight"])
    assert torch.equal(sd["net.slice5.10.bias"], state["features.10.bias"])
    # The calibration layers are lpips's own shipped v0.1 weights.
    lin = torch.load(lpips.__file__.replace("__init__.py", "weights/v0.1/alex.pth"), map_location="cpu", weights_only=True)
    assert torch.equal(sd["lin0.model.1.weight"], lin["lin0.model.1.weight"])
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        d_same, d_other = loaded.model(x, x), loaded.model(x, x.flip(0))
    assert d_same.shape == (2, 1, 1, 1) and torch.all(d_same == 0) and torch.all(d_other > 0)
    # A file without every backbone tensor is refused by name.
    del state["features.8.bias"]
    torch.save(state, path)
    with pytest.raises(GbenchError, match=r"lack features\.8\.bias"):
        load_lpips("alex", weights_path=path, allow_unverified=True)
