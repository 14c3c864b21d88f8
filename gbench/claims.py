"""Paper claims checked on records: one leaderboard line per claim, with what was measured.

A suite's ``sections`` hook builds its lines with these helpers, so that
every leaderboard states its papers' findings next to the numbers of the
run and says plainly when a finding does NOT hold.
"""

from __future__ import annotations

import statistics


def mean_value(records, model: str, metric: str, variant: str = "") -> float | None:
    """Mean over seeds of one row × metric (× variant; "" = none), or None when it was not measured."""
    values = [r.value for r in records if r.model == model and r.metric == metric and r.status == "ok"
              and r.variant == variant]
    return statistics.fmean(values) if values else None


def rank_correlation(xs, ys) -> float:
    """Spearman ρ of ``ys`` with ``xs`` (:func:`scipy.stats.spearmanr`); NaN when there are fewer
    than two points or ``ys`` is constant, where a rank correlation is undefined."""
    from scipy.stats import spearmanr

    xs, ys = list(xs), list(ys)
    if len(xs) < 2 or len(set(ys)) < 2:
        return float("nan")
    return float(spearmanr(xs, ys).statistic)


def verdict(ok: bool) -> str:
    return "holds" if ok else "does NOT hold"


def section(source: str, lines: list[str]) -> list[str]:
    """The claim lines under a heading naming their source (no lines: no section)."""
    return [f"Claims checked on these records ({source}):", "", *lines, ""] if lines else []


__all__ = ["mean_value", "rank_correlation", "section", "verdict"]
