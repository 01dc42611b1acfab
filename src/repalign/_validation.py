"""Input handling at the library's boundary.

Data conventions (stated once, used everywhere):

* A *system* is a float array of shape ``(samples, features)``: one row per sample
  (stimulus, condition, time point, trial x time), one column per unit/neuron.
* Recordings of shape ``(trials, time, units)`` are accepted; geometric measures flatten
  them to ``(trials * time, units)`` (trial-major, so sample ``k = trial * T + t``).
  Dynamical measures keep the trial structure.
* numpy arrays, torch tensors (any device, detached) and xarray DataArrays are accepted;
  every computation is done on a float64 *copy*: caller arrays are never modified.
* Results are plain Python floats or numpy arrays.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np


class InputError(TypeError, ValueError):
    """An input of the wrong kind (complex, masked, a generator, text ...): a TypeError that
    ``except ValueError`` also catches, like every other bad-input error of the library."""


# Magnitudes outside this range make float64 products overflow (CKA forms 4th powers of the
# data) or underflow to zero; such inputs are refused rather than turned into a wrong number.
MAX_MAGNITUDE = 1e75
MIN_MAGNITUDE = 1e-75


def to_numpy(X: Any, name: str = "X") -> np.ndarray:
    """Convert numpy / torch / xarray / nested lists to a float64 numpy array (a copy).

    Refused with :class:`InputError` naming ``name``: complex values (the imaginary part would be
    lost), masked arrays (the mask would be ignored), generators and other one-shot iterators,
    text and other non-numeric data. torch float16/bfloat16 tensors are cast to float64.
    """
    if hasattr(X, "detach") and hasattr(X, "cpu"):  # torch.Tensor
        X = _torch_to_numpy(X, name)
    elif hasattr(X, "values") and hasattr(X, "dims"):  # xarray.DataArray
        X = X.values
    arr = _as_array(X, name)
    try:
        return np.array(arr, dtype=np.float64, copy=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric array; got {type(X).__name__} ({exc})") from None


def _torch_to_numpy(X: Any, name: str) -> np.ndarray:
    if X.is_complex():
        raise InputError(f"{name} is a complex tensor ({X.dtype}); repalign needs real values: pass X.real or X.abs()")
    X = X.detach().cpu()
    if X.dtype.is_floating_point and X.dtype.itemsize < 4:  # float16 / bfloat16: numpy has no bfloat16
        import torch

        X = X.to(torch.float64)
    return X.numpy()


def _as_array(X: Any, name: str) -> np.ndarray:
    """``X`` as an array of its own dtype, refusing what a float64 cast would silently change or consume."""
    if isinstance(X, np.ma.MaskedArray):
        raise InputError(f"{name} is a masked array; its mask would be ignored: drop the masked samples, or fill "
                         f"them ({name}.filled(value)) and pass a plain array")
    if isinstance(X, (str, bytes, dict, set, frozenset)) or X is None:
        raise InputError(f"{name} must be a numeric array; got {type(X).__name__}")
    if isinstance(X, Iterator) or (not hasattr(X, "__len__") and not hasattr(X, "__array__")
                                   and isinstance(X, Iterable)):
        raise InputError(f"{name} is a {type(X).__name__} (a one-shot iterator); pass an array or a list")
    try:
        arr = np.asarray(X)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric array; got {type(X).__name__} ({exc})") from None
    if arr.dtype.kind == "c":
        raise InputError(f"{name} has complex values ({arr.dtype}); repalign needs real values: pass its real part, "
                         "modulus or both as separate features")
    if arr.dtype.kind not in "biufO":  # object arrays go to the float cast, which refuses non-numbers
        raise InputError(f"{name} must be a numeric array; got dtype {arr.dtype}")
    return arr


def check_scale(arr: np.ndarray, name: str) -> None:
    """Refuse data whose magnitude overflows or underflows float64 products (see MAX_MAGNITUDE)."""
    if arr.size == 0:
        return
    big = float(np.max(np.abs(arr)))
    if big > MAX_MAGNITUDE or 0.0 < big < MIN_MAGNITUDE:
        raise ValueError(
            f"{name} has values of magnitude up to {big:.3g}: outside [{MIN_MAGNITUDE:g}, {MAX_MAGNITUDE:g}], "
            "where float64 products overflow or underflow and scores would be wrong; rescale it "
            f"(e.g. {name} / {big:.3g})"
        )


def check_finite(arr: np.ndarray, name: str) -> None:
    if not np.all(np.isfinite(arr)):
        n_nan = int(np.isnan(arr).sum())
        n_inf = int(np.isinf(arr).sum())
        raise ValueError(f"{name} contains non-finite values ({n_nan} NaN, {n_inf} inf); clean or impute them first")


def as_system(X: Any, name: str = "X", *, min_samples: int = 1, min_features: int = 1) -> np.ndarray:
    """Validate one system and return it as a float64 ``(samples, features)`` copy.

    Accepts ``(samples, features)`` or ``(trials, time, units)`` (flattened trial-major).
    A 1-D array is rejected rather than guessed at: reshape it to ``(n, 1)`` yourself.
    """
    arr = to_numpy(X, name)
    if arr.ndim == 3:
        arr = arr.reshape(arr.shape[0] * arr.shape[1], arr.shape[2])
    elif arr.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D (samples, features) or 3-D (trials, time, units); got shape {arr.shape}"
        )
    check_finite(arr, name)
    check_scale(arr, name)
    n, p = arr.shape
    if n < min_samples:
        raise ValueError(f"{name} has {n} samples; this measure needs at least {min_samples}")
    if p < min_features:
        raise ValueError(f"{name} has {p} features; this measure needs at least {min_features}")
    return arr


def as_trials(X: Any, name: str = "X") -> list[np.ndarray]:
    """Validate a dynamical recording and return a list of float64 ``(time, units)`` trials.

    Accepts ``(time, units)`` (one trial), ``(trials, time, units)``, or a list of
    ``(time_i, units)`` arrays of possibly different lengths (same number of units).
    """
    if isinstance(X, (list, tuple)) and len(X) > 0 and np.ndim(to_numpy(X[0], f"{name}[0]")) == 2:
        trials = [to_numpy(t, f"{name}[{i}]") for i, t in enumerate(X)]
    else:
        arr = to_numpy(X, name)
        if arr.ndim == 2:
            trials = [arr]
        elif arr.ndim == 3:
            trials = [arr[i] for i in range(arr.shape[0])]
        else:
            raise ValueError(
                f"{name} must be (time, units), (trials, time, units) or a list of (time, units) arrays; "
                f"got shape {arr.shape}"
            )
    units = {t.shape[1] if t.ndim == 2 else None for t in trials}
    if None in units:
        raise ValueError(f"every trial of {name} must be 2-D (time, units)")
    if len(units) != 1:
        raise ValueError(f"all trials of {name} must have the same number of units; got {sorted(units)}")
    for i, t in enumerate(trials):
        check_finite(t, f"{name}[{i}]" if len(trials) > 1 else name)
        check_scale(t, f"{name}[{i}]" if len(trials) > 1 else name)
    return trials


def check_same_samples(n_x: int, n_y: int, name_x: str = "X", name_y: str = "Y") -> None:
    if n_x != n_y:
        raise ValueError(
            f"{name_x} and {name_y} must have the same number of samples (rows correspond to the same "
            f"stimuli/conditions); got {n_x} and {n_y}. For unmatched samples use a distributional "
            f"measure such as 'bures'."
        )


def check_nonconstant(Xc: np.ndarray, name: str, what: str = "this measure") -> None:
    """Raise if a centred system has (numerically) zero variance."""
    scale = np.abs(Xc).max() if Xc.size else 0.0
    if scale == 0.0 or not np.isfinite(scale):
        raise ValueError(f"{name} has zero variance (all samples identical); {what} is undefined")
    if scale < MIN_MAGNITUDE:  # its squares underflow: every inner product would be 0
        raise ValueError(f"{name} varies by at most {scale:.3g} around its mean: squares underflow float64 and "
                         f"{what} would be computed from zeros; rescale its varying columns")


def as_seed_sequence(seed: Any) -> np.random.SeedSequence:
    """The one seed normaliser: a SeedSequence from an int >= 0, None (fresh entropy), a
    SeedSequence (returned as is) or a Generator (which is advanced by one draw)."""
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, np.random.Generator):
        return np.random.SeedSequence(int(seed.integers(0, 2**63)))
    if seed is None or (isinstance(seed, (int, np.integer)) and not isinstance(seed, bool)):
        if seed is not None and seed < 0:
            raise ValueError(f"seed must be a non-negative int; got {seed}")
        return np.random.SeedSequence(seed)
    raise ValueError(f"seed must be an int, None, SeedSequence or numpy.random.Generator; got {type(seed).__name__}")


def check_random_state(seed: Any) -> np.random.Generator:
    """A numpy Generator from a seed (see :func:`as_seed_sequence`); a Generator is returned as
    is. ``check_random_state(s)`` draws the same numbers as ``np.random.default_rng(s)``."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(as_seed_sequence(seed))


