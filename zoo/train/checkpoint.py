"""Checkpoints as one safetensors file: tensors in the body, everything else
as JSON in its metadata. No pickle anywhere, so loading a checkpoint cannot
run code. Written atomically (temporary file + ``os.replace``): a killed run
leaves either the previous checkpoint or the new one, never half of one.

A nested state (dicts, lists, tuples, tensors, numbers, strings, None — what
``nn.Module.state_dict()``, ``Optimizer.state_dict()`` and RNG states are made
of) is packed into JSON where every tensor is replaced by the name it is
stored under, e.g. ``model.net.0.weight`` or ``optim.d.state.0.exp_avg``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

FORMAT = "zoo-checkpoint-1"



class CheckpointMismatch(ValueError):
    """A checkpoint in the run directory that this run cannot resume: written by another
    config, seed or dataset, or with more steps than the config asks for."""


def _join(name: str, key: Any) -> str:
    return f"{name}.{key}" if name else str(key)


def _pack(obj: Any, name: str, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, torch.Tensor):
        if name in tensors:
            raise ValueError(f"two tensors would be stored under {name!r}")
        tensors[name] = obj.detach().to("cpu", copy=True).contiguous()
        return {"tensor": name}
    if isinstance(obj, dict):
        return {"dict": [[k, _pack(v, _join(name, k), tensors)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        kind = "list" if isinstance(obj, list) else "tuple"
        return {kind: [_pack(v, _join(name, i), tensors) for i, v in enumerate(obj)]}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot store {type(obj).__name__} at {name!r} in a checkpoint")


def _unpack(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if not isinstance(obj, dict):
        return obj
    (kind, value), = obj.items()
    if kind == "tensor":
        return tensors[value]
    if kind == "dict":
        return {k: _unpack(v, tensors) for k, v in value}
    items = [_unpack(v, tensors) for v in value]
    return items if kind == "list" else tuple(items)


def save_state(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` (safetensors) atomically."""
    path = Path(path)
    tensors: dict[str, torch.Tensor] = {}
    meta = {"format": FORMAT, "state": json.dumps(_pack(state, "", tensors))}
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, path)


def load_state(path: Path) -> dict[str, Any]:
    """Read a state written by :func:`save_state` (tensors on CPU).

    Raises:
        CheckpointMismatch: ``path`` is a folder, empty, truncated, corrupt or not a zoo
            checkpoint (another program's safetensors file) — named, with how to start over.
    """
    from safetensors import SafetensorError

    path = Path(path)
    fix = "delete it to start the run over (a run resumes only from a checkpoint the zoo trainer wrote)"
    if not path.is_file():
        raise CheckpointMismatch(f"{path} is not a file: {fix}")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
            if meta.get("format") != FORMAT:
                raise CheckpointMismatch(f"{path} is not a zoo checkpoint (format {meta.get('format')!r}, "
                                         f"expected {FORMAT!r}): {fix}")
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        state = _unpack(json.loads(meta["state"]), tensors)
    except CheckpointMismatch:
        raise
    except (SafetensorError, OSError, ValueError, KeyError, TypeError) as e:  # JSON errors are ValueErrors
        raise CheckpointMismatch(f"{path} is corrupt or truncated ({type(e).__name__}): {fix}") from None
    return state
