"""Dependencies point one way (STYLE.md, "Our house" 1): `iclm/` imports nothing above it, and the commands of
packages above it reach `python -m iclm` only through the `iclm.commands` plugin group."""

from __future__ import annotations

import argparse
import ast
import tomllib
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

import iclm.__main__ as iclm_main

ROOT = Path(__file__).resolve().parent.parent
ABOVE_THE_ENGINE = {"analysis", "studio", "views", "app"}


def _imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in a file, at any depth (function-level imports too), and of every
    `importlib.import_module("...")` / `__import__("...")` with a literal name."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                found.append((node.lineno, node.args[0].value))
    return found


def test_the_engine_imports_nothing_above_it():
    files = sorted((ROOT / "iclm").rglob("*.py"))
    assert len(files) > 50  # the scan sees the whole package
    upward = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in files
        for line, module in _imported_modules(path)
        if module.split(".")[0] in ABOVE_THE_ENGINE
    ]
    assert upward == []


def test_the_scan_sees_function_level_and_dynamic_imports(tmp_path):
    source = tmp_path / "example.py"
    source.write_text(
        "import importlib\n"
        "def f():\n"
        "    from analysis.collect import collect\n"
        "    import studio.loaders\n"
        "    return importlib.import_module('analysis.cli')\n"
    )
    assert [m for _, m in _imported_modules(source)] == [
        "importlib",
        "analysis.collect",
        "studio.loaders",
        "analysis.cli",
    ]


def test_pyproject_registers_analyze_as_a_plugin_of_the_engine():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["entry-points"][iclm_main.PLUGIN_GROUP] == {"analyze": "analysis.cli"}
    import analysis.cli as provider

    assert provider.HELP and callable(provider.add_arguments) and callable(provider.run)


def _entry_points(*points: EntryPoint):
    def found(group: str):
        assert group == iclm_main.PLUGIN_GROUP
        return list(points)

    return found


def test_a_plugin_command_is_listed_parsed_and_run(monkeypatch, tmp_path):
    """A provider module (HELP, add_arguments, run) named in the group becomes a subcommand; only the chosen
    one gets its arguments."""
    import sys
    import types

    calls = []
    provider = types.ModuleType("fake_provider")
    provider.HELP = "say hello"
    provider.add_arguments = lambda parser: parser.add_argument("--name", default="x")
    provider.run = lambda args: calls.append(args.name) or 0
    monkeypatch.setitem(sys.modules, "fake_provider", provider)
    point = EntryPoint(name="hello", value="fake_provider", group=iclm_main.PLUGIN_GROUP)
    monkeypatch.setattr(iclm_main, "entry_points", _entry_points(point))
    commands = iclm_main.subcommands()
    assert list(commands) == ["data", "train", "evaluate", "extend", "hello"]
    assert commands["hello"].help == "say hello"
    assert iclm_main.main(["hello", "--name", "ada"]) == 0
    assert calls == ["ada"]


def test_a_plugin_cannot_replace_a_built_in_and_a_broken_one_is_skipped(monkeypatch, caplog):
    points = (
        EntryPoint(name="data", value="analysis.cli", group=iclm_main.PLUGIN_GROUP),
        EntryPoint(name="broken", value="no_such_module_anywhere", group=iclm_main.PLUGIN_GROUP),
    )
    monkeypatch.setattr(iclm_main, "entry_points", _entry_points(*points))
    commands = iclm_main.subcommands()
    assert commands["data"].module == "iclm.cli.data" and "broken" not in commands
    assert "plugin command 'broken'" in caplog.text


def test_without_the_plugin_analyze_is_an_unknown_command(monkeypatch, capsys):
    monkeypatch.setattr(iclm_main, "entry_points", _entry_points())
    with pytest.raises(SystemExit):
        iclm_main.main(["analyze", "ckpt", "--data", "x.jsonl"])
    assert "invalid choice: 'analyze'" in capsys.readouterr().err


def test_python_m_analysis_takes_the_same_arguments():
    import analysis.cli as provider

    parser = argparse.ArgumentParser()
    provider.add_arguments(parser)
    args = parser.parse_args(["ckpt", "--data", "a.jsonl", "--limit", "3"])
    assert (args.checkpoint, args.data, args.limit, args.forced_sample) == ("ckpt", ["a.jsonl"], 3, 32)


def test_analysis_imports_neither_streamlit_nor_the_studio():
    """analysis/ is pure (STYLE.md "Our house" 1, 6): the studio and notebooks import it, never the
    reverse."""
    files = sorted((ROOT / "analysis").rglob("*.py"))
    assert len(files) > 15
    upward = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in files
        for line, module in _imported_modules(path)
        if module.split(".")[0] in {"streamlit", "studio", "views", "app"}
    ]
    assert upward == []
