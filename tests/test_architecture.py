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


def _import_graph(root: Path) -> dict[str, set[str]]:
    """repalign module -> repalign modules it imports (at the top or inside functions)."""
    import ast

    mods = {}
    for f in root.rglob("*.py"):
        parts = list(f.relative_to(root.parent).with_suffix("").parts)
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    graph = {m: set() for m in mods}
    for m, f in mods.items():
        here = m.split(".") if f.name == "__init__.py" else m.split(".")[:-1]
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = ".".join((here[:len(here) - node.level + 1] if node.level else []) + ([node.module] if node.module else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            for t in targets:
                while t and t not in mods:
                    t = t.rpartition(".")[0]
                if t and t != m:
                    graph[m].add(t)
    return graph


def test_no_import_circle():
    """Layers point one way: no module of repalign imports (even lazily, inside a function) a module
    that imports it back, directly or through others (issue 18)."""
    graph = _import_graph(Path(repalign.__file__).parent)
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        path.append(m)
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                raise AssertionError("import circle: " + " -> ".join(path[path.index(t):] + [t]))
            if t not in state:
                visit(t)
        path.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert "repalign.registry" in graph and graph["repalign.registry"], "the graph was read"


def test_no_source_file_over_500_lines():
    too_long = {str(f.relative_to(Path(repalign.__file__).parent)): n
                for f in Path(repalign.__file__).parent.rglob("*.py")
                if (n := len(f.read_text().splitlines())) > 500}
    assert not too_long, f"files over 500 lines (split them by concern): {too_long}"
