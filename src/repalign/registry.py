"""The measure protocol and the registry of measures by name.

A measure is two steps:

* ``prepare(X) -> Prepared``: per-system work done once (validation, centring, whitening,
  a Gram matrix, a DMD fit ...);
* ``compare(a, b) -> float``: per-pair work on two prepared systems.

Comparing N systems therefore costs N prepares and N(N-1)/2 compares.  Subclasses implement
``_prepare`` and ``_compare`` (and optionally ``_compare_many`` for a vectorised block of
pairs), and declare metadata as class attributes. Everything callers ask of a measure is declared
here (its ``key``, ``expensive_prepare``, the ``_permute_state`` hook, ``has_block``,
``to_distance``, ``default_alternative``), so adding a measure is one class in one file.

Parameters live in ``self.params``, a read-only mapping (``self.params["alpha"]``); they are never
copied onto the instance, so they cannot shadow a method or metadata, and a parameter named like
one is refused when the class is defined (see :data:`SHADOWING_PARAMS` for the one documented
exception).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Iterable, Iterator

import numpy as np

from ._memory import check_memory
from ._serialize import canonical_json
from ._validation import as_system, as_trials, check_same_samples
from .aliases import resolve_alias, search_measures

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
    ``measure_key`` (:attr:`Measure.key`) identifies the measure and parameters that made it, so
    that a state is never compared by a differently-parametrised measure.
    """

    state: Any
    n_samples: int
    n_features: int
    measure_key: str


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


class Params(dict):
    """A measure's parameters (defaults filled in): a read-only mapping. Read ``params["alpha"]``
    (``params.alpha`` works too); for other values make a new measure, ``get_measure(m, alpha=0.5)``."""

    __slots__ = ()

    def _read_only(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("a measure's parameters are read-only; make a new measure with get_measure(m, name=value)")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = __ior__ = _read_only  # type: ignore

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"no parameter {name!r}; parameters: {sorted(self)}") from None

    def __reduce__(self):  # pickle/copy without __setitem__ (measures travel to worker processes)
        return (Params, (dict(self),))


# Parameter names that equal a public attribute of Measure but are allowed, with the reason.
SHADOWING_PARAMS = {
    "compare": "RSA's comparator of RDMs, named as in rsatoolbox and public since the first release; "
               "parameters are never attributes, so it shadows nothing (read it as self.params['compare'])",
}


class Measure:
    """Base class of all measures. Instances are immutable bundles of parameters (``params``)."""

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
    # The sweep engine prepares each system once and caches the state on disk for an expensive
    # prepare (None: decided by the input, True for "trials" measures, e.g. the DMD-based ones).
    expensive_prepare: ClassVar[bool | None] = None
    # How ``to_distance`` turns this similarity into a distance: "gap" (upper end of the range
    # minus the score) or "angle" (arccos of the score, for a cosine such as CKA).
    distance_form: ClassVar[str] = "gap"
    # Permutation hook for nulls: ``_permute_state(state, rows)`` returns the prepared state of
    # ``X[rows]`` from that of ``X`` without preparing again (None: not available; each permuted
    # system is prepared afresh). ``permutes_state`` may be a property that is False for parameter
    # settings where the hook does not apply.
    _permute_state: ClassVar[Callable[[Any, np.ndarray], Any] | None] = None
    permutes_state: ClassVar[bool] = True
    # Parameters added after results were stored: left out of ``key`` while at their default, so
    # the keys of settings that existed before (in users' stores and caches) stay valid.
    key_omits_at_default: ClassVar[frozenset] = frozenset()
    # Settings a preset class fixes (e.g. 'procrustes' is shape with alpha=1): not parameters, so
    # not in the key and not settable; read them, and parameters alike, with _setting(name).
    fixed: ClassVar[dict] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _check_param_names(cls)

    def __init__(self, **params: Any) -> None:
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            valid = ", ".join(sorted(self.defaults)) or "none"
            raise ValueError(f"unknown parameter(s) {unknown} for measure '{self.name}'; valid: {valid}")
        self.params = Params({**self.defaults, **params})
        normalised = self._validate_params()
        if normalised:
            self.params = Params({**self.params, **normalised})
        keyed = {k: v for k, v in self.params.items()
                 if not (k in self.key_omits_at_default and _same(v, self.defaults[k]))}
        self._key = canonical_json({"measure": self.name, "params": keyed})

    # ---------------------------------------------------------------- to override
    def _validate_params(self) -> dict | None:
        """Raise ValueError naming the bad parameter; may return ``{name: normalised value}``
        (e.g. a seed drawn once), which replaces the given values (and so enters the key)."""
        return None

    def _setting(self, name: str) -> Any:
        """A parameter's value, or the value the class fixes for it (see ``fixed``)."""
        return self.params[name] if name in self.params else self.fixed[name]

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

    def compare_pairs(self, prepared: dict, pairs: list) -> dict | None:
        """Optional amortised scoring of a sweep chunk: ``{(i, j): Comparison}`` for ``pairs`` of
        indices into ``prepared`` (e.g. DSA's shared search); None: score by ``compare_many`` or
        pair by pair."""
        return None

    # ---------------------------------------------------------------- public
    @property
    def key(self) -> str:
        """The canonical JSON of the measure's name and all its parameters (defaults included,
        except those of ``key_omits_at_default`` left at their default): one key for the
        in-memory memo, the results store and the prepared-state disk cache (computed once: the
        parameters are read-only)."""
        return self._key

    @property
    def has_block(self) -> bool:
        """Whether the measure scores a block of pairs at once (overrides ``_compare_many``)."""
        return type(self)._compare_many is not Measure._compare_many

    @property
    def can_permute_state(self) -> bool:
        """Whether a permutation null may permute a prepared state instead of preparing again."""
        return self.input == "samples" and self._permute_state is not None and bool(self.permutes_state)

    @property
    def default_alternative(self) -> str:
        """The alternative of a test that the score is real: "greater" for similarities (larger =
        more alike), "less" for distances."""
        return "greater" if self.kind == "similarity" else "less"

    def to_distance(self, scores: Any) -> np.ndarray:
        """Scores of this measure as distances, same shape: a distance as it is; a similarity by
        its ``distance_form``: "gap", ``upper - s`` with ``upper`` the end of the measure's range
        (the largest score when the range is unbounded), or "angle", ``arccos(s)`` (radians)."""
        return similarity_to_distance(scores, self.kind, self.range[1], self.distance_form)

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


