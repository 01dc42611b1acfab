"""Training throughput of the compositional study's networks: repalign's training loop against a
plain per-step PyTorch loop of the same network (the paper's implementation style).

    python benchmarks/compositional_train.py                     # leaky RNN, 128 units, paper trials
    python benchmarks/compositional_train.py --hidden 32 --short # the quick preset's trials
    python benchmarks/compositional_train.py --json out.json

Both train the same leaky RNN (h <- d h + (1 - d) relu(W_in x + W_rec h + b), d = exp(-20/100),
readout, cross-entropy over all steps with the same mask, Adam, L2 1e-4, batch 64) on
``anti_pdm_delay`` for ``--steps`` updates and report trials per second (CPU time of this process,
so that other jobs on a shared machine do not decide it; wall time is printed too).

* repalign: :func:`repalign.train.train` (batch generated vectorised, input projection of all
  steps in one product, recurrent loop over time, noise from a seeded generator).
* plain: the paper's style — trials generated one at a time (as a NeuroGym dataset) with a
  per-trial Python loop building the loss mask, stacked time-major, and a cell module called
  once per time step that recomputes ``x_t W_in^T + h W_rec^T + b`` each step.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time

import numpy as np


def plain_loop(n_hidden: int, steps: int, batch: int, timing, seed: int = 0) -> float:
    import torch
    from torch import nn

    from repalign.tasks import generate

    torch.manual_seed(seed)
    decay = math.exp(-20 / 100)

    class Cell(nn.Module):
        def __init__(self):
            super().__init__()
            self.w_ih = nn.Parameter(torch.randn(n_hidden, 7) / math.sqrt(7))
            self.w_hh = nn.Parameter(torch.linalg.qr(torch.randn(n_hidden, n_hidden))[0] * 0.5)
            self.b = nn.Parameter(torch.zeros(n_hidden))

        def forward(self, x, h):
            return decay * h + (1 - decay) * torch.relu(x @ self.w_ih.t() + h @ self.w_hh.t() + self.b)

    cell, readout = Cell(), nn.Linear(n_hidden, 3)
    params = list(cell.parameters()) + list(readout.parameters())
    opt = torch.optim.Adam(params, lr=1e-2)
    rng = np.random.default_rng(seed)
    t0 = time.process_time()
    for _ in range(steps):
        trials = [generate("anti_pdm_delay", 1, seed=rng, timing=timing) for _ in range(batch)]
        T = max(b.n_time for b in trials)
        x = np.zeros((T, batch, 7), np.float32)
        y = np.zeros((T, batch), np.int64)
        m = np.zeros((T, batch), np.float32)
        for i, b in enumerate(trials):
            n = b.n_time
            x[:n, i] = b.inputs[0]
            y[:n, i] = b.targets[0].argmax(axis=1)
            w = np.ones(n, np.float32)  # per-step mask loop, as the paper's data loader
            count = 0
            for t in range(n):
                if b.inputs[0, t, 0] == 0:
                    w[t] = min(2 + count, 5)
                    count += 1
            m[:n, i] = w
        xt, h, outs = torch.as_tensor(x), torch.zeros(batch, n_hidden), []
        for t in range(T):
            h = cell(xt[t], h)
            outs.append(h)
        logits = readout(torch.stack(outs))
        ce = nn.functional.cross_entropy(logits.reshape(-1, 3), torch.as_tensor(y).reshape(-1), reduction="none")
        mt = torch.as_tensor(m).reshape(-1)
        loss = (ce * mt).sum() / mt.sum() + 1e-4 * sum((p**2).sum() for p in params if p.ndim >= 2)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return steps * batch / (time.process_time() - t0)


def repalign_loop(n_hidden: int, steps: int, batch: int, timing, seed: int = 0) -> float:
    from repalign.models import build_model
    from repalign.studies.compositional import model_spec
    from repalign.train import TrainConfig, train

    model = build_model(model_spec("leaky_rnn", n_hidden, "relu", seed))
    kw = {"timing": timing} if timing else {}
    cfg = TrainConfig(tasks=["anti_pdm_delay"], steps=steps, batch_size=batch, lr=1e-2, loss="ce", l2_weight=1e-4,
                      grad_clip=None, seed=seed, checkpoints=[], eval_every=10**9, eval_batch=8, task_kwargs=kw)
    t0 = time.process_time()
    train(model, cfg, None, device="cpu")
    return steps * batch / (time.process_time() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--short", action="store_true", help="the quick preset's trial timings")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    timing = None
    if args.short:
        from repalign.studies.compositional import default_params

        timing = default_params("quick")["timing"]
    repalign_loop(args.hidden, 2, args.batch, timing)  # warm-up: imports, first backward
    plain_loop(args.hidden, 2, args.batch, timing)
    t0 = time.perf_counter()
    ours = repalign_loop(args.hidden, args.steps, args.batch, timing)
    t1 = time.perf_counter()
    plain = plain_loop(args.hidden, args.steps, args.batch, timing)
    t2 = time.perf_counter()
    res = {"hidden": args.hidden, "batch": args.batch, "steps": args.steps, "short_trials": args.short,
           "repalign_trials_per_cpu_s": ours, "plain_trials_per_cpu_s": plain, "ratio": ours / plain,
           "wall_s": {"repalign": t1 - t0, "plain": t2 - t1}, "load_average": os.getloadavg()[0]}
    print(f"leaky RNN {args.hidden} units, batch {args.batch}, {args.steps} updates, "
          f"{'quick' if args.short else 'paper'} trials (load average {res['load_average']:.1f})")
    print(f"  repalign train(): {ours:8.1f} trials / CPU s   (wall {t1 - t0:.1f} s)")
    print(f"  plain per-step  : {plain:8.1f} trials / CPU s   (wall {t2 - t1:.1f} s)")
    print(f"  ratio           : {ours / plain:.2f}x")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=1)


if __name__ == "__main__":
    main()
