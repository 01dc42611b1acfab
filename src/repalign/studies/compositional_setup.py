"""The compositional study's setting (:mod:`.compositional`): tasks, groups, the paper's numbers,
the parameter presets of the RNN and Mamba grids, the grid's configurations and a network's model
spec.  Everything the study's other modules share, so that none of them imports another back."""

from __future__ import annotations

import inspect
import itertools
import math
from typing import Any

FINAL_TASK = "anti_pdm_delay"
PRETRAIN_SETS = {
    "full": ["pdm", "anti_pdm", "pdm_delay"], "basic": ["pdm"], "anti": ["anti_pdm"], "delay": ["pdm_delay"],
    "basic_anti": ["pdm", "anti_pdm"], "basic_delay": ["pdm", "pdm_delay"],
}
PARTIAL = ("pretrain_basic_frozen", "pretrain_anti_frozen", "pretrain_delay_frozen",
           "pretrain_basic_anti_frozen", "pretrain_basic_delay_frozen")
GROUPS = ("untrained", "master", "master_frozen", "pretrain_frozen", "pretrain_unfrozen") + PARTIAL
# group -> (pretraining set or None, trainable in the final stage or None for no training)
PLAN = {"untrained": (None, None), "master": (None, "all"), "master_frozen": (None, "input"),
        "pretrain_frozen": ("full", "input"), "pretrain_unfrozen": ("full", "all"),
        **{g: (g[len("pretrain_"):-len("_frozen")], "input") for g in PARTIAL}}
# share of the final task's pretrained tasks (of its 3 precursors) for the frozen groups
SHARE = {"master_frozen": 0.0, "pretrain_basic_frozen": 1 / 3, "pretrain_anti_frozen": 1 / 3,
         "pretrain_delay_frozen": 1 / 3, "pretrain_basic_anti_frozen": 2 / 3,
         "pretrain_basic_delay_frozen": 2 / 3, "pretrain_frozen": 1.0}
PAPER_TABLE = {  # the paper's mean dissimilarity to master (RNNs), for the comparison tables
    "dsa": {"untrained": 0.607, "master_frozen": 0.427, "pretrain_partial": "0.29-0.37",
            "pretrain_frozen": 0.271, "pretrain_unfrozen": 0.306},
    "cka": {"untrained": 0.426, "master_frozen": 0.419, "pretrain_partial": "0.37-0.44",
            "pretrain_frozen": 0.403, "pretrain_unfrozen": 0.405},
    "procrustes": {"untrained": 0.444, "master_frozen": 0.412, "pretrain_partial": "0.39-0.42",
                   "pretrain_frozen": 0.415, "pretrain_unfrozen": 0.417},
}
MODEL_ALIASES = {"gru": "leaky_gru"}


PAPER_GROUPS = ("untrained", "master_frozen", "pretrain_partial", "pretrain_frozen", "pretrain_unfrozen")


def default_params(preset: str = "quick", model: str = "leaky_rnn") -> dict:
    """Study parameters. ``"paper"``: the paper's grid (relu/softplus x hidden 128/256 x lr
    0.01/0.001 x batch 64/128, 50 epochs of 8,000 trials, full-length trials, DSA n_delays 33,
    delay_interval 6, rank 50). ``"quick"``: hidden 32, short trials, 2 activations x 2 seeds,
    3 epochs of 1,600 trials (minutes on 2 cores). ``"tiny"``: seconds, for tests.
    ``model="mamba"``: the Mamba grid instead (:func:`repalign.studies.mamba.mamba_params`)."""
    if model == "mamba":
        return mamba_params(preset)
    common = {"model": model, "model_kwargs": {}, "final_task": FINAL_TASK, "dt": 20.0, "l2_weight": 1e-4,
              "stop_accuracy": 0.99, "n_test": 200, "test_seed": 12345, "pca": 20,
              "grid": [0.0, 0.2, 0.4, 0.6, 0.8, 1.0], "n_checkpoints": 11, "n_perm": 2000, "n_boot": 2000,
              "measures": ["dsa", "cka", "procrustes"], "paper_pipeline": True, "device": "cpu",
              "all_pairs": True}
    if preset == "paper":
        return {**common, "preset": "paper", "activations": ["relu", "softplus"], "hidden": [128, 256],
                "lrs": [0.01, 0.001], "batch_sizes": [64, 128], "seeds": [0], "epochs": 50,
                "trials_per_epoch": 8000, "timing": None, "test_timing": None, "eval_batch": 512,
                "dsa": {"n_delays": 33, "delay_interval": 6, "rank": 50}}
    if preset == "quick":
        return {**common, "preset": "quick", "activations": ["relu", "softplus"], "hidden": [32],
                "lrs": [0.01], "batch_sizes": [64], "seeds": [0, 1], "epochs": 4, "trials_per_epoch": 1600,
                "timing": {"fixation": [100, 200], "stimulus": [300, 400, 500], "delay": [100, 200, 300],
                           "decision": [100, 200]},
                "test_timing": {"fixation": 200, "stimulus": 500, "delay": 300, "decision": 200},
                "eval_batch": 128, "n_test": 100, "pca": 10,
                "dsa": {"n_delays": 5, "delay_interval": 2, "rank": 20, "n_restarts": 2}}
    if preset == "tiny":
        return {**common, "preset": "tiny", "activations": ["relu"], "hidden": [6], "lrs": [0.01],
                "batch_sizes": [8], "seeds": [0, 1, 2], "epochs": 1, "trials_per_epoch": 32,
                "timing": {"fixation": 40, "stimulus": [100, 140], "delay": 40, "decision": 60},
                "test_timing": {"fixation": 40, "stimulus": 160, "delay": 40, "decision": 60},
                "eval_batch": 16, "n_test": 12, "pca": 4, "grid": [0.0, 0.5, 1.0], "n_checkpoints": 3,
                "all_pairs": False,
                "n_perm": 200, "n_boot": 200, "dsa": {"n_delays": 2, "rank": 4, "n_restarts": 1}}
    raise ValueError(f"preset must be 'quick', 'paper' or 'tiny'; got {preset!r}")


