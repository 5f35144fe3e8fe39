"""The package's shape: one top-level name, and dependencies that flow one way.

`softloop.prompts` ← `softloop.critics` ← `softloop.agent`; `softloop.bench` (the reference
world and the benchmarks) sits on top and no library module imports it. Checked on the source
(every import statement, at any depth) and on a built wheel.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# package -> the softloop packages it may import
ALLOWED = {
    "prompts": {"prompts"},
    "critics": {"prompts", "critics"},
    "agent": {"prompts", "critics", "agent", "migrations"},
    "migrations": {"prompts", "critics", "agent", "migrations"},
}


def imports_of(path: Path) -> set[str]:
    """The softloop packages a module imports (`softloop.X...` -> X)."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "softloop" and len(parts) > 1:
                found.add(parts[1])
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_the_library_imports_only_downwards_and_never_the_reference_world(package: str) -> None:
    bad = {
        str(path.relative_to(ROOT)): sorted(imports_of(path) - ALLOWED[package])
        for path in sorted((ROOT / package).rglob("*.py"))
        if imports_of(path) - ALLOWED[package]
    }
    assert bad == {}


def test_imports_read_softloop_everywhere() -> None:
    stale = [
        str(path.relative_to(ROOT))
        for top in ("prompts", "critics", "agent", "migrations", "bench", "tests")
        for path in (ROOT / top).rglob("*.py")
        if any(
            isinstance(n, ast.ImportFrom)
            and n.level == 0
            and (n.module or "").split(".")[0]
            in {"prompts", "critics", "agent", "migrations", "bench"}
            for n in ast.walk(ast.parse(path.read_text()))
        )
    ]
    assert stale == []


@pytest.mark.slow
def test_the_wheel_installs_one_top_level_name(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    [wheel] = tmp_path.glob("softloop-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"softloop"}
    for required in (
        "softloop/prompts/__init__.py",
        "softloop/agent/web/templates/base.html",
        "softloop/migrations/versions/0001_initial_schema.py",
        "softloop/migrations/script.py.mako",
        "softloop/bench/reference/model/model.safetensors",
        "softloop/bench/reference/model/config.json",
    ):
        assert required in names, required
    assert not any(n.startswith("softloop/__init__") for n in names)  # a namespace package


def test_softloop_uses_its_own_code_from_a_folder_that_shadows_every_package(tmp_path):
    # A user's project with its own prompts/, agent/, critics/, migrations/, bench/ packages.
    for name in ("prompts", "agent", "critics", "migrations", "bench"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("raise ImportError('the user package')\n")
    code = (
        "import softloop.prompts, softloop.agent.store, softloop.critics, softloop.bench;"
        "from softloop.agent.store.migrate import alembic_config;"
        "loc = alembic_config().get_main_option('script_location');"
        f"assert not loc.startswith({str(tmp_path)!r}), loc;"
        "print(loc)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("migrations")
