"""The 20 cognitive tasks of Yang, Joglekar, Song, Newsome & Wang (2019, Nature Neuroscience),
generated a whole batch at once.

Timings, stimulus statistics and targets follow the authors' public code (gyyang/multitask,
``task.py``), written anew and vectorised. Differences from the reference, all deliberate:

* ``mode="random"`` draws every timing, modality and stimulus *per trial* from the reference's
  distributions (the reference draws timings and modality once per batch); trials of different
  lengths are padded with mask 0 (``Batch.lengths``).
* ``mode="test"`` uses the reference's fixed timings and its grid of test conditions; trial i
  gets condition ``i % test_grid_size(task)`` (``batch_size=None`` gives the grid once).
* Input noise is off by default (the model adds it); ``noise_std`` adds Gaussian noise of that
  standard deviation per step and input (the reference uses ``sigma_x * sqrt(2 / alpha)``).
* The fixation output target before the go cue is ``fix_target`` = 0.85 (the paper's Methods;
  the reference code writes 0.8).
* MultSen DM draws its modality split from the batch's generator (the reference uses the
  global ``np.random`` there).

See ``docs/tasks.md`` for the task table.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from .._validation import check_choice, check_random_state, check_scalar
from .core import EPOCHS, LAYOUTS, Batch, TrialSpec, concat_specs, render, steps
from .pdm import PDM_TASKS, generate_pdm, is_pdm

TASKS = (
    "fdgo", "reactgo", "delaygo", "fdanti", "reactanti", "delayanti",
    "dm1", "dm2", "contextdm1", "contextdm2", "multidm",
    "delaydm1", "delaydm2", "contextdelaydm1", "contextdelaydm2", "multidelaydm",
    "dmsgo", "dmsnogo", "dmcgo", "dmcnogo",
)
TASK_LABELS = dict(zip(TASKS, (
    "Go", "RT Go", "Dly Go", "Anti", "RT Anti", "Dly Anti",
    "DM 1", "DM 2", "Ctx DM 1", "Ctx DM 2", "MultSen DM",
    "Dly DM 1", "Dly DM 2", "Ctx Dly DM 1", "Ctx Dly DM 2", "MultSen Dly DM",
    "DMS", "DNMS", "DMC", "DNMC",
)))
DEFAULT_RULE_INDEX = {name: i for i, name in enumerate(TASKS)}

TWO_PI = 2 * np.pi
_DMC_LOCS = np.array([0.1, 0.3, 0.5, 0.7, 0.9, 1.1, 1.3, 1.5, 1.7, 1.9]) * np.pi


# ---------------------------------------------------------------- helpers


def _choice_ms(rng, values, n, dt):
    return steps(rng.choice(np.asarray(values, dtype=float), size=n), dt)


def _uniform_ms(rng, lo, hi, n, dt):
    return steps(rng.uniform(lo, hi, size=n), dt)


def _full(n, ms, dt):
    return np.full(n, int(steps(ms, dt)), dtype=np.int64)


def _epochs(n, **given) -> dict:
    absent = (np.full(n, -1, dtype=np.int64), np.full(n, -1, dtype=np.int64))
    return {k: tuple(np.asarray(a, dtype=np.int64) for a in given[k]) if k in given else absent
            for k in EPOCHS}


def _spec(task, n, *, length, fix_in_off, on, off, dirs, strength, go_on, target, epochs):
    """Assemble a TrialSpec; ``on``/``off``/``dirs`` are lists of one or two (n,) arrays."""
    stim_on = np.full((n, 2), -1, dtype=np.int64)
    stim_off = np.full((n, 2), -1, dtype=np.int64)
    stim_dir = np.full((n, 2), np.nan)
    for k in range(len(on)):
        stim_on[:, k], stim_off[:, k], stim_dir[:, k] = on[k], off[k], dirs[k]
    return TrialSpec(task=np.full(n, task, dtype=object).astype(str), length=length,
                     fix_in_off=fix_in_off, stim_on=stim_on, stim_off=stim_off,
                     stim_dir=np.mod(stim_dir, TWO_PI), strength=strength, go_on=go_on,
                     target_dir=np.mod(target, TWO_PI), epochs=epochs)


def _one_modality(n, per_stim):
    """(n, 2, 2) strengths: stimulus k shown only in modality ``mods[k]`` with strength s."""
    strength = np.zeros((n, 2, 2))
    rows = np.arange(n)
    for k, (s, mods) in enumerate(per_stim):
        strength[rows, k, mods] = s
    return strength


def _grid(n, shape):
    """Condition indices (one array per grid axis) for trials 0..n-1, cycling the grid."""
    return np.unravel_index(np.arange(n) % int(np.prod(shape)), shape)


# ---------------------------------------------------------------- Go / Anti family


def _go_family(task, n, rng, mode, dt, *, kind, anti):
    if mode == "random":
        dirs = rng.uniform(0, TWO_PI, n)
        mods = rng.integers(0, 2, n)
        if kind == "fd":
            on = _uniform_ms(rng, 300, 700, n, dt)
            go_on = on + _uniform_ms(rng, 500, 1500, n, dt)
        elif kind == "react":
            go_on = on = _uniform_ms(rng, 500, 2500, n, dt)
        else:
            on = _choice_ms(rng, [300, 500, 700], n, dt)
            stim_end = on + _choice_ms(rng, [200, 400, 600], n, dt)
            go_on = stim_end + _choice_ms(rng, [200, 400, 800, 1600], n, dt)
    else:
        loc, mods = _grid(n, (20, 2))
        dirs = TWO_PI * loc / 20
        if kind == "fd":
            on, go_on = _full(n, 500, dt), _full(n, 1500, dt)
        elif kind == "react":
            go_on = on = _full(n, 2000, dt)
        else:
            on, stim_end, go_on = _full(n, 500, dt), _full(n, 1000, dt), _full(n, 2000, dt)
    length = go_on + int(steps(500, dt))
    if kind == "delay":
        epochs = _epochs(n, fix1=(0 * on, on), stim1=(on, stim_end), delay1=(stim_end, go_on),
                         go1=(go_on, length))
        off = stim_end
    elif kind == "fd":
        epochs = _epochs(n, fix1=(0 * on, on), stim1=(on, go_on), go1=(go_on, length))
        off = length
    else:
        epochs = _epochs(n, fix1=(0 * on, on), go1=(on, length))
        off = length
    fix_in_off = length if kind == "react" else go_on
    return _spec(task, n, length=length, fix_in_off=fix_in_off, on=[on], off=[off],
                 dirs=[dirs], strength=_one_modality(n, [(1.0, mods)]), go_on=go_on,
                 target=dirs + np.pi * anti, epochs=epochs)


# ---------------------------------------------------------------- decision-making family


def _contrast(rng, n, cohs):
    """Two strengths ``mean +- coh * sign``; mean ~ U(0.8, 1.2), coh from ``cohs``."""
    mean = rng.uniform(0.8, 1.2, n)
    delta = rng.choice(np.asarray(cohs), n) * rng.choice([1.0, -1.0], n)
    return mean + delta, mean - delta


def _dm_strengths_random(rng, n, kind, mod, cohs):
    strength = np.zeros((n, 2, 2))
    if kind == "dm":
        strength[:, 0, mod], strength[:, 1, mod] = _contrast(rng, n, cohs)
    elif kind == "ctx":
        for m in range(2):
            strength[:, 0, m], strength[:, 1, m] = _contrast(rng, n, cohs)
    else:  # multi: split each stimulus's total between the modalities
        for k, s in enumerate(_contrast(rng, n, cohs)):
            split = s * rng.uniform(0.2, 0.8, n) * rng.choice([1.0, -1.0], n)
            strength[:, k, 0], strength[:, k, 1] = s + split / 2, s - split / 2
    return strength


def _dm_strengths_test(n, kind, mod, delayed):
    strength = np.zeros((n, 2, 2))
    if kind == "dm":
        loc, i = _grid(n, (20, 5))
        s1 = 1.0 * i / 5 + 0.5 if delayed else 0.4 * i / 5 + 0.8
        strength[:, 0, mod], strength[:, 1, mod] = s1, 2 - s1
    else:
        loc, i, j = _grid(n, (20, 5, 5))
        for m, idx in enumerate((i, j)):
            s1 = 0.4 * idx / 5 + 0.8
            strength[:, 0, m], strength[:, 1, m] = s1, 2 - s1
    return loc, strength


def _dm_timing(rng, n, mode, dt, kind, delayed):
    if mode == "test":
        if not delayed:
            total = 2500 if kind == "dm" else 2000
            return _full(n, 500, dt), None, None, None, _full(n, total - 500, dt)
        fix_off = 2700 if kind == "dm" else 3000
        return (_full(n, 500, dt), _full(n, 1000, dt), _full(n, 2000, dt), _full(n, 2500, dt),
                _full(n, fix_off, dt))
    if not delayed:
        on = _uniform_ms(rng, 100, 400, n, dt)
        return on, None, None, None, on + _choice_ms(rng, [400, 800, 1600], n, dt)
    on1 = _choice_ms(rng, [200, 400, 600], n, dt)
    off1 = on1 + _choice_ms(rng, [200, 400, 600], n, dt)
    on2 = off1 + _choice_ms(rng, [200, 400, 800, 1600], n, dt)
    off2 = on2 + _choice_ms(rng, [200, 400, 600], n, dt)
    return on1, off1, on2, off2, off2 + _uniform_ms(rng, 100, 300, n, dt)


def _dm_family(task, n, rng, mode, dt, *, kind, mod, delayed):
    if mode == "random":
        d1 = rng.uniform(0, TWO_PI, n)
        d2 = d1 + rng.uniform(0.5 * np.pi, 1.5 * np.pi, n) * rng.choice([1.0, -1.0], n)
        cohs = [0.08, 0.16, 0.32] if delayed else [0.01, 0.02, 0.04, 0.08]
        strength = _dm_strengths_random(rng, n, kind, mod, cohs)
    else:
        loc, strength = _dm_strengths_test(n, kind, mod, delayed)
        d1 = TWO_PI * loc / 20
        d2 = d1 + np.pi
    on1, off1, on2, off2, fix_off = _dm_timing(rng, n, mode, dt, kind, delayed)
    # the reference's Dly DM 1/2 test trials end 300 ms after the go cue, all others 500 ms
    tail = 300 if (mode == "test" and delayed and kind == "dm") else 500
    length = fix_off + int(steps(tail, dt))
    attended = strength.sum(axis=2) if kind == "multi" else strength[:, :, mod]
    target = np.where(attended[:, 0] > attended[:, 1], d1, d2)
    if delayed:
        on, off = [on1, on2], [off1, off2]
        epochs = _epochs(n, fix1=(0 * on1, on1), stim1=(on1, off1), delay1=(off1, on2),
                         stim2=(on2, off2), delay2=(off2, fix_off), go1=(fix_off, length))
    else:
        on, off = [on1, on1], [fix_off, fix_off]
        epochs = _epochs(n, fix1=(0 * on1, on1), stim1=(on1, fix_off), go1=(fix_off, length))
    return _spec(task, n, length=length, fix_in_off=fix_off, on=on, off=off, dirs=[d1, d2],
                 strength=strength, go_on=fix_off, target=target, epochs=epochs)


# ---------------------------------------------------------------- matching family


def _match_family(task, n, rng, mode, dt, *, category, nogo):
    if mode == "random":
        mods = rng.integers(0, 2, (2, n))
        if category:
            d1, d2 = rng.choice(_DMC_LOCS, n), rng.choice(_DMC_LOCS, n)
        else:
            same = rng.integers(0, 2, n)
            dist = rng.uniform(np.pi / 9, 17 * np.pi / 9, n) * rng.choice([1.0, -1.0], n)
            d1 = rng.uniform(0, TWO_PI, n)
            d2 = d1 + dist * (1 - same)
        on1 = _choice_ms(rng, [200, 400, 600], n, dt)
        off1 = on1 + _choice_ms(rng, [200, 400, 600], n, dt)
        on2 = off1 + _choice_ms(rng, [200, 400, 800, 1600], n, dt)
        tail = _choice_ms(rng, [200, 400, 600], n, dt) if category else int(steps(500, dt))
    else:  # every test trial requires a response, as in the reference
        loc, m1, m2 = _grid(n, (20, 2, 2))
        mods = np.stack([m1, m2])
        half = np.arange(10) / 10 * 0.8
        d1 = (np.concatenate([0.1 + half, 1.1 + half]) * np.pi)[loc] if category \
            else TWO_PI * loc / 20
        d2 = d1 + np.pi * nogo
        on1, off1, on2 = _full(n, 500, dt), _full(n, 1000, dt), _full(n, 2200, dt)
        tail = int(steps(500, dt))
    d1, d2 = np.mod(d1, TWO_PI), np.mod(d2, TWO_PI)
    match = (d1 < np.pi) == (d2 < np.pi) if category else np.isclose(d1, d2)
    go = match != bool(nogo)
    length = on2 + tail
    epochs = _epochs(n, fix1=(0 * on1, on1), stim1=(on1, off1), delay1=(off1, on2),
                     go1=(on2, length))
    return _spec(task, n, length=length, fix_in_off=length, on=[on1, on2], off=[off1, length],
                 dirs=[d1, d2], strength=_one_modality(n, [(1.0, mods[0]), (1.0, mods[1])]),
                 go_on=on2, target=np.where(go, d2, np.nan), epochs=epochs)


_FAMILIES = {
    "fdgo": (_go_family, dict(kind="fd", anti=False)),
    "reactgo": (_go_family, dict(kind="react", anti=False)),
    "delaygo": (_go_family, dict(kind="delay", anti=False)),
    "fdanti": (_go_family, dict(kind="fd", anti=True)),
    "reactanti": (_go_family, dict(kind="react", anti=True)),
    "delayanti": (_go_family, dict(kind="delay", anti=True)),
    "dm1": (_dm_family, dict(kind="dm", mod=0, delayed=False)),
    "dm2": (_dm_family, dict(kind="dm", mod=1, delayed=False)),
    "contextdm1": (_dm_family, dict(kind="ctx", mod=0, delayed=False)),
    "contextdm2": (_dm_family, dict(kind="ctx", mod=1, delayed=False)),
    "multidm": (_dm_family, dict(kind="multi", mod=0, delayed=False)),
    "delaydm1": (_dm_family, dict(kind="dm", mod=0, delayed=True)),
    "delaydm2": (_dm_family, dict(kind="dm", mod=1, delayed=True)),
    "contextdelaydm1": (_dm_family, dict(kind="ctx", mod=0, delayed=True)),
    "contextdelaydm2": (_dm_family, dict(kind="ctx", mod=1, delayed=True)),
    "multidelaydm": (_dm_family, dict(kind="multi", mod=0, delayed=True)),
    "dmsgo": (_match_family, dict(category=False, nogo=False)),
    "dmsnogo": (_match_family, dict(category=False, nogo=True)),
    "dmcgo": (_match_family, dict(category=True, nogo=False)),
    "dmcnogo": (_match_family, dict(category=True, nogo=True)),
}


def test_grid_size(task: str) -> int:
    """Number of distinct conditions in ``mode="test"`` for ``task`` (the reference's grid)."""
    _check_task(task)
    fn, kw = _FAMILIES[task]
    if fn is _go_family:
        return 40
    if fn is _match_family:
        return 80
    return 100 if kw["kind"] == "dm" else 500


test_grid_size.__test__ = False  # not a pytest test despite its name


# ---------------------------------------------------------------- public API


def _check_task(task):
    if not isinstance(task, str) or task not in _FAMILIES:
        raise ValueError(f"task must be one of {', '.join(TASKS + PDM_TASKS)}; got {task!r}")


def _resolve_rules(tasks, rule_slots, rule_index):
    index = dict(DEFAULT_RULE_INDEX if rule_index is None else rule_index)
    if rule_slots is None:
        rule_slots = len(TASKS) if rule_index is None else max(index.values()) + 1
    check_scalar(rule_slots, "rule_slots", int, min_val=1)
    for t in tasks:
        if t not in index:
            raise ValueError(f"rule_index has no column for task {t!r}")
        if not 0 <= index[t] < rule_slots:
            raise ValueError(f"rule_index[{t!r}] = {index[t]} is outside 0..rule_slots-1 "
                             f"(rule_slots={rule_slots})")
    return index, int(rule_slots)


def _check_options(layout, mode, dt, n_eachring, noise_std, fix_target):
    check_choice(layout, "layout", LAYOUTS)
    check_choice(mode, "mode", ("random", "test"))
    if not (np.isfinite(dt) and 0 < dt <= 100):
        raise ValueError(f"dt must be a time step in milliseconds in (0, 100]; got {dt!r}")
    check_scalar(n_eachring, "n_eachring", int, min_val=2)
    if not (noise_std is None or (np.isfinite(noise_std) and noise_std >= 0)):
        raise ValueError(f"noise_std must be a finite number >= 0; got {noise_std!r}")
    if not (np.isfinite(fix_target) and 0.5 < fix_target <= 1):
        raise ValueError(f"fix_target must be in (0.5, 1]; got {fix_target!r}")


def _check_timing_unused(timing):
    if timing is not None:
        raise ValueError(f"timing applies only to the perceptual-decision tasks {PDM_TASKS}; got {timing!r}")


def _check_batch_size(batch_size, mode):
    if batch_size is None and mode == "test":
        return None
    return check_scalar(batch_size, "batch_size (None only in test mode)", int, min_val=1)


def _sample(task, n, rng, mode, dt) -> TrialSpec:
    fn, kw = _FAMILIES[task]
    return fn(task, n, rng, mode, dt, **kw)


def _finish(spec, tasks, rng, *, layout, mode, dt, n_eachring, rule_slots, rule_index,
            noise_std, fix_target) -> Batch:
    index, n_rule = _resolve_rules(tasks, rule_slots, rule_index)
    rule_cols = np.array([index[t] for t in spec.task], dtype=np.int64)
    return render(spec, layout=layout, n_eachring=int(n_eachring), rule_cols=rule_cols,
                  n_rule=n_rule, rule_index=index, dt=float(dt), fix_target=float(fix_target),
                  noise_std=float(noise_std or 0.0), rng=rng, mode=mode)


def generate(task: str, batch_size: int | None = None, *, layout: str = "ring",
             seed: Any = None, mode: str = "random", rule_slots: int | None = None,
             rule_index: Mapping[str, int] | None = None, dt: float = 20.0,
             n_eachring: int = 32, noise_std: float | None = None, fix_target: float = 0.85,
             timing: Mapping[str, Any] | None = None) -> Batch:
    """A batch of trials of one task, as a :class:`~repalign.tasks.core.Batch`.

    The perceptual-decision tasks (:data:`~repalign.tasks.pdm.PDM_TASKS`) are passed on to
    :func:`~repalign.tasks.pdm.generate_pdm` (``layout``, ``n_eachring`` and ``fix_target``
    do not apply to them; ``timing`` applies only to them).

    Parameters
    ----------
    task : one of :data:`TASKS`.
    batch_size : trials in the batch; in ``mode="test"`` None means one copy of the test grid.
    layout : ``"ring"`` (fixation + two ``n_eachring`` rings + rules; output fixation + ring)
        or ``"compact"`` (fixation + stimulus 1 and 2 as (cos, sin) * strength + rules;
        output fixation, cos, sin).
    seed : int, numpy Generator or None; the same seed gives the same batch.
    mode : ``"random"`` (training: random timings and stimuli) or ``"test"`` (fixed timings,
        the reference's test grid).
    rule_slots : total number of rule input columns (default: 20, or ``max(rule_index) + 1``).
    rule_index : task -> rule column (default: position in :data:`TASKS`); lets a task added
        later own a column reserved in advance.
    dt : time step in milliseconds.
    noise_std : standard deviation of Gaussian input noise per step (None: the task's default,
        0 for the Yang tasks, NeuroGym's ``1 / sqrt(dt)`` on the PDM stimuli).
    fix_target : fixation output target before the go cue.
    """
    if is_pdm(task):
        return generate_pdm(task, batch_size, seed=seed, mode=mode, dt=dt, timing=timing, noise_std=noise_std,
                            rule_slots=rule_slots, rule_index=rule_index)
    _check_timing_unused(timing)
    _check_task(task)
    _check_options(layout, mode, dt, n_eachring, noise_std, fix_target)
    n = _check_batch_size(batch_size, mode)
    n = test_grid_size(task) if n is None else n
    rng = check_random_state(seed)
    spec = _sample(task, n, rng, mode, float(dt))
    return _finish(spec, [task], rng, layout=layout, mode=mode, dt=dt, n_eachring=n_eachring,
                   rule_slots=rule_slots, rule_index=rule_index, noise_std=noise_std,
                   fix_target=fix_target)


def generate_mixture(tasks: Sequence[str], batch_size: int, *, probs: Sequence[float] | None = None,
                     layout: str = "ring", seed: Any = None, mode: str = "random",
                     rule_slots: int | None = None, rule_index: Mapping[str, int] | None = None,
                     dt: float = 20.0, n_eachring: int = 32, noise_std: float | None = None,
                     fix_target: float = 0.85, timing: Mapping[str, Any] | None = None) -> Batch:
    """A batch mixing several tasks: each trial's task drawn with probabilities ``probs``
    (default uniform). Trials are padded to the longest with mask 0 (``Batch.lengths``).
    Other parameters as in :func:`generate`. A mixture is either all Yang tasks or all
    perceptual-decision tasks (their inputs differ).
    """
    tasks = list(tasks) if not isinstance(tasks, str) else [tasks]
    if not tasks:
        raise ValueError("tasks must name at least one task")
    if any(is_pdm(t) for t in tasks):
        if not all(is_pdm(t) for t in tasks):
            raise ValueError(f"tasks must be all Yang tasks or all of {PDM_TASKS}; got {tasks!r}")
        return generate_pdm(tasks, batch_size, seed=seed, mode=mode, dt=dt, timing=timing,
                            noise_std=noise_std, probs=probs, rule_slots=rule_slots, rule_index=rule_index)
    _check_timing_unused(timing)
    for t in tasks:
        _check_task(t)
    _check_options(layout, mode, dt, n_eachring, noise_std, fix_target)
    n = _check_batch_size(batch_size, "random")
    p = _check_probs(probs, len(tasks))
    rng = check_random_state(seed)
    assign = rng.choice(len(tasks), size=n, p=p)
    grouped = np.argsort(assign, kind="stable")
    specs = [_sample(t, int(np.sum(assign == j)), rng, mode, float(dt))
             for j, t in enumerate(tasks) if np.any(assign == j)]
    spec = concat_specs(specs, order=np.argsort(grouped))
    return _finish(spec, tasks, rng, layout=layout, mode=mode, dt=dt, n_eachring=n_eachring,
                   rule_slots=rule_slots, rule_index=rule_index, noise_std=noise_std,
                   fix_target=fix_target)


def _check_probs(probs, k):
    if probs is None:
        return np.full(k, 1.0 / k)
    p = np.asarray(probs, dtype=float)
    if p.shape != (k,) or not np.all(np.isfinite(p)) or np.any(p < 0) or p.sum() <= 0:
        raise ValueError(f"probs must be {k} non-negative finite weights, not all 0; got {probs!r}")
    return p / p.sum()
