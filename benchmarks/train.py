"""Training speed: a 64-unit leaky RNN on Dly Go (delaygo) alone, on this machine's CPU.

    python benchmarks/train.py                          # ring layout (Yang et al. inputs), dt = 20 ms
    python benchmarks/train.py --layout compact --dt 40 # the setting of the test suite
    python benchmarks/train.py --threads 2              # torch threads (default 1: fastest for 64 units)

Reports
* training throughput: trials per second over ``--throughput-steps`` updates with no evaluation;
* time to 90%: wall time (training plus the periodic evaluations on 200 fresh trials every
  ``--eval-every`` updates) until the evaluated accuracy first reaches 90%, then the accuracy of
  the trained network on 1,000 further fresh trials (network noise on, other seed).

Model: LeakyRNN(n_hidden=64, tanh, random orthogonal W_rec with gain 1 (``--activation softplus``:
Yang et al.'s softplus with gain 0.5), tau = 100 ms,
sigma_rec = 0.05); Adam, lr 3e-3, batch 32, gradient clipping at 1.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layout", default="ring", choices=["ring", "compact"])
    ap.add_argument("--dt", type=float, default=20.0, help="time step, ms (default 20)")
    ap.add_argument("--activation", default="tanh", choices=["tanh", "softplus", "relu"],
                    help="tanh (default) uses W_rec gain 1; softplus/relu use Yang et al.'s gain 0.5")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--max-steps", type=int, default=2000)
    ap.add_argument("--eval-every", type=int, default=25)
    ap.add_argument("--throughput-steps", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from repalign import tasks
    from repalign.models import LeakyRNN
    from repalign.train import TrainConfig, record, train
    from repalign.train.data import io_sizes

    common = dict(tasks=["delaygo"], batch_size=args.batch_size, lr=args.lr, layout=args.layout,
                  rule_slots=1, rule_index={"delaygo": 0}, task_kwargs={"dt": args.dt}, checkpoints=[],
                  seed=args.seed)
    n_in, n_out = io_sizes(["delaygo"], layout=args.layout, rule_slots=1, rule_index={"delaygo": 0}, dt=args.dt)

    def model():
        return LeakyRNN(n_in, 64, n_out, dt=args.dt, activation=args.activation, seed=args.seed,
                         rec_gain=1.0 if args.activation == "tanh" else 0.5)

    print(f"{args.activation} leaky RNN, delaygo, {args.layout} layout ({n_in} inputs, {n_out} outputs), dt={args.dt:g} ms, 64 units, "
          f"batch {args.batch_size}, torch threads {args.threads}, device {args.device}, "
          f"cpu count {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}")

    n = args.throughput_steps
    cfg = TrainConfig(steps=n, eval_every=10**9, eval_batch=1, **common)
    t0 = time.perf_counter()
    train(model(), cfg, num_threads=args.threads, device=args.device)
    wall = time.perf_counter() - t0
    print(f"throughput: {n * args.batch_size / wall:.0f} trials/s ({n} updates in {wall:.1f} s, "
          f"{1e3 * wall / n:.1f} ms/update)")

    cfg = TrainConfig(steps=args.max_steps, eval_every=args.eval_every, eval_batch=200, stop_accuracy=0.9,
                      **common)
    net = model()
    t0 = time.perf_counter()
    res = train(net, cfg, num_threads=args.threads, device=args.device)
    wall = time.perf_counter() - t0
    fresh = tasks.generate("delaygo", 1000, layout=args.layout, seed=args.seed + 10**6, rule_slots=1,
                           rule_index={"delaygo": 0}, dt=args.dt)
    acc = float(np.mean(tasks.accuracy(fresh, record(net.cpu(), fresh, noise=True, seed=1).outputs)))
    status = "reached 90%" if res.stopped_early else f"did NOT reach 90% in {args.max_steps} updates"
    print(f"time to 90%: {wall:.1f} s, {res.steps_done} updates, {res.steps_done * args.batch_size} trials "
          f"({status}); accuracy on 1000 fresh trials: {acc:.3f}")


if __name__ == "__main__":
    main()
