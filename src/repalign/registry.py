"""The measure protocol and the registry of measures by name.

A measure is two steps:

* ``prepare(X) -> Prepared``: per-system work done once (validation, centring, whitening,
  a Gram matrix, a DMD fit ...);
* ``compare(a, b) -> float``: per-pair work on two prepared systems.

Comparing N systems therefore costs N prepares and N(N-1)/2 compares.  Subclasses implement
``_prepare`` and ``_compare`` (and optionally ``_compare_many`` for a vectorised block of
pairs), and declare metadata as class attributes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import import_module
from typing import Any, ClassVar, Iterable

import numpy as np

from ._memory import check_memory
from ._validation import as_system, as_trials, check_same_samples

# Vocabulary of invariances a measure may declare (transformations g with d(X, g(X)) = d(X, X)
# applied to one system only, or equivalently d(X, Y) = d(X, g(Y))).
INVARIANCES = {
    "translation": "adding a constant vector to every sample",
    "isotropic_scaling": "multiplying by a positive scalar",
    "orthogonal": "rotation/reflection of the feature space (Y -> Y Q, Q orthogonal)",
    "invertible_linear": "any invertible linear map of the feature space (Y -> Y M)",
    "permutation": "reordering the features/units",
    "sample_permutation": "reordering samples independently in each system",
    "monotonic": "monotonic transformation of the dissimilarities (rank-based comparators)",
}


@dataclass(frozen=True)
class Prepared:
    """A system after a measure's per-system work.

    ``state`` is measure-specific; ``n_samples``/``n_features`` are kept for checks.
    ``measure_key`` identifies the measure and parameters that made it, so that a state is
    never compared by a differently-parametrised measure.
    """

    state: Any
    n_samples: int
    n_features: int
    measure_key: tuple


@dataclass(frozen=True)
class Comparison:
    """A score with its extra outputs (e.g. optimiser convergence, a lower bound)."""

    score: float
    extras: dict = field(default_factory=dict)


@dataclass(frozen=True)
class MeasureInfo:
    name: str
    kind: str
    range: tuple
    invariances: tuple
    is_metric: bool
    symmetric: bool
    matched_samples: bool
    input: str
    defaults: dict
    summary: str
    preset: dict = field(default_factory=dict)


class Measure:
    """Base class of all measures. Instances are immutable bundles of parameters."""

    name: ClassVar[str] = ""
    kind: ClassVar[str] = "similarity"  # or "distance"
    range: ClassVar[tuple] = (0.0, 1.0)
    invariances: ClassVar[frozenset] = frozenset()
    is_metric: ClassVar[bool] = False
    symmetric: ClassVar[bool] = True  # compare(a, b) == compare(b, a)
    matched_samples: ClassVar[bool] = True  # rows of X and Y must correspond
    input: ClassVar[str] = "samples"  # "samples": (samples, features); "trials": (trials, time, units)
    min_samples: ClassVar[int] = 2
    defaults: ClassVar[dict] = {}

    def __init__(self, **params: Any) -> None:
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            valid = ", ".join(sorted(self.defaults)) or "none"
            raise ValueError(f"unknown parameter(s) {unknown} for measure '{self.name}'; valid: {valid}")
        merged = {**self.defaults, **params}
        self.params = merged
        for k, v in merged.items():
            if not callable(getattr(type(self), k, None)):  # never shadow a method (e.g. rsa's `compare`)
                setattr(self, k, v)
        self._validate_params()

    # ---------------------------------------------------------------- to override
    def _validate_params(self) -> None:
        """Raise ValueError naming the bad parameter."""

    def _min_samples(self) -> int:
        return self.min_samples

    def _memory_need(self, n: int, p: int) -> tuple[float, str] | None:
        """Estimated peak bytes of ``_prepare`` on an ``(n, p)`` system, with a description of
        the big arrays behind it (None: no check). The default covers the linear measures: a few
        copies of the data and one min(n, p)^2 matrix (a covariance or an SVD's factor). Measures
        whose work grows as n^2 override it (see :mod:`repalign._memory`)."""
        k = min(n, p)
        return 8.0 * (3 * n * p + 2 * k * k), f"copies of the {n:,} x {p:,} data and a {k:,} x {k:,} matrix (float64)"

    # Advice printed when the memory guard refuses this measure.
    memory_way_out: ClassVar[str] = "use fewer samples or features (e.g. project onto principal components first)"

    def _prepare(self, X: Any) -> Any:  # X: float64 (samples, features) or list of trials
        raise NotImplementedError

    def _compare(self, a: Any, b: Any) -> float | Comparison:
        raise NotImplementedError

    def _compare_many(self, states_a: list, states_b: list, symmetric: bool = False) -> np.ndarray | None:
        """Optional vectorised block of comparisons; return None to fall back to a loop.

        ``symmetric=True`` means ``states_a is states_b``: only the upper triangle (with the
        diagonal) needs computing; ``pairwise`` mirrors it.
        """
        return None

    # ---------------------------------------------------------------- public
    @property
    def key(self) -> tuple:
        """Identifies the measure and its parameters (arrays by content hash, not repr)."""
        return (self.name, tuple(sorted((k, _canonical(v)) for k, v in self.params.items())))

    def prepare(self, X: Any, name: str = "X") -> Prepared:
        """Validate ``X`` and do the per-system work once."""
        if isinstance(X, Prepared):
            self._check_prepared(X, name)
            return X
        if self.input == "trials":
            trials = as_trials(X, name)
            n = sum(t.shape[0] for t in trials)
            self.check_memory(n, trials[0].shape[1], name)
            state = self._named(self._prepare, trials, name)
            return Prepared(state, n, trials[0].shape[1], self.key)
        arr = as_system(X, name, min_samples=self._min_samples())
        self.check_memory(arr.shape[0], arr.shape[1], name)
        state = self._named(self._prepare, arr, name)
        return Prepared(state, arr.shape[0], arr.shape[1], self.key)

    def check_memory(self, n: int, p: int, name: str = "X", copies: int = 1) -> None:
        """Raise :class:`~repalign._memory.MemoryBudgetError` if preparing ``copies`` systems of
        shape ``(n, p)`` at once would exceed the memory budget."""
        need = self._memory_need(n, p)
        if need is None:
            return
        nbytes, arrays = need
        what = f"'{self.name}' on {name} ({n} samples x {p} features)"
        if copies > 1:
            what, arrays = f"{what}, {copies} at once", f"{copies} x ({arrays})"
        check_memory(copies * nbytes, what, arrays, self.memory_way_out)

    @staticmethod
    def _named(fn, data, name: str):
        """Run a ``_prepare``; its errors call the system "X", so rename it to ``name``, and
        prefix ``name`` to an error that does not start with it (every bad input is named)."""
        try:
            return fn(data)
        except ValueError as exc:
            msg = str(exc)
            if msg.startswith("X "):
                if name == "X":
                    raise
                raise _same_type(exc, f"{name} {msg[2:]}") from None
            if msg.startswith(name):
                raise
            raise _same_type(exc, f"{name}: {msg}") from None

    def _check_prepared(self, p: Prepared, name: str) -> None:
        if p.measure_key != self.key:
            raise ValueError(f"{name} was prepared by {p.measure_key}, not by {self.key}")

    def compare_detailed(self, a: Prepared, b: Prepared) -> Comparison:
        self._check_prepared(a, "a")
        self._check_prepared(b, "b")
        if self.matched_samples:
            check_same_samples(a.n_samples, b.n_samples, "X", "Y")
        out = self._compare(a.state, b.state)
        if isinstance(out, Comparison):
            return out
        return Comparison(float(out))

    def compare(self, a: Prepared, b: Prepared) -> float:
        return self.compare_detailed(a, b).score

    def compare_many(self, A: list[Prepared], B: list[Prepared], symmetric: bool = False) -> np.ndarray:
        """Scores of every a in A against every b in B, shape (len(A), len(B))."""
        for i, p in enumerate(A):
            self._check_prepared(p, f"systems[{i}]")
        for j, p in enumerate(B):
            self._check_prepared(p, f"others[{j}]")
        if self.matched_samples:
            ns = {p.n_samples for p in list(A) + list(B)}
            if len(ns) > 1:
                raise ValueError(
                    f"all systems must have the same number of samples for '{self.name}'; got {sorted(ns)}"
                )
        block = self._compare_many([p.state for p in A], [p.state for p in B], symmetric)
        if block is not None:
            return np.asarray(block, dtype=np.float64)
        out = np.empty((len(A), len(B)))
        for i, a in enumerate(A):
            for j, b in enumerate(B):
                out[i, j] = self.compare(a, b)
        return out

    def info(self) -> MeasureInfo:
        return _info(type(self))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"


def _same_type(exc: ValueError, msg: str) -> ValueError:
    try:
        return type(exc)(msg)
    except TypeError:
        return ValueError(msg)


def _canonical(value: Any) -> str:
    if isinstance(value, np.ndarray):
        import hashlib

        digest = hashlib.sha1(np.ascontiguousarray(value).tobytes()).hexdigest()
        return f"ndarray{value.shape}:{value.dtype}:{digest}"
    return repr(value)


_REGISTRY: dict[str, tuple[type[Measure], dict]] = {}


def register(cls: type[Measure]) -> type[Measure]:
    """Class decorator: make a measure available by its ``name``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    if cls.name in _REGISTRY:
        raise ValueError(f"measure name '{cls.name}' is already registered")
    if cls.kind not in ("distance", "similarity"):
        raise ValueError(f"{cls.__name__}.kind must be 'distance' or 'similarity'")
    unknown = set(cls.invariances) - set(INVARIANCES)
    if unknown:
        raise ValueError(f"{cls.__name__} declares unknown invariances {sorted(unknown)}")
    _REGISTRY[cls.name] = (cls, {})
    return cls


def register_alias(alias: str, name: str, **preset: Any) -> None:
    """Register ``alias`` as measure ``name`` with some parameters preset (e.g. 'debiased_cka')."""
    if alias in _REGISTRY:
        raise ValueError(f"measure name '{alias}' is already registered")
    cls, base_preset = _REGISTRY[name]
    _REGISTRY[alias] = (cls, {**base_preset, **preset})


def get_measure(measure: str | Measure, **params: Any) -> Measure:
    """A measure instance from a registered name (plus parameters) or an instance."""
    if isinstance(measure, Measure):
        if params:
            return type(measure)(**{**measure.params, **params})
        return measure
    _ensure_loaded()
    if isinstance(measure, str) and measure not in _REGISTRY:  # another tool's id (repalign.aliases)
        from .aliases import resolve_alias

        target = resolve_alias(measure)
        if target is not None and target[0] in _REGISTRY:
            return get_measure(target[0], **{**target[1], **params})
    if not isinstance(measure, str) or measure not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY))
        raise ValueError(f"unknown measure {measure!r}; registered measures: {known} "
                         "(repalign.measures(search='...') also searches other tools' names)")
    cls, preset = _REGISTRY[measure]
    return cls(**{**preset, **params})


