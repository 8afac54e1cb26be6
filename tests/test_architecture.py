"""The floors of docs/architecture.md hold: `lint-imports` (import-linter, pyproject.toml) keeps each app importing only
from the apps below it and the modules of an app free of cycles, and it fails, naming the two modules, when someone
adds an import that breaks either rule."""

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
APPS = tuple(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["root_packages"])


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def scratch(tmp_path) -> Path:
    """A copy of the apps' source and of pyproject.toml (its contracts), to break on purpose."""
    for app in APPS:
        shutil.copytree(ROOT / app, tmp_path / app, ignore=shutil.ignore_patterns("__pycache__", "static", "templates"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_source_keeps_every_contract():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_an_upward_import_breaks_the_floors_naming_both_modules(scratch):
    phones = scratch / "customers" / "phones.py"
    phones.write_text(phones.read_text() + "\nfrom sidebar import views  # noqa: E402, F401\n")

    result = lint_imports(scratch)

    assert result.returncode == 1
    assert "Each app imports only from the apps below it (docs/architecture.md) BROKEN" in result.stdout
    assert "customers.phones -> sidebar.views" in result.stdout


def test_a_cycle_between_the_modules_of_an_app_breaks_the_acyclic_contract(scratch):
    crypto = scratch / "wecom" / "crypto.py"  # wecom.views imports wecom.crypto
    crypto.write_text(crypto.read_text() + "\nfrom wecom import views  # noqa: E402, F401\n")

    result = lint_imports(scratch)

    assert result.returncode == 1
    assert "No import cycle between the modules of an app BROKEN" in result.stdout
    assert "No cycles are allowed in wecom." in result.stdout


def test_no_cycle_among_the_top_level_apps():
    """Counted from every import of the source (function-level ones too; migrations and tests aside), with the root
    URLconf, which names every app, left out: the apps' graph is acyclic, so they can be listed bottom-up."""
    graph = grimp.build_graph(*APPS, cache_dir=None)
    depends: dict[str, set[str]] = {app: set() for app in APPS}
    for module in graph.modules:
        if ".migrations" in module or module == "omni.urls":
            continue
        for imported in graph.find_modules_directly_imported_by(module):
            if ".migrations" not in imported and imported.split(".")[0] != module.split(".")[0]:
                depends[module.split(".")[0]].add(imported.split(".")[0])

    ordered: list[str] = []
    remaining = dict(depends)
    while remaining:
        ready = sorted(app for app, needs in remaining.items() if needs <= set(ordered))
        assert ready, f"a cycle among {sorted(remaining)}: {remaining}"
        ordered += ready
        for app in ready:
            del remaining[app]
    assert ordered[0] == "omni"
    assert ordered.index("associates") < ordered.index("customers") < ordered.index("clientbook")
    assert ordered.index("sidebar") > max(ordered.index(app) for app in ("coupons", "suggestions", "communities"))
