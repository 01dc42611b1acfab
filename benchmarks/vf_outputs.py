"""Every output of the vector-field search on a fixed set of pairs, to check that a refactoring
changes no number (docs/dsa_optimiser.md, "Code layout").

Writes one ``.npz`` of C, score, loss, bound, iterations, restarts and method for
``vector_field_distance`` (O, SO, GL; angular and euclidean; efforts fast and default; sizes 3 to
40, an exactly conjugate pair and a padded pair), ``vector_field_distances`` (torch; O and SO),
both batched L-BFGS backends on raw starts, and ``dsa_from_operators``. Run it with each tree on
``PYTHONPATH``, then compare (bit for bit):

    PYTHONPATH=OLD/src OMP_NUM_THREADS=1 python benchmarks/vf_outputs.py old.npz
    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/vf_outputs.py new.npz
    python benchmarks/vf_outputs.py --compare old.npz new.npz
"""

from __future__ import annotations

import sys

import numpy as np


def _record(out: dict, key: str, r) -> None:
    out[key + "_C"] = r.C
    out[key + "_num"] = np.array([r.score, r.loss, r.lower_bound, r.n_iter, r.restarts, r.converged])
    out[key + "_m"] = np.array(r.method)


def outputs() -> dict:
    import torch

    from repalign.dynamics import _torch_vf
    from repalign.dynamics import vector_fields as vf
    from repalign.dynamics.dsa import dsa_from_operators

    torch.set_num_threads(1)
    rng = np.random.default_rng(123)
    pairs = [(rng.standard_normal((n, n)), rng.standard_normal((n, n))) for n in (3, 6, 12, 20, 40)]
    Q = np.linalg.qr(rng.standard_normal((8, 8)))[0]
    A = rng.standard_normal((8, 8))
    pairs += [(A, Q @ A @ Q.T), (rng.standard_normal((5, 5)), rng.standard_normal((7, 7)))]
    out: dict = {}
    for i, (A, B) in enumerate(pairs):
        for group in ("O", "SO", "GL"):
            for score in ("angular", "euclidean"):
                if group == "GL" and A.shape[0] > 12:
                    continue
                for effort in ("fast", "default"):
                    r = vf.vector_field_distance(A, B, group=group, score=score, seed=i, effort=effort)
                    _record(out, f"{i}_{group}_{score}_{effort}", r)
    for group in ("O", "SO"):
        for i, r in enumerate(vf.vector_field_distances([p[0] for p in pairs], [p[1] for p in pairs], group=group,
                                                        seed=3)):
            _record(out, f"many_{group}_{i}", r)
    A, B = (X / np.linalg.norm(X) for X in pairs[2])
    Cs = np.stack([vf._haar(12, np.random.default_rng(s), 1 if s % 2 else -1) for s in range(6)])
    loops = {"numpy": vf._lbfgs(A, B, Cs, 1e-9, 500),
             "torch": _torch_vf.lbfgs_many(np.repeat(A[None], 6, 0), np.repeat(B[None], 6, 0), Cs, 1e-9, 500)}
    for name, res in loops.items():
        for j, a in enumerate(res):
            out[f"loop_{name}_{j}"] = a
    ops = [rng.standard_normal((6, 6)) for _ in range(5)]
    for effort in ("fast", "default"):
        out[f"amortised_{effort}"] = np.asarray(dsa_from_operators(ops, effort=effort, seed=2), dtype=float)
    return out


def compare(a_path: str, b_path: str) -> int:
    a, b = np.load(a_path), np.load(b_path)
    if set(a.files) != set(b.files):
        print(f"different keys: {sorted(set(a.files) ^ set(b.files))}")
        return 1
    differ = [k for k in a.files
              if a[k].shape != b[k].shape or not np.array_equal(a[k], b[k], equal_nan=a[k].dtype.kind in "fc")]
    print(f"{len(a.files)} outputs, {len(differ)} differ" + (f": {differ}" if differ else " (bit for bit equal)"))
    return 1 if differ else 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--compare":
        sys.exit(compare(sys.argv[2], sys.argv[3]))
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    np.savez(sys.argv[1], **outputs())