def _info(cls: type[Measure], name: str | None = None, preset: dict | None = None) -> MeasureInfo:
    doc = (cls.__doc__ or "").strip().splitlines()
    return MeasureInfo(
        name=name or cls.name,
        kind=cls.kind,
        range=tuple(cls.range),
        invariances=tuple(sorted(cls.invariances)),
        is_metric=cls.is_metric,
        symmetric=cls.symmetric,
        matched_samples=cls.matched_samples,
        input=cls.input,
        defaults={**cls.defaults, **(preset or {})},
        summary=doc[0] if doc else "",
        preset=dict(preset or {}),
    )


def measures(search: str | None = None) -> list:
    """Every registered measure (aliases included) with its metadata, sorted by name.

    With ``search="text"``: the registered measures and other tools' ids (similarity-repository,
    ReSi, netrep; see :mod:`repalign.aliases`) whose name or summary contains the text, as
    :class:`repalign.aliases.MeasureMatch` records with the measure, parameters and convention.
    """
    _ensure_loaded()
    infos = [_info(cls, name, preset) for name, (cls, preset) in sorted(_REGISTRY.items())]
    if search is None:
        return infos
    from .aliases import search_measures

    return search_measures(search, infos)


def _ensure_loaded() -> None:
    # Importing the families registers their measures.
    import_module(f"{__package__}.geometry")
    import_module(f"{__package__}.dynamics")


def names(kind: str | None = None) -> Iterable[str]:
    return [m.name for m in measures() if kind is None or m.kind == kind]
