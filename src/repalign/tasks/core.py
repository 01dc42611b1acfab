"""Batch container, input/output coding and loss mask for the Yang et al. (2019) tasks (their
accuracy: :mod:`repalign.tasks.scoring`).

Array layout (used everywhere in :mod:`repalign.tasks`): **batch-first**,
``(batch, time, features)``, matching PyTorch recurrent models built with
``batch_first=True``. The reference code (gyyang/multitask) is time-major; transpose with
``x.transpose(1, 0, 2)`` if a time-major model is used.

Time is discretised in steps of ``dt`` milliseconds (default 20 ms); every duration below is
``floor(ms / dt)`` steps, as ``int(ms / dt)`` in the reference code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

EPOCHS = ("fix1", "stim1", "delay1", "stim2", "delay2", "go1")
LAYOUTS = ("ring", "compact")

BASELINE = 0.05  # output target away from the bump / after the go cue (fixation unit)
BUMP_AMP = 0.8  # peak of the von Mises-like bump added on top of the baseline
BUMP_WIDTH = np.pi / 8  # Gaussian width (radians) of the bump in circular distance
PRE_WEIGHT = 1.0  # loss weight before the go cue (after the first 100 ms)
POST_WEIGHT = 5.0  # loss weight in the response period (after the grace period)
FIX_FACTOR = 2.0  # the fixation output's weights are multiplied by this
GRACE_MS = 100.0  # no loss for this long after the go cue
IGNORE_START_MS = 100.0  # no loss in the first 100 ms of a trial
TOLERANCE = 0.2 * np.pi  # accuracy: largest accepted angular error (radians)


@dataclass
class TrialSpec:
    """Per-trial parameters of a batch, before rendering to arrays (internal).

    All arrays have the batch as first axis; times are integer steps; -1 marks "absent".
    ``stim_off`` equal to ``length`` means "on until the end of the trial".
    """

    task: np.ndarray  # (B,) str
    length: np.ndarray  # (B,) int, trial length in steps
    fix_in_off: np.ndarray  # (B,) int, fixation input is 1 for t < fix_in_off
    stim_on: np.ndarray  # (B, 2) int, onset of stimulus 1 and 2
    stim_off: np.ndarray  # (B, 2) int, offset (exclusive)
    stim_dir: np.ndarray  # (B, 2) float, radians in [0, 2 pi), nan if absent
    strength: np.ndarray  # (B, 2, 2) float, [stimulus, modality]
    go_on: np.ndarray  # (B,) int, go cue: fixation target drops here on go trials
    target_dir: np.ndarray  # (B,) float, response direction, nan for no-go trials
    epochs: dict = field(default_factory=dict)  # name -> ((B,), (B,)) int

    @property
    def size(self) -> int:
        return int(self.length.shape[0])


def concat_specs(specs: list[TrialSpec], order: np.ndarray | None = None) -> TrialSpec:
    """Concatenate specs along the batch; ``order`` (a permutation) then reorders the trials."""
    take = (lambda a: a) if order is None else (lambda a: a[order])
    cat = lambda name: take(np.concatenate([getattr(s, name) for s in specs]))  # noqa: E731
    epochs = {
        k: (take(np.concatenate([s.epochs[k][0] for s in specs])),
            take(np.concatenate([s.epochs[k][1] for s in specs])))
        for k in EPOCHS
    }
    names = ("task", "length", "fix_in_off", "stim_on", "stim_off", "stim_dir", "strength",
             "go_on", "target_dir")
    return TrialSpec(**{n: cat(n) for n in names}, epochs=epochs)


@dataclass
class Batch:
    """One batch of trials, arrays batch-first ``(batch, time, features)``.

    Attributes
    ----------
    inputs : float32 (batch, time, n_in)
        ``layout="ring"``: column 0 fixation input (1 until the fixation cue goes off),
        columns ``1 : 1+n_eachring`` modality-1 ring, ``1+n_eachring : 1+2 n_eachring``
        modality-2 ring (each stimulus a bump ``0.8 exp(-d^2 / 2 (pi/8)^2) * strength``, d the
        circular distance to each unit's preferred direction ``2 pi i / n_eachring``), then
        ``n_rule`` one-hot rule columns. ``layout="compact"``: column 0 fixation, columns 1-2
        stimulus 1 as ``(cos, sin) * strength``, columns 3-4 stimulus 2, then the rule columns
        (strength summed over modalities). Steps past a trial's ``length`` are zero.
    targets : float32 (batch, time, n_out)
        Column 0 fixation output target (``fix_target`` before the go cue, 0.05 after; no-go
        trials keep ``fix_target`` throughout). Ring layout: columns 1.. are
        ``0.05 + 0.8 * bump(target_dir)`` from the go cue on, 0.05 before. Compact layout:
        columns 1-2 are ``(cos, sin)(target_dir)`` from the go cue on, 0 before.
    mask : float32 (batch, time, n_out)
        Loss weights: 0 in the first 100 ms, 1 until the go cue, 0 in the 100 ms grace period
        after it, 5 afterwards, 0 past ``length``; the fixation column (0) is doubled (2 / 10).
    epochs : dict[str, tuple[ndarray, ndarray]]
        Epoch name (``fix1, stim1, delay1, stim2, delay2, go1``) -> ``(start, end)`` int
        arrays (batch,), in steps, end exclusive; ``-1`` for both where a trial lacks the epoch.
    stim_dirs : float64 (batch, 2)
        Directions of stimulus 1 and 2 (radians, [0, 2 pi)); nan where absent.
    stim_strengths : float64 (batch, 2, 2)
        Strength of stimulus k in modality m at ``[:, k, m]``; 0 where not shown.
    target_dir : float64 (batch,)
        Correct response direction (radians); nan for no-go trials (keep fixating).
    rule : int (batch,)
        Rule column of each trial, counted from the first rule column.
    task : str array (batch,)
        Task name of each trial.
    lengths : int (batch,)
        Valid steps per trial; a mixture is padded to the longest with mask 0.
    choice, evidence, coherence : (batch,) or None
        Perceptual-decision tasks only (``layout="pdm"``, :mod:`repalign.tasks.pdm`): the
        correct choice (0/1), the side of the stronger stimulus and the coherence (percent).
    """

    inputs: np.ndarray
    targets: np.ndarray
    mask: np.ndarray
    epochs: dict
    stim_dirs: np.ndarray
    stim_strengths: np.ndarray
    target_dir: np.ndarray
    rule: np.ndarray
    task: np.ndarray
    lengths: np.ndarray
    layout: str = "ring"
    dt: float = 20.0
    n_eachring: int = 32
    rule_index: Mapping[str, int] = field(default_factory=dict)
    rule_start: int = 65
    fix_target: float = 0.85
    mode: str = "random"
    choice: np.ndarray | None = None
    evidence: np.ndarray | None = None
    coherence: np.ndarray | None = None

    @property
    def batch_size(self) -> int:
        return int(self.inputs.shape[0])

    @property
    def n_time(self) -> int:
        return int(self.inputs.shape[1])

    @property
    def n_in(self) -> int:
        return int(self.inputs.shape[2])

    @property
    def n_out(self) -> int:
        return int(self.targets.shape[2])

    @property
    def n_rule(self) -> int:
        return self.n_in - self.rule_start

    @property
    def is_go(self) -> np.ndarray:
        """(batch,) bool: True where the trial requires a response (not a no-go trial)."""
        return ~np.isnan(self.target_dir)

    def to_torch(self, device: Any = None) -> dict:
        """``inputs``, ``targets``, ``mask`` as float32 torch tensors (batch-first)."""
        import torch

        return {k: torch.as_tensor(getattr(self, k), device=device)
                for k in ("inputs", "targets", "mask")}


def steps(ms, dt: float) -> np.ndarray:
    """Milliseconds -> integer steps, ``floor(ms / dt)`` (the reference's ``int(ms / dt)``)."""
    return np.floor(np.asarray(ms, dtype=np.float64) / dt + 1e-9).astype(np.int64)


def circ_dist(a, b) -> np.ndarray:
    """Circular distance in [0, pi] between angles (radians), elementwise."""
    d = np.abs(np.mod(np.asarray(a) - np.asarray(b), 2 * np.pi))
    return np.minimum(d, 2 * np.pi - d)


def ring_bump(directions: np.ndarray, n_eachring: int) -> np.ndarray:
    """(n,) directions -> (n, n_eachring) bumps ``0.8 exp(-(d / (pi/8))^2 / 2)``; nan -> 0."""
    pref = 2 * np.pi * np.arange(n_eachring) / n_eachring
    d = circ_dist(np.nan_to_num(directions)[:, None], pref[None, :]) / BUMP_WIDTH
    out = BUMP_AMP * np.exp(-0.5 * d**2)
    out[np.isnan(directions)] = 0.0
    return out


def popvec(y: np.ndarray) -> np.ndarray:
    """Population-vector readout of ring activity (..., n) -> angle in [0, 2 pi).

    Unit i prefers ``2 pi i / n``; the angle of ``sum_i y_i (cos, sin)(pref_i) / sum_i y_i``
    as in the reference (a negative total activity flips the vector; zero total gives nan).
    """
    n = y.shape[-1]
    pref = 2 * np.pi * np.arange(n) / n
    with np.errstate(divide="ignore", invalid="ignore"):
        total = y.sum(axis=-1)
        angle = np.arctan2((y @ np.sin(pref)) / total, (y @ np.cos(pref)) / total)
    return np.mod(angle, 2 * np.pi)


def _signal_state(spec: TrialSpec, T: int) -> np.ndarray:
    """(B, T) int in 0..15: bit 0 fixation input on, bits 1-2 stimulus 1 / 2 on, bit 3 rule on."""
    t = np.arange(T)[None, :]
    state = (t < spec.fix_in_off[:, None]).astype(np.int64)
    for k in range(2):
        on, off = spec.stim_on[:, k:k + 1], spec.stim_off[:, k:k + 1]
        state += ((t >= on) & (t < off) & (on >= 0)) << (1 + k)
    state += (t < spec.length[:, None]) << 3
    return state


def _render_inputs(spec, layout, n_eachring, rule_cols, n_rule, T):
    """Each of the four signals (fixation, stimulus 1, stimulus 2, rule) is a fixed pattern over
    input units switched on and off in time. Per trial, the input at a step is therefore one of
    the (few) on/off combinations present in the batch: build those rows once per trial, then
    gather them into the (B, T, n_in) array in a single pass (no BLAS, no big temporaries)."""
    B = spec.size
    n_stim = 2 * n_eachring if layout == "ring" else 4
    codes = np.zeros((B, 4, 1 + n_stim + n_rule))
    codes[:, 0, 0] = 1.0
    dirs = spec.stim_dir
    if layout == "ring":
        bumps = np.stack([ring_bump(dirs[:, k], n_eachring) for k in range(2)], axis=1)
        # (B, stim, modality * ring unit): each stimulus's bump in each modality's ring
        codes[:, 1:3, 1:1 + n_stim] = (bumps[:, :, None, :]
                                       * spec.strength[:, :, :, None]).reshape(B, 2, n_stim)
    else:
        amp = spec.strength.sum(axis=2)
        for k in range(2):
            codes[:, 1 + k, 1 + 2 * k] = np.nan_to_num(np.cos(dirs[:, k]) * amp[:, k])
            codes[:, 1 + k, 2 + 2 * k] = np.nan_to_num(np.sin(dirs[:, k]) * amp[:, k])
    codes[np.arange(B), 3, 1 + n_stim + rule_cols] = 1.0
    state = _signal_state(spec, T)
    present = np.flatnonzero(np.bincount(state.ravel(), minlength=16))
    bits = (present[:, None] >> np.arange(4)) & 1  # (n_present, 4)
    table = np.einsum("pk,bkc->bpc", bits.astype(float), codes).astype(np.float32)
    rank = np.zeros(16, dtype=np.int64)
    rank[present] = np.arange(present.size)
    rows = rank[state] + present.size * np.arange(B)[:, None]
    x = np.empty((B, T, codes.shape[2]), dtype=np.float32)
    return np.take(table.reshape(-1, codes.shape[2]), rows, axis=0, out=x)


def _render_targets(spec, layout, n_eachring, fix_target, T):
    go = ~np.isnan(spec.target_dir)
    respond = (np.arange(T)[None, :] >= spec.go_on[:, None]) & go[:, None]
    if layout == "ring":
        before = np.full((spec.size, 1 + n_eachring), BASELINE)
        after = before.copy()
        after[:, 1:] += ring_bump(spec.target_dir, n_eachring)
    else:
        before = np.zeros((spec.size, 3))
        after = np.zeros((spec.size, 3))
        after[:, 1] = np.nan_to_num(np.cos(spec.target_dir))
        after[:, 2] = np.nan_to_num(np.sin(spec.target_dir))
    before[:, 0], after[:, 0] = fix_target, BASELINE
    # per trial the target is one of two rows: before or after the go cue
    return np.where(respond[:, :, None], after.astype(np.float32)[:, None, :],
                    before.astype(np.float32)[:, None, :])


def _render_mask(spec, dt, n_out, T):
    t = np.arange(T)[None, :]
    go_on = spec.go_on[:, None]
    check_on = go_on + int(steps(GRACE_MS, dt))
    pre = (t >= int(steps(IGNORE_START_MS, dt))) & (t < go_on)
    post = (t >= check_on) & (t < spec.length[:, None])
    w = (PRE_WEIGHT * pre + POST_WEIGHT * post).astype(np.float32)
    factor = np.ones(n_out, dtype=np.float32)
    factor[0] = FIX_FACTOR
    return w[:, :, None] * factor


def render(spec: TrialSpec, *, layout: str, n_eachring: int, rule_cols: np.ndarray,
           n_rule: int, rule_index: Mapping[str, int], dt: float, fix_target: float,
           noise_std: float, rng: np.random.Generator, mode: str) -> Batch:
    """Render a :class:`TrialSpec` into a :class:`Batch` (all trials at once)."""
    T = int(spec.length.max())
    x = _render_inputs(spec, layout, n_eachring, rule_cols, n_rule, T)
    if noise_std > 0:
        valid = (np.arange(T)[None, :] < spec.length[:, None])[:, :, None]
        x += rng.standard_normal(x.shape, dtype=np.float32) * np.float32(noise_std) * valid
    y = _render_targets(spec, layout, n_eachring, fix_target, T)
    m = _render_mask(spec, dt, y.shape[2], T)
    n_stim = 2 * n_eachring if layout == "ring" else 4
    return Batch(
        inputs=x, targets=y, mask=m, epochs=spec.epochs, stim_dirs=spec.stim_dir,
        stim_strengths=spec.strength, target_dir=spec.target_dir, rule=rule_cols,
        task=spec.task, lengths=spec.length, layout=layout, dt=float(dt),
        n_eachring=n_eachring, rule_index=dict(rule_index), rule_start=1 + n_stim,
        fix_target=float(fix_target), mode=mode,
    )


def _as_outputs(batch: Batch, outputs: Any) -> np.ndarray:
    if hasattr(outputs, "detach"):  # torch tensor
        outputs = outputs.detach().cpu().numpy()
    out = np.asarray(outputs, dtype=np.float64)
    want = (batch.batch_size, batch.n_time, batch.n_out)
    if out.shape != want:
        raise ValueError(f"outputs must have shape (batch, time, n_out) = {want}; got {out.shape}")
    if not np.all(np.isfinite(out)):
        raise ValueError("outputs contain NaN or inf")
    return out


def decode_direction(batch: Batch, last: np.ndarray) -> np.ndarray:
    """(batch, n_out) outputs at one step -> decoded response direction (radians, [0, 2 pi))."""
    if batch.layout == "ring":
        return popvec(last[:, 1:])
    return np.mod(np.arctan2(last[:, 2], last[:, 1]), 2 * np.pi)
