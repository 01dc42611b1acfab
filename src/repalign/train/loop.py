"""The training loop: Adam, masked loss, L2 on weights and activity, clipping, schedule, checkpoints.

Reproducibility: the batch of update ``s`` is generated from ``np.random.default_rng([seed, 0, s])``
and the network noise from a ``torch.Generator`` seeded from the same key, so a step's randomness
does not depend on what ran before it. Together with the checkpointed model and Adam state this
makes a resumed run end with the same parameters, bit for bit, as an uninterrupted one on the
same machine and thread count. Evaluation batches use other keys (``[seed, 1, task, 0]``), so
they are fresh trials, and are the same at every evaluation.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from . import data
from .checkpoint import list_checkpoints, load_checkpoint, save_checkpoint, write_json
from .config import TrainConfig, checkpoint_steps, lr_at
from .freeze import freeze_except_input, freeze_except_rule_column


@dataclass
class TrainResult:
    """model: the trained model (the one passed in, updated in place). history: the learning curve,
    one dict per evaluation (``step``, ``loss`` (of the last update; None at step 0), ``lr``,
    ``accuracy`` per task, ``elapsed_s``).
    steps_done: updates applied in total (over resumes). stopped_early: stop_accuracy reached.
    checkpoints: checkpoint files in ``out_dir``. trials_per_s: training trials / s of this call."""

    model: nn.Module
    history: list[dict]
    steps_done: int
    stopped_early: bool = False
    checkpoints: list[Path] = field(default_factory=list)
    out_dir: Path | None = None
    elapsed_s: float = 0.0
    trials_per_s: float = float("nan")

    def final_accuracy(self) -> dict[str, float]:
        return dict(self.history[-1]["accuracy"]) if self.history else {}


def resolve_device(device: Any) -> torch.device:
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _step_generators(seed: int, key: list[int], device: torch.device) -> tuple[np.random.Generator, torch.Generator]:
    rng = np.random.default_rng([seed, *key])
    gen = torch.Generator(device=device).manual_seed(int(rng.integers(2**62)))
    return rng, gen


def _task_kw(config: TrainConfig) -> dict:
    extra = {} if config.rule_index is None else {"rule_index": config.rule_index}
    return {**extra, **config.task_kwargs}


def _to_tensor(a: Any, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a), device=device, dtype=dtype)


def task_loss(outputs: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor, kind: str) -> torch.Tensor:
    """``"mse"``: mean over all entries of ``mask * (outputs - targets)^2`` (mask (batch, time) or
    (batch, time, outputs)); ``"ce"``: mask-weighted mean cross-entropy, targets integer labels (batch, time)
    or one-hot ``(batch, time, classes)`` (then the mask may be ``(batch, time, classes)``; its column 0 is used)."""
    if kind == "ce":
        if targets.ndim == 3:
            targets = targets.argmax(dim=-1)
        if mask.ndim == 3:
            mask = mask[..., 0]
        ce = nn.functional.cross_entropy(outputs.transpose(1, 2), targets.long(), reduction="none")
        return (ce * mask).sum() / mask.sum().clamp_min(1e-12)
    if mask.ndim == 2:
        mask = mask.unsqueeze(-1)
    return (mask * (outputs - targets) ** 2).mean()


def _weights_l2(params: list[nn.Parameter]) -> torch.Tensor:
    return sum((p**2).sum() for p in params if p.ndim >= 2)


def evaluate(model: nn.Module, config: TrainConfig, device: Any = "cpu") -> dict[str, float]:
    """Accuracy per task on ``config.eval_batch`` fresh trials each (fixed eval seeds; see module docstring)."""
    device = resolve_device(device)
    dtype = next(model.parameters()).dtype
    acc = {}
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for i, task in enumerate(config.tasks):
            rng, gen = _step_generators(config.seed, [1, i, 0], device)
            batch = data.make_batch([task], config.eval_batch, rng, layout=config.layout,
                                    rule_slots=config.rule_slots, **_task_kw(config))
            out = model(_to_tensor(batch.inputs, device, dtype), return_hidden=False, noise=config.eval_noise,
                        generator=gen).outputs
            acc[task] = data.accuracy(batch, out.cpu().numpy())
    model.train(was_training)
    return acc


class _Run:
    """State of one call to :func:`train` (kept small so each piece is a short method)."""

    def __init__(self, model, config, out_dir, device, progress):
        self.model, self.config, self.device = model, config, device
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.dtype = next(model.parameters()).dtype
        self.history: list[dict] = []
        self.step = 0
        self.loss: float | None = None  # None until the first update (JSON has no NaN)
        self.progress = progress
        self.t0 = time.perf_counter()
        self.elapsed_before = 0.0

    def elapsed(self) -> float:
        return self.elapsed_before + time.perf_counter() - self.t0

    def batch(self, step: int):
        rng, gen = _step_generators(self.config.seed, [0, step], self.device)
        c = self.config
        b = data.make_batch(c.tasks, c.batch_size, rng, layout=c.layout, rule_slots=c.rule_slots, **_task_kw(c))
        return b, gen

    def update(self, optimizer, params) -> None:
        c = self.config
        b, gen = self.batch(self.step)
        out = self.model(_to_tensor(b.inputs, self.device, self.dtype), generator=gen)
        targets = _to_tensor(b.targets, self.device, self.dtype)
        loss = task_loss(out.outputs, targets, _to_tensor(b.mask, self.device, self.dtype), c.loss)
        if c.l2_activity > 0:
            loss = loss + c.l2_activity * (out.hidden**2).mean()
        if c.l2_weight > 0:
            loss = loss + c.l2_weight * _weights_l2(params)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if c.grad_clip is not None:
            nn.utils.clip_grad_norm_(params, c.grad_clip)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(c, self.step)
        optimizer.step()
        self.step += 1
        self.loss = float(loss.detach())

    def record(self) -> dict:
        entry = {"step": self.step, "loss": self.loss, "lr": lr_at(self.config, max(self.step - 1, 0)),
                 "accuracy": evaluate(self.model, self.config, self.device), "elapsed_s": self.elapsed()}
        if not self.history or self.history[-1]["step"] != self.step:
            self.history.append(entry)
        return entry

    def save(self, optimizer, entry: dict) -> None:
        if self.out_dir is None:
            return
        state = {"step": self.step, "model_spec": getattr(self.model, "spec", None),
                 "model_state": self.model.state_dict(), "optimizer_state": optimizer.state_dict(),
                 "torch_rng_state": torch.get_rng_state(), "config": self.config.to_dict(),
                 "history": self.history, "elapsed_s": self.elapsed()}
        summary = {**entry, "config": self.config.to_dict(), "model_spec": getattr(self.model, "spec", None)}
        save_checkpoint(self.out_dir, state, summary)
        write_json(self.out_dir / "curve.json", {"config": self.config.to_dict(), "history": self.history})

    def resume(self, optimizer) -> bool:
        """Load the latest complete checkpoint in out_dir, if any; True if one was loaded."""
        found = list_checkpoints(self.out_dir) if self.out_dir is not None else []
        if not found:
            return False
        state = load_checkpoint(found[-1], map_location=self.device)
        saved_spec, spec = state.get("model_spec"), _spec_of(self.model)
        if saved_spec != spec:
            raise ValueError(f"out_dir {self.out_dir} holds checkpoints of a different model; use a new folder "
                             f"or resume=False (saved model spec: {json.dumps(saved_spec, sort_keys=True)}; "
                             f"given: {json.dumps(spec, sort_keys=True)})")
        if state["config"] != self.config.to_dict():
            raise ValueError(f"out_dir {self.out_dir} holds a run with a different config; use a new folder "
                             f"or resume=False (saved: {state['config']}, given: {self.config.to_dict()})")
        self.model.load_state_dict(state["model_state"])
        optimizer.load_state_dict(state["optimizer_state"])
        torch.set_rng_state(state["torch_rng_state"].cpu())
        self.step, self.history = int(state["step"]), list(state["history"])
        self.elapsed_before = float(state.get("elapsed_s", 0.0))
        self.loss = self.history[-1]["loss"] if self.history else None
        return True


def _spec_of(model: nn.Module) -> Any:
    """The model's spec as it reads back from a checkpoint's JSON (tuples as lists)."""
    return json.loads(json.dumps(getattr(model, "spec", None), default=lambda o: o.tolist()))


def _done(config: TrainConfig, entry: dict) -> bool:
    return config.stop_accuracy is not None and min(entry["accuracy"].values()) >= config.stop_accuracy


@contextlib.contextmanager
def _trainable(model: nn.Module, config: TrainConfig):
    if config.trainable == "rule_column":
        col = config.rule_column
        if col is None:
            col = data.rule_column(config.tasks[0], layout=config.layout, rule_slots=config.rule_slots,
                                   **_task_kw(config))
        with freeze_except_rule_column(model, col) as params:
            yield params
    elif config.trainable == "input":
        with freeze_except_input(model) as params:
            yield params
    else:
        yield [p for p in model.parameters() if p.requires_grad]


@contextlib.contextmanager
def _torch_settings(device: torch.device, num_threads: int | None, deterministic: bool):
    """CPU: thread count (CPU kernels used here are deterministic already; switching torch's
    deterministic mode on costs seconds of imports). CUDA: deterministic algorithms (warn-only)."""
    old_threads, old_det = torch.get_num_threads(), None
    if device.type == "cpu" and num_threads:
        torch.set_num_threads(num_threads)
    if device.type == "cuda" and deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        old_det = torch.are_deterministic_algorithms_enabled()
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.set_num_threads(old_threads)
        if old_det is not None:
            torch.use_deterministic_algorithms(old_det)


def train(model: nn.Module, config: TrainConfig | dict, out_dir: str | os.PathLike | None = None, *,
          resume: bool = True, device: Any = "auto", progress: bool = False, num_threads: int | None = 1,
          deterministic: bool = True, callback: Callable[[int, float], None] | None = None) -> TrainResult:
    """Train ``model`` in place on ``config.tasks`` and return a :class:`TrainResult`.

    out_dir: where checkpoints (``checkpoints/step_*.pt|json``), ``curve.json`` and ``result.json``
    go (None: nothing is written). resume: continue from the latest complete checkpoint in
    out_dir (a finished run returns at once). device: "auto" (CUDA when present), "cpu", "cuda", ...
    progress: tqdm bar. num_threads: torch CPU threads during training (1 is fastest for small
    RNNs and keeps results independent of the machine's core count; None leaves torch's setting).
    deterministic: on CUDA, ``torch.use_deterministic_algorithms`` (warn-only) during training.
    callback(step, loss): called after every update (raise in it to stop a run, e.g. to test resume).
    """
    if isinstance(config, dict):
        config = TrainConfig.from_dict(config)
    device = resolve_device(device)
    model.to(device).train()
    run = _Run(model, config, out_dir, device, progress)
    schedule = set(checkpoint_steps(config.steps, config.checkpoints, config.save_every))
    stopped = False
    with _torch_settings(device, num_threads, deterministic), \
            _trainable(model, config) as params:
        optimizer = torch.optim.Adam(params, lr=config.lr)
        resumed = resume and run.resume(optimizer)
        if resumed and run.history:
            stopped = _done(config, run.history[-1])
        else:
            entry = run.record()
            run.save(optimizer, entry)
            stopped = _done(config, entry)
        start_step, t_start = run.step, time.perf_counter()
        bar = _bar(progress, config.steps, run.step)
        while run.step < config.steps and not stopped:
            run.update(optimizer, params)
            if callback is not None:
                callback(run.step, run.loss)
            at_ckpt = run.step in schedule
            if at_ckpt or run.step % config.eval_every == 0:
                entry = run.record()
                stopped = _done(config, entry)
                if at_ckpt or stopped:
                    run.save(optimizer, entry)
                if bar is not None:
                    bar.set_postfix(loss=f"{run.loss:.4f}", acc=_fmt_acc(entry["accuracy"]))
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        if run.history and run.history[-1]["step"] != run.step:  # eval/save the final state
            run.save(optimizer, run.record())
    wall = time.perf_counter() - t_start
    done_steps = run.step - start_step
    result = TrainResult(model=model, history=run.history, steps_done=run.step, stopped_early=stopped,
                         checkpoints=list_checkpoints(out_dir) if out_dir is not None else [],
                         out_dir=run.out_dir, elapsed_s=run.elapsed(),
                         trials_per_s=done_steps * config.batch_size / wall if done_steps and wall > 0 else float("nan"))
    if out_dir is not None:
        write_json(Path(out_dir) / "result.json", {"steps_done": run.step, "stopped_early": stopped,
                                                   "final": run.history[-1], "elapsed_s": run.elapsed()})
    return result


def _fmt_acc(acc: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.2f}" for k, v in acc.items())


def _bar(progress: bool, total: int, initial: int):
    if not progress:
        return None
    return tqdm(total=total, initial=initial, desc="train", unit="step")


def load_curve(out_dir: str | os.PathLike) -> list[dict]:
    """The learning curve (``history``) saved in ``out_dir/curve.json``."""
    with open(Path(out_dir) / "curve.json") as fh:
        return json.load(fh)["history"]
