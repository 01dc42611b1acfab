"""Plain-JSON conversion of results: :func:`repalign._serialize.to_jsonable` (strict policy)."""

from .._serialize import to_jsonable

__all__ = ["to_jsonable"]
