"""Run a training job described by a YAML/dict configuration (used by ``repalign train``):
:func:`train_from_config` (``run_config`` is its old name; :func:`repalign.engine.config.run_config`
is the sweep engine's, a different thing).

Keys: ``model`` (a model spec: ``type`` plus keyword arguments; ``n_input``/``n_output`` are
taken from the tasks, a leaky RNN's ``dt`` from ``task_kwargs.dt`` (default 20 ms) and ``seed``
from the run's seed unless given), ``device`` (default "auto"), every :class:`TrainConfig` field
(``tasks``, ``steps``, ``batch_size``, ``lr``, ``seed``, ``checkpoints``, ...), and optionally
``stage2``: a mapping of :class:`TrainConfig` fields overriding stage 1's for the
expand-and-freeze stage (``tasks`` at least; ``trainable`` is set to ``"rule_column"``).

Without ``stage2`` the run is written to OUT; with it, to ``OUT/stage1`` and ``OUT/stage2``.
Either way ``OUT/learning_curve.png`` shows accuracy per task and loss against step.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from ..models import build_model
from .config import TrainConfig
from .curriculum import train_two_stage
from .data import io_sizes
from .loop import train
from .plot import plot_learning_curves

_RUN_KEYS = {"model", "device", "stage2"}


def _load_yaml(path: str | os.PathLike) -> dict:
    if os.path.isdir(path) or not os.path.exists(path):
        raise ValueError(f"config file {path} {'is a directory' if os.path.isdir(path) else 'not found'}")
    with open(path) as fh:
        try:
            cfg = yaml.safe_load(fh)
        except yaml.YAMLError as exc:
            raise ValueError(f"config file {path} is not valid YAML ({' '.join(str(exc).split())})") from None
    if not isinstance(cfg, dict):
        raise ValueError(f"config file {path} must hold a YAML mapping; got {type(cfg).__name__}")
    return cfg


def build_configs(cfg: dict) -> tuple[dict, TrainConfig, TrainConfig | None]:
    """``(model_spec, stage1, stage2 or None)`` from a configuration mapping."""
    stage1_fields = {k: v for k, v in cfg.items() if k not in _RUN_KEYS}
    stage1 = TrainConfig.from_dict(stage1_fields)
    stage2 = None
    if cfg.get("stage2") is not None:
        if not isinstance(cfg["stage2"], dict) or "tasks" not in cfg["stage2"]:
            raise ValueError("stage2 must be a mapping with at least 'tasks' (the new task)")
        stage2 = TrainConfig.from_dict({**stage1_fields, **cfg["stage2"], "trainable": "rule_column"})
    spec = dict(cfg.get("model") or {"type": "leaky_rnn"})
    spec.setdefault("type", "leaky_rnn")
    spec.setdefault("n_hidden", 64)
    task_kw = {**({"rule_index": stage1.rule_index} if stage1.rule_index else {}), **stage1.task_kwargs}
    n_in, n_out = io_sizes(stage1.tasks, layout=stage1.layout, rule_slots=stage1.rule_slots, **task_kw)
    spec.setdefault("n_input", n_in)
    spec.setdefault("n_output", n_out)
    if spec["type"] == "leaky_rnn":
        spec.setdefault("dt", float(stage1.task_kwargs.get("dt", 20.0)))
    spec.setdefault("seed", stage1.seed)
    return spec, stage1, stage2


def train_from_config(config: str | os.PathLike | dict, out_dir: str | os.PathLike, *, progress: bool = True,
                      resume: bool = True, figure: bool = True) -> dict[str, Any]:
    """Train as ``config`` says into ``out_dir``; returns ``{"stage1": TrainResult, "stage2": ..., "figure": path}``."""
    cfg = _load_yaml(config) if not isinstance(config, dict) else dict(config)
    spec, stage1, stage2 = build_configs(cfg)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = build_model(spec)
    kw = dict(resume=resume, device=cfg.get("device", "auto"), progress=progress)
    if stage2 is None:
        results = {"stage1": train(model, stage1, out, **kw)}
    else:
        r1, r2 = train_two_stage(model, stage1, stage2, out, **kw)
        results = {"stage1": r1, "stage2": r2}
    if figure:
        curves = [r.history for r in results.values()]
        results["figure"] = plot_learning_curves(curves, out / "learning_curve.png", labels=list(results))
    return results


run_config = train_from_config  # the old name (``repalign train`` and older scripts call it)