_INCLUDE = {"both": (True, True), "left": (True, False), "right": (False, True), "neither": (False, False)}


def check_scalar(
    x: Any,
    name: str,
    target_type: type | tuple[type, ...],
    *,
    min_val: float | None = None,
    max_val: float | None = None,
    include_boundaries: str = "both",
    allow_none: bool = False,
) -> Any:
    """Check a scalar parameter's type and range, in the manner of scikit-learn's ``check_scalar``.

    ``target_type`` is ``int``, ``float``, ``(int, float)`` ...: ``int`` accepts numpy integers
    (never ``bool``), ``float`` accepts ints too. Returns ``x`` as a Python ``int``/``float`` (or
    None when ``allow_none``). Raises ``ValueError`` naming ``name``, the expected type and range.
    """
    if x is None and allow_none:
        return None
    types = target_type if isinstance(target_type, tuple) else (target_type,)
    want_float = float in types
    is_int = isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))
    is_float = isinstance(x, (float, np.floating))
    kind = " or ".join(t.__name__ for t in types) + (" or None" if allow_none else "")
    expected = f"{_article(kind)} {kind}{_range_text(min_val, max_val, include_boundaries)}"
    if not (is_int and (int in types or want_float) or is_float and want_float):
        raise ValueError(f"{name} must be {expected}; got {x!r}")
    value = int(x) if is_int and int in types else float(x)
    if is_float and not np.isfinite(value):
        raise ValueError(f"{name} must be finite; got {x!r}")
    low_in, high_in = _INCLUDE[include_boundaries]
    too_low = min_val is not None and (value < min_val or (value == min_val and not low_in))
    too_high = max_val is not None and (value > max_val or (value == max_val and not high_in))
    if too_low or too_high:
        raise ValueError(f"{name} must be {expected}; got {x!r}")
    return value


def _article(kind: str) -> str:
    return "an" if kind[0] in "aeiou" else "a"


def _range_text(min_val: float | None, max_val: float | None, include: str) -> str:
    if include not in _INCLUDE:
        raise ValueError(f"include_boundaries must be one of {sorted(_INCLUDE)}; got {include!r}")
    low_in, high_in = _INCLUDE[include]
    parts = []
    if min_val is not None:
        parts.append(f"{'>=' if low_in else '>'} {min_val}")
    if max_val is not None:
        parts.append(f"{'<=' if high_in else '<'} {max_val}")
    return (" " + " and ".join(parts)) if parts else ""


def check_choice(x: Any, name: str, options: Iterable[Any]) -> Any:
    """Check that ``x`` is one of ``options``; the error names ``name`` and lists the options."""
    options = tuple(options)
    try:
        ok = x in options
    except (TypeError, ValueError):  # incomparable (e.g. an array): never one of the options
        ok = False
    if not ok:
        shown = ", ".join(repr(o) for o in options)
        raise ValueError(f"{name} must be one of {shown}; got {x!r}")
    return x
