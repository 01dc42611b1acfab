"""The shared helpers of issue 18: one seed normaliser, scalar/choice checks, one JSON converter
with two policies, atomic writes and the thread limiter."""

import json
import math
import os

import numpy as np
import pytest

from repalign._runtime import available_cpus, limited_threads
from repalign._serialize import atomic_write, canonical_json, to_jsonable, versions, write_json
from repalign._validation import as_seed_sequence, check_choice, check_random_state, check_scalar


def test_check_random_state_draws_like_default_rng():
    for seed in (0, 7, 2**40):
        assert np.array_equal(check_random_state(seed).random(5), np.random.default_rng(seed).random(5))
    g = np.random.default_rng(3)
    assert check_random_state(g) is g


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True, [1]])
def test_seed_errors_name_the_seed(bad):
    with pytest.raises(ValueError, match="seed must be"):
        as_seed_sequence(bad)


def test_seed_sequence_passthrough_and_generator_advances():
    ss = np.random.SeedSequence(5)
    assert as_seed_sequence(ss) is ss
    g = np.random.default_rng(1)
    a, b = as_seed_sequence(g), as_seed_sequence(g)
    assert a.entropy != b.entropy


def test_check_scalar_types_and_ranges():
    assert check_scalar(np.int64(3), "k", int, min_val=1) == 3
    assert isinstance(check_scalar(3, "alpha", float), float)
    assert check_scalar(None, "rank", int, allow_none=True) is None
    with pytest.raises(ValueError, match=r"k must be an int >= 1; got 0"):
        check_scalar(0, "k", int, min_val=1)
    with pytest.raises(ValueError, match="k must be an int"):
        check_scalar(True, "k", int)
    with pytest.raises(ValueError, match="k must be an int"):
        check_scalar(2.0, "k", int)
    with pytest.raises(ValueError, match=r"q must be a float > 0 and < 1"):
        check_scalar(1.0, "q", float, min_val=0, max_val=1, include_boundaries="neither")
    assert check_scalar(0.0, "q", float, min_val=0, max_val=1, include_boundaries="left") == 0.0
    with pytest.raises(ValueError, match="finite"):
        check_scalar(float("nan"), "x", float)


def test_check_choice():
    assert check_choice("eig", "wasserstein_compare", ("eig", "sv")) == "eig"
    with pytest.raises(ValueError, match=r"score must be one of 'angular', 'euclidean'; got 'cos'"):
        check_choice("cos", "score", ("angular", "euclidean"))
    with pytest.raises(ValueError, match="must be one of"):
        check_choice(np.arange(2), "x", (1, 2))


def test_to_jsonable_strict_and_lenient():
    obj = {"a": np.float64(np.nan), "b": (np.int32(2), np.bool_(True)), "c": np.arange(2)}
    assert to_jsonable(obj) == {"a": None, "b": [2, True], "c": [0, 1]}
    assert to_jsonable(obj, lenient=True)["a"] == "nan"
    with pytest.raises(ValueError, match=r"obj\['s'\] holds a value of type set"):
        to_jsonable({"s": {1, 2}})
    assert to_jsonable({2, 1}, lenient=True) == [1, 2]
    assert to_jsonable(object(), lenient=True).startswith("<object")


def test_canonical_json_is_order_free_and_stable():
    # this exact string is a key in users' stores: it must not change
    assert canonical_json({"b": 1.0, "a": (1, None), "c": math.inf}) == '{"a":[1,null],"b":1.0,"c":"inf"}'


def test_atomic_write_and_write_json(tmp_path):
    p = tmp_path / "sub" / "x.json"
    write_json(p, {"x": np.float32(0.5)})
    assert json.loads(p.read_text()) == {"x": 0.5}
    atomic_write(p, lambda fh: fh.write(b"abc"))
    assert p.read_bytes() == b"abc"

    def boom(fh):
        fh.write(b"half")
        raise RuntimeError("crash")

    with pytest.raises(RuntimeError):
        atomic_write(p, boom)
    assert p.read_bytes() == b"abc"  # the old file survives a crash mid-write
    assert [f for f in os.listdir(p.parent) if f.endswith(".tmp")] == []


def test_versions_and_limited_threads():
    import torch

    v = versions()
    assert {"python", "numpy", "scipy", "repalign"} <= set(v)
    before = torch.get_num_threads()
    with limited_threads(1) as n:
        assert n == 1 and torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with limited_threads(None) as n:
        assert n == available_cpus()