def configurations(params: dict) -> list[dict]:
    """Every configuration of the grid, each ``{"id", "activation", "hidden", "lr", "batch_size", "seed"}``."""
    out = []
    for act, h, lr, bs, seed in itertools.product(params["activations"], params["hidden"], params["lrs"],
                                                  params["batch_sizes"], params["seeds"]):
        for extra in params.get("model_grid") or [{}]:  # further model axes, e.g. Mamba's n_layers
            cid = f"{act}_h{h}_lr{lr:g}_b{bs}_s{seed}" + "".join(f"_{k}{v}" for k, v in sorted(extra.items()))
            out.append({"id": cid, "activation": act, "hidden": int(h), "lr": float(lr), "batch_size": int(bs),
                        "seed": int(seed), **({"model_kwargs": dict(extra)} if extra else {})})
    return out


def model_spec(model: str, n_hidden: int, activation: str, seed: int, n_input: int = 7, n_output: int = 3,
               dt: float = 20.0, **extra: Any) -> dict:
    """The ``build_model`` spec of one network. ``leaky_rnn``: h <- d h + (1 - d) f(...) with
    d = exp(-dt / 100 ms) (``LeakyRNN`` with ``tau = dt / (1 - d)``); ``gru``: ``LeakyGRU``; any
    other registered type gets ``n_input``, ``n_hidden``, ``n_output``, ``seed`` (and
    ``activation`` when its constructor takes one) plus ``extra``."""
    from ..models import MODEL_TYPES  # torch: the parameters and grid above work without it

    kind = MODEL_ALIASES.get(model, model)
    if kind not in MODEL_TYPES:
        raise ValueError(f"model must be 'leaky_rnn', 'gru' or one of {sorted(MODEL_TYPES)}; got {model!r}")
    spec = {"type": kind, "n_input": n_input, "n_hidden": int(n_hidden), "n_output": n_output, "seed": int(seed)}
    accepted = inspect.signature(MODEL_TYPES[kind].__init__).parameters
    if "activation" in accepted and activation not in (None, "default"):
        spec["activation"] = activation
    if kind == "leaky_rnn":
        spec["tau"] = dt / (1.0 - math.exp(-dt / 100.0))
    if "dt" in accepted and kind in ("leaky_rnn", "leaky_gru"):
        spec["dt"] = dt
    if kind == "mamba":  # its width is d_model
        spec["d_model"] = spec.pop("n_hidden")
    spec.update(extra)
    return spec


MAMBA_KWARGS = {"d_state": 16, "expand": 2, "d_conv": 4}


def mamba_params(preset: str = "quick") -> dict:
    """Compositional-study parameters for Mamba models (``repalign study compositional --model mamba``).

    ``"paper"``: the paper's grid, d_model {8, 16} x n_layers {1, 2} x lr {0.01, 0.005, 0.001,
    0.0005} x batch {16, 32, 64, 128} (64 configurations), d_state 16, expand 2, d_conv 4, 50
    epochs of 8,000 trials, full-length trials, DSA as for the RNNs (n_delays 33, delay_interval 6,
    rank 50) on the SSM state reduced to ``state_pca`` = 64 uncentred principal components
    (docs/mamba.md: cost and sensitivity). ``"quick"``: d_model 8, one block, 3 seeds, short
    trials, 3 epochs of 1,600 trials. ``"tiny"``: seconds, for tests. Everything else
    (tasks, groups, test trials, statistics, over-learning) is the RNN study's.
    """
    base = default_params(preset, model="leaky_rnn")
    p = {**base, "model": "mamba", "activations": ["default"], "model_kwargs": dict(MAMBA_KWARGS),
         "sensitivity": {"pcs": [None, 16, 8], "ranks": [20]}}
    if preset == "paper":
        p.update(hidden=[8, 16], model_grid=[{"n_layers": 1}, {"n_layers": 2}], lrs=[0.01, 0.005, 0.001, 0.0005],
                 batch_sizes=[16, 32, 64, 128], seeds=[0], state_pca=64,
                 sensitivity={"pcs": [None, 128, 64, 32, 16], "ranks": [20, 50]})
    elif preset == "quick":
        p.update(hidden=[8], model_grid=[{"n_layers": 1}], lrs=[0.01], batch_sizes=[32], seeds=[0, 1, 2],
                 epochs=3, state_pca=32, n_test=100,
                 timing={"fixation": [100, 200, 300], "stimulus": [500, 600, 700], "delay": [100, 200, 300],
                         "decision": [100, 200, 300]},
                 test_timing={"fixation": 200, "stimulus": 600, "delay": 300, "decision": 200})
    else:  # tiny
        p.update(hidden=[4], model_grid=[{"n_layers": 1}], model_kwargs={**MAMBA_KWARGS, "d_state": 4},
                 state_pca=8, sensitivity={"pcs": [None, 4], "ranks": [4]})
    return p
