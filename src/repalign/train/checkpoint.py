"""Checkpoint files: ``DIR/checkpoints/step_XXXXXXXX.pt`` with a ``.json`` summary beside it.

The ``.pt`` file (``torch.save`` of a dict) holds: ``format``, ``step``, ``model_spec`` (rebuilds
the model with :func:`repalign.models.build_model`), ``model_state``, ``optimizer_state``,
``torch_rng_state`` (the global CPU generator), ``config`` (the :class:`TrainConfig` as a dict)
and ``history`` (the learning curve up to this step). The JSON holds ``step``, ``loss``, ``lr``,
``accuracy`` (per task, at this step), ``config``, ``model_spec``, ``elapsed_s`` and ``file``.

Loading never runs code: ``torch.load(..., weights_only=True)`` accepts only tensors and plain
containers/numbers/strings, so a file crafted to execute code when unpickled is refused with a
ValueError. The model spec is stored as a JSON string (``model_spec_json``) and decoded with
``json.loads``; ``history`` and ``config`` are plain dicts and lists.

Both are written atomically (temporary file in the same folder, then ``os.replace``), the
``.pt`` first: a checkpoint counts as complete once its JSON exists.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import torch

from .._serialize import atomic_write

FORMAT = 1
_NAME = re.compile(r"^step_(\d{8})\.json$")


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    text = json.dumps(obj, indent=2, default=_json_default).encode()
    atomic_write(path, text)


def _json_default(o: Any) -> Any:
    if hasattr(o, "tolist"):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def checkpoint_path(out_dir: str | os.PathLike, step: int) -> Path:
    return Path(out_dir) / "checkpoints" / f"step_{step:08d}.pt"


def save_checkpoint(out_dir: str | os.PathLike, state: dict, summary: dict) -> Path:
    """Write ``state`` (see module docstring) to ``step_XXXXXXXX.pt`` and ``summary`` to its JSON."""
    path = checkpoint_path(out_dir, int(state["step"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    state = dict(state)
    state["model_spec_json"] = json.dumps(state.pop("model_spec", None), default=_json_default)
    state = _plain(state)
    atomic_write(path, lambda fh: torch.save({"format": FORMAT, **state}, fh))
    write_json(path.with_suffix(".json"), {**summary, "file": path.name})
    return path


def list_checkpoints(out_dir: str | os.PathLike) -> list[Path]:
    """Complete checkpoints (those whose JSON exists) in ``out_dir``, by step."""
    folder = Path(out_dir) / "checkpoints"
    if not folder.is_dir():
        return []
    found = sorted(p for p in folder.iterdir() if _NAME.match(p.name))
    return [p.with_suffix(".pt") for p in found if p.with_suffix(".pt").exists()]


def _plain(x: Any) -> Any:
    """``x`` with numpy values as Python numbers/lists; refuses anything but plain data and tensors,
    which is all that ``torch.load(weights_only=True)`` reads back."""
    if isinstance(x, torch.Tensor) or x is None or isinstance(x, (bool, int, float, str)):
        return x
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_plain(v) for v in x)
    if hasattr(x, "tolist"):  # numpy scalars and arrays
        return x.tolist()
    raise TypeError(f"checkpoint state holds a {type(x).__name__}, which is not plain data or a tensor")


def load_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict:
    """The state dict saved by :func:`save_checkpoint` (see module docstring for its keys).

    Loaded with ``weights_only=True``: a file holding anything but tensors and plain data (for
    example a pickle crafted to run code) raises ValueError and nothing in it is executed.
    """
    try:
        state = torch.load(Path(path), map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - UnpicklingError, RuntimeError (truncated zip), EOFError ...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"checkpoint {path} cannot be loaded safely (only tensors and plain data are "
                         f"accepted; {first[:300]})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"path {path} is not a repalign training checkpoint (format {FORMAT})")
    if "model_spec_json" in state:
        state["model_spec"] = json.loads(state.pop("model_spec_json"))
    return state


def load_model(path: str | os.PathLike, map_location: Any = "cpu"):
    """Rebuild the model saved in a checkpoint file and load its weights (eval mode)."""
    from repalign.models import build_model

    state = load_checkpoint(path, map_location)
    model = build_model(state["model_spec"])
    model.load_state_dict(state["model_state"])
    return model.eval()
