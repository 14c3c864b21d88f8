"""Perceptual path length: closed forms for linear generators, the percentile filter,
seeding, fixed noise on a StyleGAN smoke model, and the distance factory's fallback."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from gbench.errors import GbenchError
from gbench.metrics.ppl import make_distance, metric_name, path_length, percentile_filter, perceptual_path_length
from gbench.metrics.spec import metric_spec
from zoo.models import MODELS

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


def _sq_l2(a, b):
    return ((a - b) ** 2).flatten(1).sum(1)


def _linear(A):
    """G(z) = A z as a (N, 1, k, 1) 'image'."""
    return lambda z: (z @ A.T)[:, None, :, None]


def _draw(n, d, k, seed=0):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(k, d, generator=g, dtype=torch.float64)
    a, b = torch.randn(2, n, d, generator=g, dtype=torch.float64)
    t = torch.rand(n, generator=g, dtype=torch.float64)
    return A, a, b, t


def test_lerp_in_w_closed_form():
    A, a, b, t = _draw(8, 5, 7)
    got = path_length(_linear(A), _sq_l2, a, b, t, eps=1e-4, space="w")
    expected = ((b - a) @ A.T).pow(2).sum(1).numpy()  # ‖A(b − a)‖², independent of t
    np.testing.assert_allclose(got, expected, rtol=1e-7)


def test_slerp_in_z_matches_the_analytic_derivative():
    A, a, b, t = _draw(8, 5, 7, seed=1)
    got = path_length(_linear(A), _sq_l2, a, b, t, eps=1e-4, space="z")
    # z(t) = √D (â cos tω + ĉ sin tω), ĉ ⟂ â unit, ω = ∠(a, b) → dz/dt = √D ω (−â sin tω + ĉ cos tω)
    ah, bh = a / a.norm(dim=1, keepdim=True), b / b.norm(dim=1, keepdim=True)
    cos = (ah * bh).sum(1, keepdim=True)
    omega = torch.acos(cos)
    c = bh - cos * ah
    c = c / c.norm(dim=1, keepdim=True)
    tw = t[:, None] * omega
    dz = math.sqrt(a.shape[1]) * omega * (-ah * torch.sin(tw) + c * torch.cos(tw))
    expected = (dz @ A.T).pow(2).sum(1).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-3)  # finite difference: O(ε) error
    # the interpolant stays at the Gaussian typical norm √D, and t = 0 / 1 hit the ends' directions
    from gbench.metrics.ppl import slerp
    ends = slerp(a, b, torch.ones(8, dtype=torch.float64))
    np.testing.assert_allclose((ends / math.sqrt(5)).numpy(), bh.numpy(), atol=1e-9)


def test_percentile_filter_drops_outliers():
    # 300 values: the 1st percentile ('lower') is the 3rd smallest, the 99th ('higher') the 3rd largest
    dist = np.concatenate([np.arange(1.0, 299.0), [1e9, -1e9]])
    kept = percentile_filter(dist, (1, 99))
    assert kept.size == 296 and kept.min() == 2.0 and kept.max() == 297.0
    assert percentile_filter(dist, None).size == 300


class _LinearGAN:
    latent_dim = 4

    def __init__(self):
        self.A = torch.randn(6, 4, generator=torch.Generator().manual_seed(3))

    def generate(self, z):
        return (z @ self.A.T)[:, None, :, None]


def test_ppl_of_a_linear_gan_is_seeded_and_filters():
    model = _LinearGAN()
    m1, s1, d1 = perceptual_path_length(model, _sq_l2, 120, "z", seed=5, batch_size=50)
    m2, s2, d2 = perceptual_path_length(model, _sq_l2, 120, "z", seed=5, batch_size=50)
    assert (m1, s1) == (m2, s2) and np.array_equal(d1["distances"], d2["distances"])
    m3, _, _ = perceptual_path_length(model, _sq_l2, 120, "z", seed=6, batch_size=50)
    assert m3 != m1
    assert d1["distances"].shape == (120,) and d1["n_kept"] == 118  # the min and max path dropped
    m_all, _, d_all = perceptual_path_length(model, _sq_l2, 120, "z", seed=5, batch_size=50, percentiles=None)
    assert d_all["n_kept"] == 120 and m_all == pytest.approx(d1["distances"].mean())
    with pytest.raises(GbenchError, match="mapping"):
        perceptual_path_length(model, _sq_l2, 4, "w")


def test_stylegan_smoke_ppl_in_z_and_w_with_fixed_noise():
    spec = MODELS.get("stylegan")
    torch.manual_seed(0)
    model = spec.build(spec.make_config("smoke", (1, 32, 32)))
    for layer in model.generator.synthesis.layers:  # noise on (initialized at 0): fresh noise per end would show
        torch.nn.init.constant_(layer.noise_strength, 1.0)
    for space in ("z", "w"):
        m, s, d = perceptual_path_length(model, _sq_l2, 6, space, seed=0, batch_size=3)
        again, _, _ = perceptual_path_length(model, _sq_l2, 6, space, seed=0, batch_size=3)
        assert np.isfinite(m) and m > 0 and s >= 0 and m == again
        # different noise at the two ends would change pixels by O(1): d / ε² ≫ 1e8
        assert d["distances"].max() < 1e7, d["distances"]


def test_distance_factory_falls_back_to_features():
    class Net(torch.nn.Module):
        def forward_float(self, x):
            return x.flatten(1)[:, :3] + 2.0, None

    ext = SimpleNamespace(net=Net(), name="toy", spec=SimpleNamespace(channels=1))
    dist, name = make_distance(None, ext, "cpu")
    assert name == "features-toy" and dist.name == name
    a = torch.rand(4, 1, 2, 2) * 2 - 1
    b = a.clone()
    b[0, 0, 0, 0] += 0.5
    d = dist(a, b)
    assert d.shape == (4,) and d[0] > 0 and torch.all(d[1:] == 0)
    # float input is used as is, not rounded to uint8: a 1e-4 step is seen
    c = a.clone()
    c[1, 0, 0, 0] += 1e-4
    assert dist(a, c)[1] > 0
    lp = SimpleNamespace(model=lambda x, y: _sq_l2(x, y)[:, None, None, None], net="vgg")
    dist, name = make_distance(lp, ext, "cpu")
    assert name == "lpips-vgg" and dist(a, b).shape == (4,)
    with pytest.raises(GbenchError, match="distance"):
        make_distance(None, None, "cpu")


@pytest.mark.parametrize("space", ["z", "w"])
@pytest.mark.parametrize("sampling", ["full", "end"])
def test_registered(space, sampling):
    spec = metric_spec(metric_name(space, sampling))
    assert spec is not None and spec.consumes == "run" and spec.higher_is_better is False
    assert spec.protocol["ppl_eps"] == 1e-4
    assert (spec.protocol["ppl_space"], spec.protocol["ppl_sampling"]) == (space, sampling)
    with pytest.raises(GbenchError):
        metric_name("x", sampling)
