"""Perceptual decision-making tasks (NeuroGym semantics): anti flips the choice on identical
stimuli, epochs and timings, coherence sets the evidence, accuracy and input checks."""

import numpy as np
import pytest

from repalign.tasks import PDM_TASKS, accuracy, decision_accuracy, generate, generate_mixture
from repalign.tasks.pdm import COHERENCES, TRAIN_TIMING


def test_anti_flips_choice_on_identical_stimuli():
    for pro, anti in (("pdm", "anti_pdm"), ("pdm_delay", "anti_pdm_delay")):
        a = generate(pro, 300, seed=7)
        b = generate(anti, 300, seed=7)
        np.testing.assert_array_equal(a.inputs[:, :, :3], b.inputs[:, :, :3])  # fixation + stimuli
        np.testing.assert_array_equal(a.evidence, b.evidence)
        np.testing.assert_array_equal(b.choice, 1 - a.choice)
        np.testing.assert_array_equal(a.choice, a.evidence)
        # only the rule column differs
        assert np.all(a.inputs[:, :, 3 + PDM_TASKS.index(pro)][a.mask[:, :, 0] > 0] == 1)
        assert np.all(b.inputs[:, :, 3 + PDM_TASKS.index(anti)][b.mask[:, :, 0] > 0] == 1)
        # pro targets are wrong answers for the anti task
        assert not accuracy(b, a.targets).any()
        assert accuracy(b, b.targets).all()


def test_test_timing_epochs_in_steps():
    b = generate("anti_pdm_delay", 50, seed=0, mode="test")
    # 500 / 4000 / 2000 / 500 ms at dt = 20 ms
    expect = {"fixation": (0, 25), "stimulus": (25, 225), "delay": (225, 325), "decision": (325, 350)}
    for name, (s, e) in expect.items():
        assert np.all(b.epochs[name][0] == s) and np.all(b.epochs[name][1] == e)
    assert b.inputs.shape == (50, 350, 7) and b.targets.shape == (50, 350, 3)
    assert np.all(b.inputs[:, :325, 0] == 1) and np.all(b.inputs[:, 325:, 0] == 0)
    # stimulus channels are silent outside the stimulus epoch
    assert np.all(b.inputs[:, :25, 1:3] == 0) and np.all(b.inputs[:, 225:, 1:3] == 0)
    lab = b.targets.argmax(axis=2)
    assert np.all(lab[:, :325] == 0) and np.all(lab[:, 325:] == 1 + b.choice[:, None])
    nd = generate("pdm", 10, seed=0, mode="test")  # 200 / 4000 / 0 / 200 ms, no delay epoch
    assert nd.n_time == 10 + 200 + 10 and np.all(nd.epochs["delay"][0] == -1)


def test_training_timings_drawn_from_the_sets():
    b = generate("anti_pdm_delay", 400, seed=1)
    for name, allowed in TRAIN_TIMING.items():
        s, e = b.epochs[name]
        assert set(np.unique(e - s)) == {int(ms / 20) for ms in allowed}
    assert np.all(b.lengths == b.epochs["decision"][1])
    nd = generate("pdm", 100, seed=1)
    assert np.all(nd.epochs["delay"][0] == -1)
    # padding past a trial's length: zero inputs and zero mask
    short = np.argmin(b.lengths)
    assert np.all(b.inputs[short, b.lengths[short]:] == 0) and np.all(b.mask[short, b.lengths[short]:] == 0)


def test_coherence_sets_the_evidence():
    quiet = generate("pdm", 500, seed=2, noise_std=0.0)
    s, e = quiet.epochs["stimulus"]
    i = np.arange(500)
    stim = quiet.inputs[i, s, 1:3]  # first stimulus step
    strong = stim[i, quiet.evidence] - stim[i, 1 - quiet.evidence]
    np.testing.assert_allclose(strong, quiet.coherence / 100, atol=1e-6)
    assert set(np.unique(quiet.coherence)) == set(COHERENCES)
    # with NeuroGym's noise (std 1 / sqrt(dt)) the evidence is the mean difference
    b = generate("pdm", 2000, seed=3)
    diffs, res = [], []
    for k in range(b.batch_size):
        x = b.inputs[k, b.epochs["stimulus"][0][k]:b.epochs["stimulus"][1][k], 1:3]
        sign = 1 if b.evidence[k] == 0 else -1
        diffs.append(sign * (x[:, 0] - x[:, 1]).mean() - b.coherence[k] / 100)
        res.append(x - x.mean(axis=0))
    assert abs(np.mean(diffs)) < 0.005
    np.testing.assert_allclose(np.concatenate(res).std(), 1 / np.sqrt(20), rtol=0.02)


def test_same_seed_same_trials_and_mixture():
    a = generate("anti_pdm_delay", 200, seed=11, mode="test")
    b = generate("anti_pdm_delay", 200, seed=11, mode="test")
    np.testing.assert_array_equal(a.inputs, b.inputs)
    m = generate_mixture(["pdm", "anti_pdm", "pdm_delay"], 300, seed=0)
    assert set(np.unique(m.task)) == {"pdm", "anti_pdm", "pdm_delay"}
    assert accuracy(m, m.targets).all() and decision_accuracy(m, m.targets) == 1.0
    assert np.all(m.choice == np.where(np.char.startswith(m.task.astype(str), "anti"), 1 - m.evidence, m.evidence))


def test_bad_input():
    with pytest.raises(ValueError, match="tasks"):
        generate_mixture(["pdm", "fdgo"], 8, seed=0)
    with pytest.raises(ValueError, match="timing"):
        generate("pdm", 8, timing={"stim": 100})
    with pytest.raises(ValueError, match="timing"):
        generate("fdgo", 8, timing={"stimulus": 100})
    with pytest.raises(ValueError, match="batch_size"):
        generate("pdm", 0)
    with pytest.raises(ValueError, match="outputs"):
        accuracy(generate("pdm", 4, seed=0), np.zeros((4, 3, 3)))