DISTANCE_FORMS = ("gap", "angle")


def _same(value: Any, default: Any) -> bool:
    """Whether a parameter value is its default (same canonical JSON: 1 and 1.0 differ, as in keys)."""
    return canonical_json(value) == canonical_json(default)


def similarity_to_distance(scores: Any, kind: str, upper: float, form: str = "gap") -> np.ndarray:
    """The conversion behind :meth:`Measure.to_distance`, from a measure's metadata (``kind``,
    the upper end of its range, its ``distance_form``), for stored results whose measure is not
    registered. Returns a float64 array (a new one: the input is never modified)."""
    S = np.array(scores, dtype=np.float64)
    if kind == "distance":
        return S
    if kind != "similarity":
        raise ValueError(f"kind must be 'similarity' or 'distance'; got {kind!r}")
    if form == "angle":
        return np.arccos(np.clip(S, -1.0, 1.0))
    if form != "gap":
        raise ValueError(f"distance_form must be one of {DISTANCE_FORMS}; got {form!r}")
    top = upper if upper is not None and np.isfinite(upper) else np.nanmax(S)
    return top - S


def _check_param_names(cls: type) -> None:
    """Refuse parameter names that equal a public attribute of Measure (metadata or a method),
    except the documented ones in SHADOWING_PARAMS."""
    reserved = {n for n in dir(Measure) if not n.startswith("_")} | {"params"}
    bad = sorted(k for k in cls.__dict__.get("defaults", {}) if k in reserved and k not in SHADOWING_PARAMS)
    if bad:
        raise ValueError(f"{cls.__name__}: parameter name(s) {bad} equal a method or metadata of Measure; "
                         "rename them (parameters are read as self.params[name])")
    unknown = sorted(set(cls.key_omits_at_default) - set(cls.defaults))
    if unknown:
        raise ValueError(f"{cls.__name__}.key_omits_at_default names {unknown}, which are not parameters")


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
    if cls.distance_form not in DISTANCE_FORMS:
        raise ValueError(f"{cls.__name__}.distance_form must be one of {DISTANCE_FORMS}; got {cls.distance_form!r}")
    _REGISTRY[cls.name] = (cls, {})
    return cls


def unregister(name: str) -> None:
    """Remove a measure name (or alias) from the registry; aliases of it are removed too."""
    if name not in _REGISTRY:
        raise ValueError(f"unregister: no measure named {name!r}")
    cls = _REGISTRY.pop(name)[0]
    if cls.name == name:
        for alias in [a for a, (c, _) in _REGISTRY.items() if c is cls]:
            del _REGISTRY[alias]


@contextmanager
def registered(cls: type[Measure]) -> Iterator[type[Measure]]:
    """Register ``cls`` for the duration of a ``with`` block (tests, notebooks), then remove it
    and its aliases, so that a toy measure never leaks into other code."""
    register(cls)
    try:
        yield cls
    finally:
        if _REGISTRY.get(cls.name, (None,))[0] is cls:
            unregister(cls.name)


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
    if isinstance(measure, str) and measure not in _REGISTRY:  # another tool's id (repalign.aliases)
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
    infos = [_info(cls, name, preset) for name, (cls, preset) in sorted(_REGISTRY.items())]
    if search is None:
        return infos
    return search_measures(search, infos)


def names(kind: str | None = None) -> Iterable[str]:
    return [m.name for m in measures() if kind is None or m.kind == kind]
