"""Finite groups as multiplication tables, and their real irreducible representations.

A :class:`Group` holds ``table[a, b] = index of a*b``, ``inverse[a]`` and ``identity`` over
elements indexed ``0..order-1``, plus readable element labels.  Offered: cyclic ``C_n``,
dihedral ``D_n`` (order 2n), symmetric ``S_n`` (n <= 5) and alternating ``A_4``, ``A_5``.

Real irreducible representations (:func:`real_irreps`) are built numerically for every group
the same way, so nothing is hard-coded: a generic symmetric matrix commuting with the regular
representation R (the group average of R(g) A R(g)^T for a random symmetric A) has, as
eigenspaces, exactly the real-irreducible invariant subspaces of R, one copy each.
Restricting R to an orthonormal basis B of such an eigenspace gives an orthogonal irrep
rho(g) = B^T R(g) B; eigenspaces with equal characters are the same irrep and one is kept.
Over the reals an irrep may be the realification of a complex one (the 2-D rotations of C_n,
the 2-D irrep of A_4 from its two conjugate 1-D characters); its ``kind`` says so and the
real dimensions then satisfy sum(d^2 / c) = |G| with c = 1 (real type), 2 (complex type).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Group:
    name: str
    table: np.ndarray  # (order, order) int: table[a, b] = a * b
    labels: tuple  # readable element names
    inverse: np.ndarray = field(init=False)
    identity: int = field(init=False)

    def __post_init__(self) -> None:
        order = self.table.shape[0]
        ident = [e for e in range(order) if np.array_equal(self.table[e], np.arange(order))]
        if len(ident) != 1:
            raise ValueError(f"{self.name}: multiplication table has no unique identity")
        inv = np.argmax(self.table == ident[0], axis=1)
        object.__setattr__(self, "identity", ident[0])
        object.__setattr__(self, "inverse", inv)

    @property
    def order(self) -> int:
        return self.table.shape[0]

    def regular_representation(self) -> np.ndarray:
        """(order, order, order) permutation matrices: R[g] e_h = e_{g h}."""
        n = self.order
        R = np.zeros((n, n, n))
        for g in range(n):
            R[g, self.table[g], np.arange(n)] = 1.0
        return R


def _from_elements(name: str, elements: list, mul, label=str) -> Group:
    index = {e: i for i, e in enumerate(elements)}
    n = len(elements)
    table = np.empty((n, n), dtype=np.int64)
    for i, a in enumerate(elements):
        for j, b in enumerate(elements):
            table[i, j] = index[mul(a, b)]
    return Group(name, table, tuple(label(e) for e in elements))


def cyclic(n: int) -> Group:
    """C_n: integers mod n under addition."""
    _check_n(n, 1, None, "cyclic")
    return _from_elements(f"C{n}", list(range(n)), lambda a, b: (a + b) % n)


def dihedral(n: int) -> Group:
    """D_n, symmetries of the regular n-gon (order 2n): elements (k, s) = r^k f^s."""
    _check_n(n, 3, None, "dihedral")

    def mul(a, b):  # r^k1 f^s1 r^k2 f^s2 = r^(k1 + (-1)^s1 k2) f^(s1 + s2)
        (k1, s1), (k2, s2) = a, b
        return ((k1 + (-k2 if s1 else k2)) % n, (s1 + s2) % 2)

    elems = [(k, s) for s in (0, 1) for k in range(n)]
    return _from_elements(f"D{n}", elems, mul, lambda e: f"r{e[0]}" + ("f" if e[1] else ""))


def _compose(a: tuple, b: tuple) -> tuple:
    """(a b)(i) = a(b(i)): apply b first."""
    return tuple(a[i] for i in b)


def _parity(p: tuple) -> int:
    return sum(1 for i, j in itertools.combinations(range(len(p)), 2) if p[i] > p[j]) % 2


def symmetric(n: int) -> Group:
    """S_n, permutations of n symbols (n <= 5), composed right to left."""
    _check_n(n, 2, 5, "symmetric")
    return _from_elements(f"S{n}", list(itertools.permutations(range(n))), _compose, _perm_label)


def alternating(n: int) -> Group:
    """A_n (n in {4, 5}), the even permutations."""
    if n not in (4, 5):
        raise ValueError(f"alternating groups offered are A4 and A5; got n={n}")
    elems = [p for p in itertools.permutations(range(n)) if _parity(p) == 0]
    return _from_elements(f"A{n}", elems, _compose, _perm_label)


def _perm_label(p: tuple) -> str:
    return "".join(str(i) for i in p)


def _check_n(n, lo, hi, what) -> None:
    if not isinstance(n, (int, np.integer)) or n < lo or (hi is not None and n > hi):
        bound = f"{lo} <= n <= {hi}" if hi is not None else f"n >= {lo}"
        raise ValueError(f"{what} group needs an integer {bound}; got {n!r}")


def get_group(spec: str) -> Group:
    """A group from a name like 'C7', 'D5', 'S4', 'A5'."""
    builders = {"C": cyclic, "D": dihedral, "S": symmetric, "A": alternating}
    if not isinstance(spec, str) or len(spec) < 2 or spec[0].upper() not in builders or not spec[1:].isdigit():
        raise ValueError(f"group must look like 'C7', 'D5', 'S4' or 'A5'; got {spec!r}")
    return builders[spec[0].upper()](int(spec[1:]))


# ----------------------------------------------------------------------------- irreps
@dataclass(frozen=True)
class Irrep:
    name: str
    matrices: np.ndarray  # (order, d, d) orthogonal matrices rho(g)
    kind: str  # "real", "complex" (realified pair of conjugate complex irreps) or "quaternionic"

    @property
    def dim(self) -> int:
        return self.matrices.shape[1]

    @property
    def character(self) -> np.ndarray:
        return np.trace(self.matrices, axis1=1, axis2=2)


def real_irreps(group: Group, seed: int = 0, tol: float = 1e-8) -> list[Irrep]:
    """All real irreducible representations of ``group``, as orthogonal matrices (see module doc).

    Sorted by dimension then by name; names are 'trivial', 'sign', 'standard', 'standard_sign'
    where those apply (S_n), else '<dim>d_<k>'.
    """
    n = group.order
    # R(g) is a permutation matrix: (R(g) A R(g)^T)_ij = A[g^-1 i, g^-1 j].
    P = group.table[group.inverse]  # P[g, i] = g^-1 i
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, n))
    A = A + A.T
    M = A[P[:, :, None], P[:, None, :]].mean(axis=0)  # (1/|G|) sum_g R(g) A R(g)^T
    evals, evecs = np.linalg.eigh((M + M.T) / 2)
    blocks = _cluster(evals, tol * max(1.0, np.abs(evals).max()))
    found: list[tuple[np.ndarray, np.ndarray]] = []
    for idx in blocks:
        B = evecs[:, idx]
        mats = np.einsum("ia,gib->gab", B, B[P])  # B^T R(g) B
        chi = np.trace(mats, axis1=1, axis2=2)
        if not any(np.allclose(chi, c, atol=1e-6) for _, c in found):
            found.append((mats, chi))
    irreps = [Irrep("", mats, _kind(chi, group)) for mats, chi in found]
    irreps = _name(irreps, group)
    _check_complete(irreps, group)
    return sorted(irreps, key=lambda r: (r.dim, r.name != "trivial", r.name))


def _cluster(values: np.ndarray, tol: float) -> list[list[int]]:
    groups, current = [], [0]
    for i in range(1, values.size):
        if values[i] - values[i - 1] <= tol:
            current.append(i)
        else:
            groups.append(current)
            current = [i]
    groups.append(current)
    return groups


def _kind(chi: np.ndarray, group: Group) -> str:
    """Real type iff <chi, chi> = 1; a realified complex (or quaternionic) irrep gives 2 (4)."""
    norm = float(np.mean(chi * chi))
    return {1: "real", 2: "complex", 4: "quaternionic"}[int(round(norm))]


def _name(irreps: list[Irrep], group: Group) -> list[Irrep]:
    out, counts = [], {}
    sign = _sign_character(group)
    for r in sorted(irreps, key=lambda r: (r.dim, -float(r.character.sum()))):
        chi = r.character
        name = None
        if r.dim == 1 and np.allclose(chi, 1):
            name = "trivial"
        elif sign is not None and r.dim == 1 and np.allclose(chi, sign):
            name = "sign"
        elif sign is not None:
            fixed = np.array([sum(int(c) == i for i, c in enumerate(lbl)) for lbl in group.labels])
            if r.dim == len(group.labels[0]) - 1 and np.allclose(chi, fixed - 1):
                name = "standard"
            elif r.dim == len(group.labels[0]) - 1 and np.allclose(chi, (fixed - 1) * sign):
                name = "standard_sign"
        if name is None:
            counts[r.dim] = counts.get(r.dim, 0) + 1
            name = f"{r.dim}d_{counts[r.dim]}"
        out.append(Irrep(name, r.matrices, r.kind))
    return out


def _sign_character(group: Group) -> np.ndarray | None:
    if not group.name.startswith("S"):
        return None
    return np.array([1 - 2 * _parity(tuple(int(c) for c in lbl)) for lbl in group.labels], dtype=float)


def _check_complete(irreps: list[Irrep], group: Group) -> None:
    weights = {"real": 1, "complex": 2, "quaternionic": 4}
    total = sum(r.dim**2 / weights[r.kind] for r in irreps)
    if not np.isclose(total, group.order):
        raise RuntimeError(f"{group.name}: found irreps account for {total} of |G| = {group.order}")
