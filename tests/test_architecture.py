"""The structure docs/architecture.md describes: the CLI's imports, the engine's names, and toy
measures that stay inside the test that registers them."""

from __future__ import annotations

import pkgutil
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import repalign
import repalign.commands
from _helpers import toy_measure_names, toy_measures
from repalign.registry import unregister
from repalign import cli, registry
from repalign.engine import Source, resolve_systems
from repalign.engine import sources as engine_sources
from repalign.geometry.cka import CKA

TESTS = Path(__file__).parent


# --------------------------------------------------------------------------- CLI
def test_cli_imports_every_command_module_by_name_in_help_order():
    modules = {m.name for m in pkgutil.iter_modules(repalign.commands.__path__)}
    assert {c.__name__.rsplit(".", 1)[1] for c in cli.COMMANDS} == modules
    listed = re.findall(r"^    (\w+) ", cli.build_parser().format_help(), flags=re.M)
    assert listed == ["demo", "example", "compare", "sweep", "results", "bench", "study", "train", "report"]


def test_building_the_parser_imports_neither_torch_nor_pandas_nor_the_engine():
    """`repalign --help` must stay fast: the heavy layers load when a command runs, not before."""
    code = ("import sys; from repalign.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('torch', 'pandas', 'matplotlib.pyplot', 'repalign.engine', 'repalign.studies',"
            " 'repalign.train', 'repalign.report_card') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


# --------------------------------------------------------------------------- names
def test_source_is_the_engine_class_and_system_a_deprecated_alias(tmp_path):
    np.save(tmp_path / "a.npy", np.arange(6.0).reshape(3, 2))
    (found,) = resolve_systems(str(tmp_path / "a.npy"))
    assert type(found) is Source and found.name == "a" and found.load().shape == (3, 2)
    with pytest.warns(DeprecationWarning, match="use Source"):
        assert engine_sources.System is Source
    with pytest.warns(DeprecationWarning, match="use Source"):
        from repalign.engine import System
    assert System is Source
    with pytest.raises(AttributeError):
        engine_sources.NoSuchName  # noqa: B018


# --------------------------------------------------------------------------- toy measures
class _ToyCKA(CKA):
    """CKA under a test-only name."""

    name = "_test_architecture_toy"


def test_toy_measures_exist_only_inside_the_block():
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((12, 3)), rng.standard_normal((12, 4))
    with toy_measures(_ToyCKA) as names:
        assert names == [_ToyCKA.name]
        registry.register_alias("_test_architecture_alias", _ToyCKA.name, kernel="rbf")
        assert repalign.compare(X, Y, _ToyCKA.name) == repalign.compare(X, Y, "cka")
        assert repalign.pairwise([X, Y], "_test_architecture_alias")[0, 1] == pytest.approx(
            repalign.compare(X, Y, "rbf_cka"), abs=1e-12)
    known = {m.name for m in repalign.measures()}
    assert _ToyCKA.name not in known and "_test_architecture_alias" not in known
    with pytest.raises(RuntimeError, match="inside"), toy_measures(_ToyCKA):
        raise RuntimeError("a failure inside the block")
    with pytest.raises(ValueError, match="unknown measure"):
        repalign.get_measure(_ToyCKA.name)


def test_toy_measure_names_sees_a_measure_registered_at_import():
    """What tests/conftest.py's session check reads: any registered class from outside repalign."""
    assert toy_measure_names() == set()
    registry.register(_ToyCKA)  # as a test module's import-time @register would
    try:
        assert toy_measure_names() == {_ToyCKA.name}
    finally:
        unregister(_ToyCKA.name)
    assert toy_measure_names() == set()


def test_conftest_fails_a_test_that_leaves_a_measure_registered(tmp_path):
    """A throw-away test tree with this conftest: the leaking test fails, naming the measure."""
    for name in ("conftest.py", "_helpers.py"):
        shutil.copy(TESTS / name, tmp_path / name)
    (tmp_path / "test_leak.py").write_text(textwrap.dedent("""
        from repalign.geometry.cka import CKA
        from repalign.registry import register

        class Toy(CKA):
            name = "_test_leaky"

        def test_forgets_to_unregister():
            register(Toy)
        """))
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_leak.py"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert run.returncode != 0
    assert "the test left measures registered: ['_test_leaky']" in run.stdout, run.stdout[-3000:]
