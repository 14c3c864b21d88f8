"""How each metric is named and read in tables: label, direction, digits."""

from __future__ import annotations

from dataclasses import dataclass

from gbench.registry import Registry


@dataclass(frozen=True)
class MetricInfo:
    """Display facts about a metric.

    Attributes:
        name: the ``metric`` field of records.
        label: column header.
        higher_is_better: True (↑), False (↓) or None (neither: a size, a time).
        description: one line for `gbench list`.
        decimals: digits after the point in tables (None: 4 significant digits).
    """

    name: str
    label: str
    higher_is_better: bool | None
    description: str
    decimals: int | None = None

    @property
    def header(self) -> str:
        arrow = {True: " ↑", False: " ↓", None: ""}[self.higher_is_better]
        return self.label + arrow


METRICS: Registry[MetricInfo] = Registry("metric")


def register_metrics(*infos: MetricInfo) -> None:
    """Register display facts; a suite calls this for the metrics it adds.

    Two suites may report the same metric (e.g. ``elbo``): registering an
    identical MetricInfo again is a no-op, a conflicting one is an error.
    """
    for info in infos:
        if info.name in METRICS:
            if METRICS.get(info.name) != info:
                raise ValueError(f"metric {info.name!r} is already registered with different display facts")
            continue
        METRICS.register(info.name, info)


register_metrics(
    MetricInfo("fid", "FID", False, "Fréchet distance between feature Gaussians (Heusel et al. 2017)", 2),
    MetricInfo("kid", "KID×10³", False, "unbiased MMD² with a cubic polynomial kernel (Bińkowski et al. 2018), ×1000", 2),
    MetricInfo("is", "IS", True, "Inception Score exp E KL(p(y|x) ‖ p(y)) (Salimans et al. 2016)", 2),
    MetricInfo("precision", "Precision", True, "fraction of samples inside the real k-NN manifold (Kynkäänniemi et al. 2019)", 3),
    MetricInfo("recall", "Recall", True, "fraction of real images inside the sample k-NN manifold (Kynkäänniemi et al. 2019)", 3),
    MetricInfo("density", "Density", True, "k-NN density of samples in real balls (Naeem et al. 2020)", 3),
    MetricInfo("coverage", "Coverage", True, "fraction of real balls containing a sample (Naeem et al. 2020)", 3),
)
