"""The dependency locks: requirements.in and requirements-dev.in compiled by `./run lock` into requirements.txt (the
runtime set, all a production image installs) and requirements-dev.txt (the runtime set plus tests and tooling, what
`./run install` gives developers and CI). Every pin carries hashes, the runtime lock holds no test tool, and
`./run install` installs the right lock once per change."""

import importlib.machinery
import importlib.util
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


@dataclass
class Pin:
    version: str
    hashes: set[str] = field(default_factory=set)


def read_lock(path: Path) -> dict[str, Pin]:
    """The lock's pins by canonical name; any line that is neither a pin, its hash, nor a comment fails the test."""
    pins: dict[str, Pin] = {}
    name = None
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if match := PIN.match(line):
            name = canonicalize_name(match[1])
            pins[name] = Pin(match[2])
        elif stripped.startswith("--hash=") and name:
            pins[name].hashes.add(stripped.removeprefix("--hash=").rstrip(" \\"))
        elif stripped and not stripped.startswith("#"):
            raise AssertionError(f"{path.name}: neither a pin `name==version` nor its hash: {line!r}")
    return pins


def read_in(path: Path) -> dict[str, Requirement]:
    """The direct dependencies a .in file names (its -r and -c lines aside)."""
    requirements = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            requirement = Requirement(line)
            requirements[canonicalize_name(requirement.name)] = requirement
    return requirements


def load_run_script():
    """./run as a module (it has no .py suffix), without running its main()."""
    loader = importlib.machinery.SourceFileLoader("omni_run_script", str(ROOT / "run"))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    return module


def test_every_pin_of_both_locks_is_exact_and_hashed():
    for lock in ("requirements.txt", "requirements-dev.txt"):
        pins = read_lock(ROOT / lock)
        assert pins, f"{lock} pins nothing"
        unhashed = sorted(name for name, pin in pins.items() if not pin.hashes)
        assert not unhashed, f"{lock}: pins without a hash: {unhashed}"
        malformed = sorted(name for name, pin in pins.items() if any(not h.startswith("sha256:") for h in pin.hashes))
        assert not malformed, f"{lock}: hashes that are not sha256: {malformed}"


def test_the_runtime_lock_holds_no_test_tool():
    runtime = read_lock(ROOT / "requirements.txt")
    tools = set(read_in(ROOT / "requirements-dev.in")) | {"pytest", "playwright", "ruff"}
    assert not sorted(tools & set(runtime)), "test tools in the runtime lock: move them to requirements-dev.in"


def test_the_dev_lock_holds_the_runtime_lock_at_the_same_versions():
    runtime, dev = read_lock(ROOT / "requirements.txt"), read_lock(ROOT / "requirements-dev.txt")
    missing = sorted(set(runtime) - set(dev))
    assert not missing, f"in requirements.txt, not in requirements-dev.txt: {missing} (./run lock)"
    differ = sorted(name for name, pin in runtime.items() if pin != dev[name])
    assert not differ, f"another version or other hashes in requirements-dev.txt: {differ} (./run lock)"


@pytest.mark.parametrize(
    ("source", "lock"), [("requirements.in", "requirements.txt"), ("requirements-dev.in", "requirements-dev.txt")]
)
def test_each_direct_dependency_is_locked_at_the_version_it_names(source, lock):
    pins = read_lock(ROOT / lock)
    for name, requirement in read_in(ROOT / source).items():
        assert name in pins, f"{source} names {name}, {lock} does not pin it: ./run lock"
        assert requirement.specifier.contains(pins[name].version, prereleases=True), (
            f"{source} asks {name}{requirement.specifier}, {lock} pins {pins[name].version}: ./run lock"
        )


def test_the_locks_come_from_run_lock_on_the_images_python():
    for lock in ("requirements.txt", "requirements-dev.txt"):
        header = (ROOT / lock).read_text()[:300]
        assert "./run lock" in header, f"{lock} was not written by ./run lock"
        assert "with Python 3.11" in header, f"{lock} was compiled for another Python than the image's 3.11"


def test_django_is_on_the_52_lts_series():
    assert read_lock(ROOT / "requirements.txt")["django"].version.startswith("5.2.")


@pytest.fixture
def run_script(tmp_path, monkeypatch):
    """./run with its .venv in tmp_path (an existing one: no venv is made) and copies of the locks; the pip
    commands it would run are recorded, not run."""
    script = load_run_script()
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.touch()
    for name in ("requirements.txt", "requirements-dev.txt"):
        (tmp_path / name).write_bytes((ROOT / name).read_bytes())
    monkeypatch.setattr(script, "VENV", tmp_path / ".venv")
    monkeypatch.setattr(script, "PYTHON", python)
    monkeypatch.setattr(script, "RUNTIME_LOCK", tmp_path / "requirements.txt")
    monkeypatch.setattr(script, "DEV_LOCK", tmp_path / "requirements-dev.txt")
    monkeypatch.delenv("OMNI_INSTALL", raising=False)
    script.installs = []
    monkeypatch.setattr(script, "run", lambda *args, env=None: script.installs.append(args))
    return script


def installed_lock(args: tuple) -> str:
    assert "--require-hashes" in args, "./run install without --require-hashes"
    return Path(args[args.index("-r") + 1]).name


def test_run_install_installs_the_dev_lock_once_per_change(run_script):
    run_script.install()
    run_script.install()
    assert [installed_lock(args) for args in run_script.installs] == ["requirements-dev.txt"]
    with run_script.DEV_LOCK.open("a") as lock:
        lock.write("# changed\n")
    run_script.install()
    assert [installed_lock(args) for args in run_script.installs] == ["requirements-dev.txt"] * 2


def test_run_install_prod_installs_the_runtime_lock_only(run_script, monkeypatch):
    run_script.install(prod=True)
    run_script.install(prod=True)
    run_script.install()  # back to the dev lock: installs again
    monkeypatch.setenv("OMNI_INSTALL", "runtime")  # the image's setting: the runtime lock, whatever the caller says
    run_script.install()
    locks = [installed_lock(args) for args in run_script.installs]
    assert locks == ["requirements.txt", "requirements-dev.txt", "requirements.txt"]
    with run_script.RUNTIME_LOCK.open("a") as lock:
        lock.write("# changed\n")
    run_script.install()
    assert len(run_script.installs) == 4


def test_ci_installs_the_dev_lock():
    lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert "./run install" in lines, ".ci/run no longer installs the dev lock (ruff and lint-imports come from it)"
    assert not any("--prod" in line or "OMNI_INSTALL" in line for line in lines)
