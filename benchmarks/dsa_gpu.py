"""The batched torch path of vector-field Procrustes on a GPU: correctness and throughput.

Two reports, for random operator pairs (A, B independent standard Gaussian, as benchmarks/dsa.py):

* *Correctness*: ``vector_field_distances(As, Bs, device=DEVICE)`` against the numpy path
  (``vector_field_distance`` per pair, same seed) on ``--pairs`` pairs at each n in ``--sizes``:
  mean and max |angle difference|, pairs where the torch path's loss is higher by more than 1e-4
  (rounding can steer a non-convex descent into another local minimum, docs/dsa_optimiser.md),
  and converged results.
* *Throughput*: pairs per second of ``vector_field_distances`` on DEVICE for batches of
  ``--batches`` pairs, against the numpy path on the CPU (one thread, timed on ``--cpu-sample``
  pairs of the batch: the numpy path scores pairs one by one, so its rate does not depend on the
  batch).

    python benchmarks/dsa_gpu.py                         # cuda: n in {50, 100, 200}, 50 pairs, batches 64..1024
    python benchmarks/dsa_gpu.py --device cpu --quick    # tiny sizes: checks that the script runs
    python benchmarks/dsa_gpu.py --json out.json         # also write every number

Needs torch (and a CUDA device for the default ``--device cuda``).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from threadpoolctl import threadpool_limits

from repalign.dynamics.vector_fields import vector_field_distance, vector_field_distances


def _random_pairs(n: int, k: int, seed: int) -> tuple[list, list]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((n, n)) for _ in range(k)], [rng.standard_normal((n, n)) for _ in range(k)]


def _sync(device: str) -> None:
    import torch

    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def correctness(n: int, k: int, device: str) -> dict:
    As, Bs = _random_pairs(n, k, seed=7000 + n)
    _sync(device)
    t0 = time.perf_counter()
    batch = vector_field_distances(As, Bs, device=device)
    _sync(device)
    t_batch = time.perf_counter() - t0
    t0 = time.perf_counter()
    with threadpool_limits(limits=1):
        ref = [vector_field_distance(A, B) for A, B in zip(As, Bs)]
    t_cpu = time.perf_counter() - t0
    d_angle = np.array([b.score - r.score for b, r in zip(batch, ref)])
    d_loss = np.array([b.loss - r.loss for b, r in zip(batch, ref)])
    return dict(n=n, pairs=k, mean_abs_angle_diff=float(np.abs(d_angle).mean()),
                max_abs_angle_diff=float(np.abs(d_angle).max()), worse=int(np.sum(d_loss > 1e-4)),
                better=int(np.sum(d_loss < -1e-4)), converged=int(sum(b.converged for b in batch)),
                device_s_per_pair=t_batch / k, cpu_s_per_pair=t_cpu / k)


def throughput(n: int, batch: int, device: str, cpu_sample: int) -> dict:
    As, Bs = _random_pairs(n, batch, seed=9000 + n + batch)
    vector_field_distances(As[:2], Bs[:2], device=device)  # warm-up (kernels, allocator)
    _sync(device)
    t0 = time.perf_counter()
    vector_field_distances(As, Bs, device=device)
    _sync(device)
    t_dev = time.perf_counter() - t0
    k = min(cpu_sample, batch)
    t0 = time.perf_counter()
    with threadpool_limits(limits=1):
        for A, B in zip(As[:k], Bs[:k]):
            vector_field_distance(A, B)
    t_cpu = (time.perf_counter() - t0) / k
    return dict(n=n, batch=batch, device_pairs_per_s=batch / t_dev, cpu_pairs_per_s=1.0 / t_cpu,
                speedup=(batch / t_dev) * t_cpu)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda", help="torch device of the batched path (default cuda)")
    p.add_argument("--sizes", type=int, nargs="+", default=[50, 100, 200])
    p.add_argument("--pairs", type=int, default=50, help="pairs per size in the correctness report")
    p.add_argument("--batches", type=int, nargs="+", default=[64, 256, 1024])
    p.add_argument("--cpu-sample", type=int, default=8, help="pairs timed on the numpy CPU path per row")
    p.add_argument("--quick", action="store_true", help="n in {6, 10}, 4 pairs, batches 4 and 8")
    p.add_argument("--json", default=None, help="write the numbers to this JSON file")
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        p.error("no CUDA device: run on a GPU machine, or pass --device cpu")
    sizes, pairs, batches = args.sizes, args.pairs, args.batches
    if args.quick:
        sizes, pairs, batches = [6, 10], 4, [4, 8]
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    print(f"device {args.device} ({name}), torch {torch.__version__}\n")
    rows_c = [correctness(n, pairs, args.device) for n in sizes]
    print("| n | pairs | mean / max abs angle diff (rad) | torch worse / better by > 1e-4 (loss) | converged | "
          "device s/pair (batch) | numpy CPU s/pair |")
    print("|---|---|---|---|---|---|---|")
    for r in rows_c:
        print(f"| {r['n']} | {r['pairs']} | {r['mean_abs_angle_diff']:.1e} / {r['max_abs_angle_diff']:.1e} | "
              f"{r['worse']} / {r['better']} | {r['converged']}/{r['pairs']} | {r['device_s_per_pair']:.4f} | "
              f"{r['cpu_s_per_pair']:.4f} |", flush=True)
    rows_t = [throughput(n, b, args.device, args.cpu_sample) for n in sizes for b in batches]
    print("\n| n | batch | device pairs/s | numpy CPU pairs/s (1 thread) | ratio |")
    print("|---|---|---|---|---|")
    for r in rows_t:
        print(f"| {r['n']} | {r['batch']} | {r['device_pairs_per_s']:.1f} | {r['cpu_pairs_per_s']:.2f} | "
              f"{r['speedup']:.1f}x |", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": args.device, "name": name, "correctness": rows_c, "throughput": rows_t}, f, indent=1)


if __name__ == "__main__":
    main()
