"""gbench uses zoo's registry type (zoo must not import gbench)."""

from zoo.registry import Registry, UnknownNameError

__all__ = ["Registry", "UnknownNameError"]
