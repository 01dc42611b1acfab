"""Tests for repalign.tasks (Yang et al. 2019 task family).

Expected timings are written out here in milliseconds from the reference code's task
definitions (gyyang/multitask, task.py), independently of the package's own tables.
"""

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from repalign.tasks import (
    EPOCHS,
    TASKS,
    accuracy,
    accuracy_by_task,
    generate,
    generate_mixture,
    popvec,
    test_grid_size,
)

DT = 20
GO_TASKS = ("fdgo", "reactgo", "delaygo")
ANTI_TASKS = ("fdanti", "reactanti", "delayanti")
MATCH_TASKS = ("dmsgo", "dmsnogo", "dmcgo", "dmcnogo")


def s(ms):
    return int(ms // DT)


def cdist(a, b):
    d = np.abs(np.mod(a - b, 2 * np.pi))
    return np.minimum(d, 2 * np.pi - d)


def bump(theta, n=32):
    pref = 2 * np.pi * np.arange(n) / n
    return 0.8 * np.exp(-0.5 * (cdist(theta[:, None], pref[None, :]) / (np.pi / 8)) ** 2)


# test-mode epochs (ms) per task, from the reference; go1 ends at the trial length
TEST_EPOCHS = {
    "fd": dict(fix1=(0, 500), stim1=(500, 1500), go1=(1500, 2000)),
    "react": dict(fix1=(0, 2000), go1=(2000, 2500)),
    "delay": dict(fix1=(0, 500), stim1=(500, 1000), delay1=(1000, 2000), go1=(2000, 2500)),
    "dm": dict(fix1=(0, 500), stim1=(500, 2000), go1=(2000, 2500)),
    "ctxdm": dict(fix1=(0, 500), stim1=(500, 1500), go1=(1500, 2000)),
    "delaydm": dict(fix1=(0, 500), stim1=(500, 1000), delay1=(1000, 2000), stim2=(2000, 2500),
                    delay2=(2500, 2700), go1=(2700, 3000)),
    "ctxdelaydm": dict(fix1=(0, 500), stim1=(500, 1000), delay1=(1000, 2000),
                       stim2=(2000, 2500), delay2=(2500, 3000), go1=(3000, 3500)),
    "match": dict(fix1=(0, 500), stim1=(500, 1000), delay1=(1000, 2200), go1=(2200, 2700)),
}
KIND = {"fdgo": "fd", "fdanti": "fd", "reactgo": "react", "reactanti": "react",
        "delaygo": "delay", "delayanti": "delay", "dm1": "dm", "dm2": "dm",
        "contextdm1": "ctxdm", "contextdm2": "ctxdm", "multidm": "ctxdm",
        "delaydm1": "delaydm", "delaydm2": "delaydm", "contextdelaydm1": "ctxdelaydm",
        "contextdelaydm2": "ctxdelaydm", "multidelaydm": "ctxdelaydm",
        "dmsgo": "match", "dmsnogo": "match", "dmcgo": "match", "dmcnogo": "match"}

# random-mode duration supports (ms): ("set", values) or ("range", lo, hi) for U(lo, hi)
DELAYED = dict(fix1=("set", [200, 400, 600]), stim1=("set", [200, 400, 600]),
               delay1=("set", [200, 400, 800, 1600]), stim2=("set", [200, 400, 600]),
               delay2=("range", 100, 300), go1=("set", [500]))
RANDOM_SUPPORT = {
    "fd": dict(fix1=("range", 300, 700), stim1=("range", 500, 1500), go1=("set", [500])),
    "react": dict(fix1=("range", 500, 2500), go1=("set", [500])),
    "delay": dict(fix1=("set", [300, 500, 700]), stim1=("set", [200, 400, 600]),
                  delay1=("set", [200, 400, 800, 1600]), go1=("set", [500])),
    "dm": dict(fix1=("range", 100, 400), stim1=("set", [400, 800, 1600]), go1=("set", [500])),
    "delaydm": DELAYED,
    "match": dict(fix1=("set", [200, 400, 600]), stim1=("set", [200, 400, 600]),
                  delay1=("set", [200, 400, 800, 1600]), go1=("set", [500])),
}
RANDOM_SUPPORT["ctxdm"] = RANDOM_SUPPORT["dm"]
RANDOM_SUPPORT["ctxdelaydm"] = DELAYED


def _in_support(dur, support):
    if support[0] == "set":
        return np.isin(dur, [s(v) for v in support[1]])
    return (dur >= s(support[1])) & (dur <= s(support[2]))


# ---------------------------------------------------------------- timing and epochs


@pytest.mark.parametrize("task", TASKS)
def test_test_mode_epochs_match_reference(task):
    b = generate(task, mode="test", seed=0)
    assert b.batch_size == test_grid_size(task)
    expected = TEST_EPOCHS[KIND[task]]
    for name in EPOCHS:
        start, end = b.epochs[name]
        if name in expected:
            assert np.all(start == s(expected[name][0])), name
            assert np.all(end == s(expected[name][1])), name
        else:
            assert np.all(start == -1) and np.all(end == -1), name
    assert np.all(b.lengths == s(expected["go1"][1]))


@pytest.mark.parametrize("task", TASKS)
def test_random_epochs_ordered_and_in_support(task):
    dmc = task.startswith("dmc")
    b = generate(task, 300, seed=1)
    support = dict(RANDOM_SUPPORT[KIND[task]])
    if dmc:
        support["go1"] = ("set", [200, 400, 600])
    previous_end = np.zeros(b.batch_size, dtype=int)
    for name in EPOCHS:
        start, end = b.epochs[name]
        if name not in support:
            assert np.all(start == -1)
            continue
        assert np.all(start == previous_end), f"{name} does not follow the previous epoch"
        assert np.all(_in_support(end - start, support[name])), name
        previous_end = end
    assert np.all(previous_end == b.lengths)
    # the draws are per trial: several distinct go-cue times in one batch
    assert np.unique(b.epochs["go1"][0]).size > 3


@pytest.mark.parametrize("task", ["fdgo", "delaygo", "reactanti", "dm2", "delaydm1",
                                  "contextdelaydm2", "dmsnogo", "dmcgo"])
def test_inputs_follow_epochs(task):
    b = generate(task, 64, seed=2)
    t = np.arange(b.n_time)[None, :]
    ep = {k: (v[0][:, None], v[1][:, None]) for k, v in b.epochs.items()}
    within = lambda name: (t >= ep[name][0]) & (t < ep[name][1])  # noqa: E731
    ring = np.abs(b.inputs[:, :, 1:65]).sum(axis=2) > 0
    fix_in = b.inputs[:, :, 0] > 0.5
    matching = task.startswith(("dms", "dmc"))
    if task.startswith("react") or matching:
        assert np.array_equal(fix_in, t < b.lengths[:, None])  # fixation input never goes off
    else:
        assert np.array_equal(fix_in, t < ep["go1"][0])
    if task.startswith("fd"):
        shown = within("stim1") | within("go1")
    elif task.startswith("react"):
        shown = within("go1")
    elif matching:  # the second stimulus is the go cue and stays on
        shown = within("stim1") | within("go1")
    elif task.startswith("delaydm") or task.startswith("context"):
        shown = within("stim1") | within("stim2")
    else:
        shown = within("stim1")
    assert np.array_equal(ring, shown)


# ---------------------------------------------------------------- targets


@pytest.mark.parametrize("task", GO_TASKS + ANTI_TASKS)
def test_pro_and_anti_targets(task):
    b = generate(task, 128, seed=3)
    shift = np.pi if task in ANTI_TASKS else 0.0
    np.testing.assert_allclose(cdist(b.target_dir, b.stim_dirs[:, 0] + shift), 0, atol=1e-12)
    last = b.targets[np.arange(b.batch_size), b.lengths - 1]
    np.testing.assert_allclose(cdist(popvec(last[:, 1:]), b.target_dir), 0, atol=1e-5)
    np.testing.assert_allclose(last[:, 1:], 0.05 + bump(b.target_dir), atol=1e-6)
    # each stimulus is shown in one modality; both modalities occur
    present = b.stim_strengths[:, 0, :] > 0
    assert np.all(present.sum(axis=1) == 1) and present[:, 0].any() and present[:, 1].any()


@pytest.mark.parametrize("task", ["fdgo", "fdanti"])
def test_stimulus_ring_coding(task):
    b = generate(task, 64, seed=4)
    step = b.epochs["stim1"][0]
    rings = b.inputs[np.arange(b.batch_size), step, 1:65].reshape(-1, 2, 32)
    mod = np.argmax(b.stim_strengths[:, 0, :], axis=1)
    np.testing.assert_allclose(rings[np.arange(64), mod], bump(b.stim_dirs[:, 0]), atol=1e-6)
    np.testing.assert_array_equal(rings[np.arange(64), 1 - mod], 0)


@pytest.mark.parametrize("task,mod", [("dm1", 0), ("dm2", 1), ("delaydm1", 0), ("delaydm2", 1)])
@pytest.mark.parametrize("mode", ["random", "test"])
def test_dm_target_is_stronger_stimulus(task, mod, mode):
    b = generate(task, 200 if mode == "random" else None, seed=5, mode=mode)
    st_ = b.stim_strengths
    assert np.all(st_[:, :, 1 - mod] == 0)
    stronger = np.argmax(st_[:, :, mod], axis=1)
    np.testing.assert_allclose(cdist(b.target_dir, b.stim_dirs[np.arange(b.batch_size), stronger]),
                               0, atol=1e-12)
    assert 0 < stronger.mean() < 1
    # the strengths are visible in the input ring: 0.8 * s * bump
    step = b.epochs["stim1"][0]
    ring = b.inputs[np.arange(b.batch_size), step, 1 + 32 * mod:33 + 32 * mod]
    expect = bump(b.stim_dirs[:, 0]) * st_[:, 0, mod, None]
    if not task.startswith("delay"):
        expect = expect + bump(b.stim_dirs[:, 1]) * st_[:, 1, mod, None]
    np.testing.assert_allclose(ring, expect, atol=1e-5)


@pytest.mark.parametrize("task,mod", [("contextdm1", 0), ("contextdm2", 1),
                                      ("contextdelaydm1", 0), ("contextdelaydm2", 1)])
def test_context_dm_follows_attended_modality(task, mod):
    b = generate(task, 300, seed=6)
    st_ = b.stim_strengths
    stronger = np.argmax(st_[:, :, mod], axis=1)
    np.testing.assert_allclose(cdist(b.target_dir, b.stim_dirs[np.arange(300), stronger]), 0,
                               atol=1e-12)
    # the ignored modality disagrees on a good share of trials, so the test discriminates
    ignored = np.argmax(st_[:, :, 1 - mod], axis=1)
    assert 0.3 < np.mean(ignored != stronger) < 0.7


@pytest.mark.parametrize("task", ["multidm", "multidelaydm"])
def test_multisensory_dm_uses_summed_strength(task):
    b = generate(task, 300, seed=7)
    total = b.stim_strengths.sum(axis=2)
    stronger = np.argmax(total, axis=1)
    np.testing.assert_allclose(cdist(b.target_dir, b.stim_dirs[np.arange(300), stronger]), 0,
                               atol=1e-12)
    assert np.all(b.stim_strengths > 0)


def test_dm_stimulus_separation_and_coherences():
    b = generate("dm1", 500, seed=8)
    sep = cdist(b.stim_dirs[:, 0], b.stim_dirs[:, 1])
    assert np.all(sep >= 0.5 * np.pi - 1e-9)
    diff = np.round(np.abs(b.stim_strengths[:, 0, 0] - b.stim_strengths[:, 1, 0]) / 2, 10)
    assert set(np.unique(diff)) == {0.01, 0.02, 0.04, 0.08}
    b = generate("delaydm2", 500, seed=8)
    diff = np.round(np.abs(b.stim_strengths[:, 0, 1] - b.stim_strengths[:, 1, 1]) / 2, 10)
    assert set(np.unique(diff)) == {0.08, 0.16, 0.32}


@pytest.mark.parametrize("task", MATCH_TASKS)
def test_match_logic(task):
    b = generate(task, 400, seed=9)
    d1, d2 = b.stim_dirs[:, 0], b.stim_dirs[:, 1]
    if task.startswith("dmc"):
        match = (d1 < np.pi) == (d2 < np.pi)
    else:
        match = cdist(d1, d2) < 1e-9
        assert np.all(cdist(d1, d2)[~match] >= np.pi / 9 - 1e-9)
    go = match if task.endswith("go") and not task.endswith("nogo") else ~match
    assert 0.3 < go.mean() < 0.7
    np.testing.assert_array_equal(b.is_go, go)
    np.testing.assert_allclose(cdist(b.target_dir[go], d2[go]), 0, atol=1e-12)
    # no-go trials keep the fixation target high to the end and never ask for a ring response
    fix_t = b.targets[:, :, 0]
    valid = np.arange(b.n_time)[None, :] < b.lengths[:, None]
    assert np.all(fix_t[~go][valid[~go]] > 0.8)
    np.testing.assert_allclose(b.targets[~go][:, :, 1:], 0.05)
    # test mode: every trial is a go trial, as in the reference
    assert generate(task, mode="test").is_go.all()


# ---------------------------------------------------------------- mask


@pytest.mark.parametrize("task", ["fdgo", "reactanti", "delaydm1", "dmsnogo", "dmcgo"])
def test_mask_values(task):
    b = generate(task, 64, seed=10)
    t = np.arange(b.n_time)[None, :]
    go = b.epochs["go1"][0][:, None]
    expect = np.zeros((b.batch_size, b.n_time))
    expect[(t >= s(100)) & (t < go)] = 1.0
    expect[(t >= go + s(100)) & (t < b.lengths[:, None])] = 5.0
    np.testing.assert_array_equal(b.mask[:, :, 1:], np.repeat(expect[:, :, None], 32, axis=2))
    np.testing.assert_array_equal(b.mask[:, :, 0], 2 * expect)
    grace = (t >= go) & (t < go + s(100))
    assert np.all(b.mask[grace] == 0)
    assert b.mask.dtype == np.float32


def test_mixture_padding_and_lengths():
    tasks = ["fdgo", "delaydm1", "dmcnogo"]
    b = generate_mixture(tasks, 300, seed=11, probs=[0.2, 0.5, 0.3])
    assert set(np.unique(b.task)) == set(tasks)
    counts = np.array([np.sum(b.task == t) for t in tasks]) / 300
    np.testing.assert_allclose(counts, [0.2, 0.5, 0.3], atol=0.1)
    assert b.n_time == b.lengths.max() and b.lengths.min() < b.n_time
    pad = np.arange(b.n_time)[None, :] >= b.lengths[:, None]
    assert np.all(b.mask[pad] == 0) and np.all(b.inputs[pad] == 0)
    np.testing.assert_array_equal(b.epochs["go1"][1], b.lengths)
    # rule columns follow each trial's task (default: position in TASKS)
    rules = b.inputs[:, 0, b.rule_start:]
    np.testing.assert_array_equal(np.argmax(rules, axis=1), [TASKS.index(t) for t in b.task])
    assert np.all(rules.sum(axis=1) == 1)
    assert accuracy(b, b.targets).all()


# ---------------------------------------------------------------- accuracy


@pytest.mark.parametrize("layout", ["ring", "compact"])
@pytest.mark.parametrize("mode", ["random", "test"])
def test_accuracy_on_targets_and_failures(layout, mode):
    b = generate_mixture(TASKS, 400, seed=12, layout=layout, mode=mode)
    assert accuracy(b, b.targets).all()
    assert accuracy(b, b.targets, strict_fixation=True).all()
    go = b.is_go
    # rotate the response by pi/2: wrong on go trials, no-go trials unaffected
    wrong = b.targets.copy()
    if layout == "ring":
        wrong[:, :, 1:] = np.roll(wrong[:, :, 1:], 8, axis=2)
    else:
        wrong[:, :, 1:] = np.stack([-wrong[:, :, 2], wrong[:, :, 1]], axis=2)
    np.testing.assert_array_equal(accuracy(b, wrong), ~go)
    # still fixating at the end of a go trial / not fixating at the end of a no-go trial
    flipped = b.targets.copy()
    rows = np.arange(b.batch_size)
    flipped[rows, b.lengths - 1, 0] = np.where(go, 0.9, 0.1)
    assert not accuracy(b, flipped).any()


def test_breaking_fixation_early():
    b = generate_mixture(["delaygo", "dmsnogo"], 100, seed=13)
    out = b.targets.copy()
    out[np.arange(100), b.epochs["fix1"][1] - 1, 0] = 0.2  # one step before stimulus onset
    before = out.copy()
    strict = accuracy(b, out, strict_fixation=True)
    assert not strict.any()
    # the reference get_perf reads only the last step, so it does not see the early break
    assert accuracy(b, out).all()
    np.testing.assert_array_equal(out, before)  # the caller's outputs are not modified


def test_accuracy_matches_reference_formula():
    """Against a direct transcription of the reference rule on time-major arrays."""
    b = generate("dmsgo", 200, seed=14, mode="random")
    rng = np.random.default_rng(0)
    out = b.targets + rng.normal(0, 0.3, b.targets.shape).astype(np.float32)
    # the reference batches share one length and read y_hat[-1]; here: each trial's last step
    y_hat = out[np.arange(200), b.lengths - 1]
    pref = np.arange(0, 2 * np.pi, 2 * np.pi / 32)
    loc = np.mod(np.arctan2(y_hat[:, 1:] @ np.sin(pref), y_hat[:, 1:] @ np.cos(pref)), 2 * np.pi)
    fixating = y_hat[:, 0] > 0.5
    y_loc = np.where(b.is_go, b.target_dir, -1.0)
    dist = np.minimum(np.abs(y_loc - loc), 2 * np.pi - np.abs(y_loc - loc))
    should_fix = y_loc < 0
    perf = should_fix * fixating + (1 - should_fix) * (dist < 0.2 * np.pi) * (1 - fixating)
    got = accuracy(b, out)
    np.testing.assert_array_equal(got, perf.astype(bool))
    assert 0.05 < got.mean() < 0.95


def test_accuracy_by_task():
    b = generate_mixture(["fdgo", "fdanti"], 200, seed=15)
    out = b.targets.copy()
    out[b.task == "fdanti", :, 1:] = np.roll(out[b.task == "fdanti", :, 1:], 16, axis=2)
    assert accuracy_by_task(b, out) == {"fdanti": 0.0, "fdgo": 1.0}


def test_accuracy_accepts_torch_and_rejects_bad_outputs():
    import torch
    b = generate("fdgo", 16, seed=16)
    assert accuracy(b, torch.as_tensor(b.targets)).all()
    with pytest.raises(ValueError, match="outputs must have shape"):
        accuracy(b, b.targets[:, :, :3])
    bad = b.targets.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        accuracy(b, bad)
    tensors = b.to_torch()
    assert tensors["inputs"].dtype == torch.float32 and tensors["inputs"].shape == b.inputs.shape


# ---------------------------------------------------------------- layouts, rules, seeds


def test_compact_layout_same_trials_and_angles():
    for task in ["fdanti", "dm1", "dmcnogo", "multidelaydm"]:
        ring = generate(task, 64, seed=17)
        comp = generate(task, 64, seed=17, layout="compact")
        np.testing.assert_array_equal(ring.target_dir, comp.target_dir)
        np.testing.assert_array_equal(ring.stim_dirs, comp.stim_dirs)
        assert comp.n_in == 1 + 4 + 20 and comp.n_out == 3
        go = ring.is_go
        rows = np.arange(64)
        last_r = ring.targets[rows, ring.lengths - 1]
        last_c = comp.targets[rows, comp.lengths - 1]
        ang_r = popvec(last_r[:, 1:])
        ang_c = np.mod(np.arctan2(last_c[:, 2], last_c[:, 1]), 2 * np.pi)
        np.testing.assert_allclose(cdist(ang_r[go], ang_c[go]), 0, atol=1e-5)
        np.testing.assert_allclose(cdist(ang_c[go], comp.target_dir[go]), 0, atol=1e-6)
        # stimulus 1 channel: (cos, sin) * total strength
        step = comp.epochs["stim1"][0]
        amp = comp.stim_strengths[:, 0].sum(axis=1)
        expect = np.stack([np.cos(comp.stim_dirs[:, 0]), np.sin(comp.stim_dirs[:, 0])], 1)
        np.testing.assert_allclose(comp.inputs[rows, step, 1:3], expect * amp[:, None],
                                   atol=1e-6)


def test_rule_slots_put_rule_in_its_slot():
    index = {"fdgo": 0, "delaygo": 1, "delayanti": 2}
    b = generate("delayanti", 32, seed=18, rule_slots=3, rule_index=index)
    assert b.n_in == 1 + 64 + 3 and b.rule_start == 65
    valid = np.arange(b.n_time)[None, :] < b.lengths[:, None]
    np.testing.assert_array_equal(b.inputs[:, :, 67], valid)
    assert np.all(b.inputs[:, :, 65:67] == 0)
    assert np.all(b.rule == 2)
    pre = generate_mixture(["fdgo", "delaygo"], 32, seed=18, rule_slots=3, rule_index=index)
    assert pre.n_in == b.n_in and np.all(pre.inputs[:, :, 67] == 0)
    with pytest.raises(ValueError, match="rule_index"):
        generate("dm1", 4, rule_index=index)
    with pytest.raises(ValueError, match="rule_slots"):
        generate("delayanti", 4, rule_slots=2, rule_index=index)


def test_same_seed_same_batch():
    a = generate_mixture(TASKS, 64, seed=19, noise_std=0.1)
    b = generate_mixture(TASKS, 64, seed=np.random.default_rng(19), noise_std=0.1)
    c = generate_mixture(TASKS, 64, seed=20, noise_std=0.1)
    for name in ("inputs", "targets", "mask", "stim_dirs", "target_dir", "lengths"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.stim_dirs, c.stim_dirs)


def test_noise_only_in_valid_steps():
    clean = generate_mixture(["fdgo", "delaydm2"], 200, seed=21)
    noisy = generate_mixture(["fdgo", "delaydm2"], 200, seed=21, noise_std=0.5)
    diff = noisy.inputs - clean.inputs
    valid = np.arange(clean.n_time)[None, :] < clean.lengths[:, None]
    assert np.all(diff[~valid] == 0)
    assert abs(diff[valid].std() - 0.5) < 0.01
    np.testing.assert_array_equal(noisy.targets, clean.targets)


@pytest.mark.parametrize("kwargs,match", [
    (dict(task="nope"), "task must be one of"),
    (dict(batch_size=0), "batch_size"),
    (dict(batch_size=None), "batch_size"),
    (dict(layout="grid"), "layout"),
    (dict(mode="sample"), "mode"),
    (dict(dt=-5), "dt"),
    (dict(n_eachring=1), "n_eachring"),
    (dict(noise_std=np.nan), "noise_std"),
])
def test_bad_arguments(kwargs, match):
    args = dict(task="fdgo", batch_size=8) | kwargs
    with pytest.raises(ValueError, match=match):
        generate(args.pop("task"), args.pop("batch_size"), **args)


def test_bad_mixture_probs():
    with pytest.raises(ValueError, match="probs"):
        generate_mixture(["fdgo", "dm1"], 8, probs=[1.0])
    with pytest.raises(ValueError, match="probs"):
        generate_mixture(["fdgo", "dm1"], 8, probs=[-1.0, 2.0])


def test_other_dt_and_ring_size():
    b = generate("delaygo", mode="test", dt=10, n_eachring=16)
    assert b.inputs.shape == (40, 250, 1 + 32 + 20) and b.n_out == 17
    assert np.all(b.epochs["go1"][0] == 200)
    assert accuracy(b, b.targets).all()


@settings(max_examples=25, deadline=None)
@given(task=st.sampled_from(TASKS), seed=st.integers(0, 2**31 - 1),
       layout=st.sampled_from(["ring", "compact"]))
def test_property_targets_are_perfect_outputs(task, seed, layout):
    b = generate(task, 16, seed=seed, layout=layout)
    assert accuracy(b, b.targets, strict_fixation=True).all()
    assert b.inputs.dtype == b.targets.dtype == b.mask.dtype == np.float32
    assert np.all(b.mask >= 0) and np.all(np.isfinite(b.inputs))
    assert np.all(b.epochs["go1"][0] < b.lengths)


# ---------------------------------------------------------------- speed


def test_generation_speed():
    """10,000 trials x 100 steps (delaygo, test mode, dt=25 ms: 2500 ms = 100 steps), ring
    layout with 20 rule inputs (85 inputs, 33 outputs, about 600 MB written): under one second.

    Timed as CPU time of this process (``time.process_time``: user + system, page faults
    included; generation is single-threaded), best of three after a warm-up, so that other
    processes competing for a shared machine's cores do not decide the result.
    """
    generate("delaygo", 1_000, mode="test", dt=25, seed=0)  # warm-up (imports, caches)
    best = np.inf
    for _ in range(3):
        t0 = time.process_time()
        b = generate("delaygo", 10_000, mode="test", dt=25, seed=0)
        best = min(best, time.process_time() - t0)
        assert b.inputs.shape == (10_000, 100, 85) and b.targets.shape == (10_000, 100, 33)
        del b
    assert best < 1.0, f"generation took {best:.2f} s of CPU time"


def test_silent_outputs_are_wrong():
    """All-zero ring outputs: the reference popvec divides by zero total activity -> nan
    direction -> incorrect, wherever the target lies (also at angle 0)."""
    b = generate("fdgo", mode="test")
    out = np.zeros_like(b.targets)
    assert np.isnan(popvec(out[:, -1, 1:])).all()
    assert not accuracy(b, out).any()
