"""Suites: one registry. ``main`` and ``all`` are meta-suites over it."""

from gbench.registry import Registry, UnknownNameError
from gbench.suites.base import PRESETS, PROFILES, RunContext, Suite

SUITES: Registry[Suite] = Registry("suite")

META_SUITES = {
    "main": "the main job: every suite's CPU-sized model selection (its main_models) at the chosen preset",
    "all": "every registered suite, every model, at the chosen preset",
}


def _register_builtin() -> None:
    import importlib

    for module in ("gbench.suites.generation", "gbench.suites.sr", "gbench.suites.disentanglement",
                   "gbench.suites.features", "gbench.suites.corruption", "gbench.suites.truncation",
                   "gbench.suites.ablation", "gbench.suites.conditional",
                   "gbench.suites.likelihood",
                   "gbench.suites.inpainting",
                   "gbench.suites.shapes3d"):  # one line per suite module
        suite = importlib.import_module(module).SUITE
        SUITES.register(suite.name, suite)


def resolve(name: str) -> list[Suite]:
    """Suite name (or meta-suite name) → the suites it runs."""
    if name in META_SUITES:
        return [SUITES.get(n) for n in SUITES.names()]
    if name not in SUITES:
        raise UnknownNameError(SUITES.unknown_message(name, also=tuple(META_SUITES)))
    return [SUITES.get(name)]


_register_builtin()

__all__ = ["META_SUITES", "PRESETS", "PROFILES", "RunContext", "SUITES", "Suite", "resolve"]
