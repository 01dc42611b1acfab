"""Perceptual decision-making tasks with NeuroGym semantics, generated a whole batch at once.

Four tasks (the family of the compositional-learning test case of the RepAL paper, whose code
builds them from NeuroGym's ``PerceptualDecisionMaking`` and
``PerceptualDecisionMakingDelayResponse``); written anew and vectorised, no NeuroGym needed:

* ``pdm``: fixation, stimulus, decision. Two stimulus channels carry ``0.5 +- coh / 200``
  (the larger on the ``evidence`` side) plus Gaussian noise of std ``sigma / sqrt(dt)``
  (NeuroGym's ``sigma = 1``); the correct choice is the evidence side.
* ``anti_pdm``: the same stimuli, the correct choice flipped (``choice = 1 - evidence``).
* ``pdm_delay`` / ``anti_pdm_delay``: a delay period between stimulus and decision.

Coding (``layout="pdm"`` on the :class:`~repalign.tasks.core.Batch`): inputs (7) are fixation
(1 until the decision period), the two stimulus channels, then a 4-unit one-hot rule (on at
every valid step; column ``rule_start + rule``); outputs (3) are fixation and the two choices.
``targets`` is the one-hot of NeuroGym's ground-truth label (0 = fixate before the decision
period, ``1 + choice`` during it). ``mask`` follows the RepAL data loader: weight 1 before the
decision period, then 2, 3, 4, 5, 5, ... over its steps (0 past a trial's length); the same
weight on each output column.

Timings (ms, ``floor(ms / dt)`` steps; ``dt = 20``): training (``mode="random"``) draws each
period per trial from :data:`TRAIN_TIMING`; ``mode="test"`` uses :data:`TEST_TIMING` (tasks with
a delay) or :data:`TEST_TIMING_NO_DELAY`. Tasks without a delay always have a zero delay.
``timing=`` overrides periods (a number or a list of values to draw from), e.g. for short trials.

Epochs (``Batch.epochs``): ``fixation``, ``stimulus``, ``delay``, ``decision`` -> ``(start, end)``
per trial (end exclusive; ``-1, -1`` for an empty delay).

Accuracy (:func:`pdm_accuracy`): a trial is correct when more than half of its decision-period
steps have ``argmax(outputs) == 1 + choice``; :func:`decision_accuracy` gives RepAL's number
(the fraction of all decision-period steps with the right argmax).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from .._validation import check_random_state, check_scalar
from .core import Batch, steps

PDM_TASKS = ("pdm", "anti_pdm", "pdm_delay", "anti_pdm_delay")
PDM_PERIODS = ("fixation", "stimulus", "delay", "decision")
COHERENCES = (0.0, 6.4, 12.8, 25.6, 51.2)  # percent, NeuroGym's default set
SIGMA = 1.0  # NeuroGym's input-noise sigma; per-step std sigma / sqrt(dt)
TRAIN_TIMING = {"fixation": (100, 200, 300), "stimulus": (3000, 4000, 5000),
                "delay": (500, 1000, 1500), "decision": (100, 200, 300)}
TEST_TIMING = {"fixation": 500, "stimulus": 4000, "delay": 2000, "decision": 500}
TEST_TIMING_NO_DELAY = {"fixation": 200, "stimulus": 4000, "delay": 0, "decision": 200}
N_INPUT, N_OUTPUT, RULE_START = 7, 3, 3

_ANTI = {"pdm": False, "anti_pdm": True, "pdm_delay": False, "anti_pdm_delay": True}
_DELAY = {"pdm": False, "anti_pdm": False, "pdm_delay": True, "anti_pdm_delay": True}


def is_pdm(task: Any) -> bool:
    """True for the name of one of :data:`PDM_TASKS`."""
    return isinstance(task, str) and task in PDM_TASKS


def _check_timing(timing: Mapping[str, Any] | None) -> dict:
    if timing is None:
        return {}
    if not isinstance(timing, Mapping) or set(timing) - set(PDM_PERIODS):
        raise ValueError(f"timing must map some of {PDM_PERIODS} to ms (a number or a list); got {timing!r}")
    out = {}
    for k, v in timing.items():
        vals = np.atleast_1d(np.asarray(v, dtype=float))
        if vals.ndim != 1 or vals.size == 0 or not np.all(np.isfinite(vals)) or np.any(vals < 0):
            raise ValueError(f"timing[{k!r}] must be non-negative ms (a number or a list); got {v!r}")
        out[k] = vals
    return out


def _durations(tasks: np.ndarray, rng, mode: str, dt: float, timing: dict) -> dict:
    """Per-trial durations in steps for every period; zero delay for tasks without one."""
    n = tasks.size
    delayed = np.array([_DELAY[t] for t in tasks], dtype=bool)
    out = {}
    for period in PDM_PERIODS:
        if period in timing:
            vals = timing[period]
        elif mode == "random":
            vals = np.asarray(TRAIN_TIMING[period], dtype=float)
        else:
            vals = None
        if vals is None:  # test mode: fixed timings, which differ with/without a delay
            ms = np.where(delayed, TEST_TIMING[period], TEST_TIMING_NO_DELAY[period]).astype(float)
        else:
            ms = vals[rng.integers(0, vals.size, n)] if vals.size > 1 else np.full(n, vals[0])
        out[period] = steps(ms, dt)
    out["delay"] = np.where(delayed, out["delay"], 0)
    if np.any(out["stimulus"] < 1) or np.any(out["decision"] < 1):
        raise ValueError(f"timing gives a stimulus or decision period shorter than one step of dt={dt} ms")
    return out


def _epochs(d: dict) -> tuple[dict, np.ndarray]:
    start = np.zeros_like(d["fixation"])
    epochs = {}
    for period in PDM_PERIODS:
        end = start + d[period]
        empty = end == start
        epochs[period] = (np.where(empty, -1, start), np.where(empty, -1, end))
        start = end
    return epochs, start


def _render(tasks, evidence, choice, coh, d, rule_cols, n_rule, dt, noise_std, rng):
    """Inputs, one-hot targets and mask, written column by column into float32 arrays (no
    (batch, time, features) temporaries: 10,000 test-length trials take well under a second)."""
    epochs, length = _epochs(d)
    n, T = tasks.size, int(length.max())
    t = np.arange(T, dtype=np.int32)[None, :]
    stim_on, stim_off = epochs["stimulus"]
    dec_on = epochs["decision"][0][:, None]
    valid = t < length[:, None]
    before = t < dec_on
    in_stim = ((t >= stim_on[:, None]) & (t < stim_off[:, None])).astype(np.float32)
    x = np.zeros((n, T, RULE_START + n_rule), dtype=np.float32)
    x[:, :, 0] = before
    sign = np.where(evidence == 0, 1.0, -1.0)  # channel 1 is high when the evidence is on side 0
    levels = np.stack([0.5 + sign * coh / 200, 0.5 - sign * coh / 200], axis=1)  # (n, 2)
    for k in range(2):
        x[:, :, 1 + k] = in_stim * levels[:, k:k + 1].astype(np.float32)
        if noise_std > 0:
            x[:, :, 1 + k] += rng.standard_normal((n, T), dtype=np.float32) * np.float32(noise_std) * in_stim
    for col in np.unique(rule_cols):
        rows = rule_cols == col
        x[rows, :, RULE_START + col] = valid[rows]
    y = np.zeros((n, T, N_OUTPUT), dtype=np.float32)
    y[:, :, 0] = before
    deciding = valid & ~before
    for c in range(2):
        y[:, :, 1 + c] = deciding & (choice == c)[:, None]
    w = np.where(before, np.float32(1.0), np.minimum(t - dec_on + 2, 5).astype(np.float32))
    w *= valid
    m = np.empty((n, T, N_OUTPUT), dtype=np.float32)
    m[:] = w[:, :, None]
    return x, y, m, epochs, length, levels


def _rules(tasks_present, rule_slots, rule_index):
    index = {t: i for i, t in enumerate(PDM_TASKS)} if rule_index is None else dict(rule_index)
    n_rule = len(PDM_TASKS) if rule_slots is None and rule_index is None else rule_slots
    if n_rule is None:
        n_rule = max(index.values()) + 1
    if not isinstance(n_rule, (int, np.integer)) or n_rule < 1:
        raise ValueError(f"rule_slots must be a positive int; got {rule_slots!r}")
    for t in tasks_present:
        if t not in index or not 0 <= index[t] < n_rule:
            raise ValueError(f"rule_index must give task {t!r} a column in 0..{n_rule - 1}; got {index.get(t)!r}")
    return index, int(n_rule)


def generate_pdm(tasks: str | Sequence[str], batch_size: int, *, seed: Any = None, mode: str = "random",
                 dt: float = 20.0, timing: Mapping[str, Any] | None = None, noise_std: float | None = None,
                 probs: Sequence[float] | None = None, rule_slots: int | None = None,
                 rule_index: Mapping[str, int] | None = None) -> Batch:
    """A batch of PDM-family trials (one task, or a per-trial mixture of several).

    Parameters
    ----------
    tasks : a name in :data:`PDM_TASKS` or a list of them (each trial's task drawn with ``probs``,
        default uniform; trials are padded to the longest with mask 0).
    batch_size : number of trials (positive int).
    seed : int, numpy Generator or None; the same seed gives the same batch.
    mode : ``"random"`` (training timings) or ``"test"`` (fixed test timings).
    dt : time step (ms). timing : per-period overrides in ms (see the module docstring).
    noise_std : per-step std of the stimulus noise; None gives NeuroGym's ``1 / sqrt(dt)``.
    rule_slots, rule_index : number of rule columns and task -> column (default: 4, in
        :data:`PDM_TASKS` order).

    Returns a :class:`~repalign.tasks.core.Batch` with ``layout="pdm"``, ``choice`` (correct
    choice 0/1), ``evidence`` (side of the stronger stimulus), ``coherence`` (percent),
    ``stim_strengths[:, k, 0]`` the mean level of stimulus channel k, ``target_dir`` =
    ``pi * choice`` (NeuroGym's choice angles) and ``rule``/``task`` per trial.
    """
    names = [tasks] if isinstance(tasks, str) else list(tasks)
    if not names or not all(is_pdm(t) for t in names):
        raise ValueError(f"tasks must be one or more of {PDM_TASKS}; got {tasks!r}")
    check_scalar(batch_size, "batch_size", int, min_val=1)
    if mode not in ("random", "test"):
        raise ValueError(f"mode must be 'random' or 'test'; got {mode!r}")
    if not (np.isfinite(dt) and 0 < dt <= 100):
        raise ValueError(f"dt must be a time step in milliseconds in (0, 100]; got {dt!r}")
    noise_std = SIGMA / np.sqrt(dt) if noise_std is None else float(noise_std)
    if not (np.isfinite(noise_std) and noise_std >= 0):
        raise ValueError(f"noise_std must be a finite number >= 0; got {noise_std!r}")
    index, n_rule = _rules(names, rule_slots, rule_index)
    timing = _check_timing(timing)
    rng = check_random_state(seed)
    n = int(batch_size)
    if len(names) == 1:
        task = np.full(n, names[0])
    else:
        p = None if probs is None else np.asarray(probs, dtype=float)
        if p is not None and (p.shape != (len(names),) or np.any(p < 0) or not p.sum() > 0):
            raise ValueError(f"probs must be {len(names)} non-negative weights, not all 0; got {probs!r}")
        task = np.asarray(names)[rng.choice(len(names), size=n, p=None if p is None else p / p.sum())]
    evidence = rng.integers(0, 2, n)
    coh = np.asarray(COHERENCES)[rng.integers(0, len(COHERENCES), n)]
    anti = np.array([_ANTI[t] for t in task], dtype=bool)
    choice = np.where(anti, 1 - evidence, evidence)
    d = _durations(task, rng, mode, float(dt), timing)
    rule_cols = np.array([index[t] for t in task], dtype=np.int64)
    x, y, m, epochs, length, levels = _render(task, evidence, choice, coh, d, rule_cols, n_rule, dt,
                                              noise_std, rng)
    strengths = np.zeros((n, 2, 2))
    strengths[:, :, 0] = levels
    return Batch(inputs=x, targets=y, mask=m, epochs=epochs, stim_dirs=np.full((n, 2), np.nan),
                 stim_strengths=strengths, target_dir=np.pi * choice.astype(float), rule=rule_cols,
                 task=task.astype(str), lengths=length, layout="pdm", dt=float(dt), n_eachring=2,
                 rule_index=index, rule_start=RULE_START, fix_target=1.0, mode=mode, choice=choice,
                 evidence=evidence, coherence=coh)


def _outputs(batch: Batch, outputs: Any) -> np.ndarray:
    if hasattr(outputs, "detach"):
        outputs = outputs.detach().cpu().numpy()
    out = np.asarray(outputs, dtype=np.float64)
    want = (batch.batch_size, batch.n_time, N_OUTPUT)
    if out.shape != want:
        raise ValueError(f"outputs must have shape (batch, time, 3) = {want}; got {out.shape}")
    return out


def _decision_hits(batch: Batch, outputs: Any) -> tuple[np.ndarray, np.ndarray]:
    out = _outputs(batch, outputs)
    start, end = batch.epochs["decision"]
    t = np.arange(batch.n_time)[None, :]
    in_dec = (t >= start[:, None]) & (t < end[:, None])
    hit = (np.argmax(out, axis=2) == (1 + batch.choice)[:, None]) & in_dec
    return hit.sum(axis=1), in_dec.sum(axis=1)


def pdm_accuracy(batch: Batch, outputs: Any) -> np.ndarray:
    """(batch,) bool: more than half of the trial's decision steps choose ``1 + choice`` (argmax)."""
    hits, total = _decision_hits(batch, outputs)
    return 2 * hits > total


def decision_accuracy(batch: Batch, outputs: Any) -> float:
    """RepAL's performance: fraction of all decision-period steps whose argmax is the label."""
    hits, total = _decision_hits(batch, outputs)
    return float(hits.sum() / total.sum())
