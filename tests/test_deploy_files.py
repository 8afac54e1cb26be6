"""The deploy files (Dockerfile, compose.yaml, .env.example, .dockerignore) agree with what the tests run. No image is
built here (no Docker engine, no registry), so these checks are what keeps them from drifting: every compose service
of the image runs a role of `./run serve` that the test suite boots, the image installs the runtime lock only and
runs as a non-root user, and every variable the files set is one the code reads, spelt as it reads it."""

import importlib
import importlib.machinery
import importlib.util
import inspect
import json
import re
from pathlib import Path

import pytest
import yaml
from django.urls import Resolver404, resolve

ROOT = Path(__file__).resolve().parent.parent
# `./run serve`'s roles as issue 21 names them, until ./run declares them (ROLES, from the serve branch).
DOCUMENTED_ROLES = ("web", "worker realtime", "worker bulk", "beat")
# Names .env.example documents that the code of other issue-21 branches reads (settings, ./run serve). Once those are
# merged, test_pending_names_are_still_unread is skipped with a reminder to take them out of this set.
PENDING_NAMES: set[str] = set()
# An upper-case string as the first argument of a call or a subscript: env.str("NAME"), os.environ["NAME"],
# environ.Env().str("NAME"), env.get("NAME") in ./run.
READ_NAME = re.compile(r"""[(\[]\s*["']([A-Z][A-Z0-9_]+)["']""")


def load_run_script():
    """./run as a module (it has no .py suffix), without running its main()."""
    loader = importlib.machinery.SourceFileLoader("omni_run_script", str(ROOT / "run"))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    return module


RUN = load_run_script()
ROLES = tuple(getattr(RUN, "ROLES", DOCUMENTED_ROLES))
COMPOSE_TEXT = (ROOT / "compose.yaml").read_text()
COMPOSE = yaml.safe_load(COMPOSE_TEXT)


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined and comments left out."""
    instructions, current = [], ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped.removesuffix("\\") + " "
            continue
        keyword, _, arguments = (current + stripped).partition(" ")
        instructions.append((keyword.upper(), " ".join(arguments.split())))
        current = ""
    return instructions


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def image_services() -> dict[str, dict]:
    """The compose services that run Omni's image (built from ./Dockerfile)."""
    return {name: service for name, service in COMPOSE["services"].items() if "build" in service}


def names_read_by_the_code() -> set[str]:
    """The environment names ./run and the apps' code read (tests and migrations aside)."""
    tops = [top for top in ROOT.iterdir() if top.is_dir() and not top.is_symlink() and top.name[0] not in "._"]
    files = [ROOT / "run", *ROOT.glob("*.py")]
    files += [path for top in tops if top.name not in ("tests", "var") for path in top.rglob("*.py")]
    return {name for path in files if "migrations" not in path.parts for name in READ_NAME.findall(path.read_text())}


def env_example_names() -> set[str]:
    """Every name .env.example sets or shows (a commented `# NAME=default` too)."""
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.M))


def compose_variables() -> set[str]:
    """The ${NAME} compose.yaml fills in from .env."""
    return set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", COMPOSE_TEXT))


def test_run_declares_its_roles():
    if not hasattr(RUN, "ROLES"):
        pytest.skip("./run has no ROLES yet (issue 21's serve branch adds it); the role checks use DOCUMENTED_ROLES")
    assert set(RUN.ROLES) == set(DOCUMENTED_ROLES), "./run serve's roles changed: update compose.yaml and the docs"


def test_every_service_of_the_image_runs_a_role_of_run_serve():
    served = []
    for name, service in image_services().items():
        if name == "migrate":
            continue
        assert "entrypoint" not in service, f"{name}: the image's entrypoint is ./run serve; give a role as command"
        role = " ".join(service.get("command") or ["web"])
        assert role in ROLES, f"{name} runs `./run serve {role}`, which is no role of ./run serve: {ROLES}"
        served.append(role)
    assert sorted(served) == sorted(ROLES), "compose.yaml should run every role of ./run serve exactly once"


def test_migrations_run_once_before_the_other_services_start():
    services = image_services()
    assert services["migrate"]["entrypoint"] == ["./run", "migrate"]
    assert services["migrate"]["restart"] == "no"
    for name, service in services.items():
        if name != "migrate":
            assert service["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}, name


def test_run_migrate_exists():
    if not hasattr(RUN, "ROLES"):
        pytest.skip("`./run migrate` comes with ./run serve (issue 21's serve branch)")
    assert callable(getattr(RUN, "migrate", None)), "compose.yaml's migrate service runs `./run migrate`"


def test_every_role_is_booted_by_the_test_suite():
    if not (ROOT / "tests" / "test_serve.py").exists():
        pytest.skip("tests/test_serve.py (./run serve's tests, issue 21's serve branch) is not here yet")
    test_serve = importlib.import_module("tests.test_serve")
    booted = getattr(test_serve, "BOOTED_ROLES", None)
    if booted is None:
        # Without the constant: its test that boots each role alone takes them from ./run's ROLES.
        boots_alone = getattr(test_serve, "test_each_role_boots_alone", None)
        assert boots_alone and ".ROLES" in inspect.getsource(boots_alone), (
            "tests/test_serve.py should name the roles it boots (BOOTED_ROLES), or boot each of ./run's ROLES in "
            "test_each_role_boots_alone"
        )
        booted = ROLES
    assert set(ROLES) <= set(booted), f"roles compose.yaml deploys that no test boots: {set(ROLES) - set(booted)}"


def test_only_beat_keeps_state_and_the_database_services_are_pinned():
    in_memory = {
        name
        for name, volume in COMPOSE["volumes"].items()
        if (volume or {}).get("driver_opts", {}).get("type") == "tmpfs"
    }
    kept = {
        name
        for name, service in image_services().items()
        if any(mount.split(":")[0] not in in_memory for mount in service.get("volumes", []))
    }
    assert kept == {"beat"}, "only beat writes state worth keeping (its schedule); web's static files are baked"
    # The metrics' multiprocess files: one in-memory folder shared by every process role.
    assert in_memory == {"metrics"}
    services = COMPOSE["services"]
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["redis"]["image"].startswith("redis:7")
    assert services["pgbouncer"]["profiles"] == ["pgbouncer"]
    assert services["pgbouncer"]["environment"]["POOL_MODE"] == "transaction"


def test_the_image_runs_run_serve_as_a_non_root_user():
    stage = final_stage()
    keywords = [keyword for keyword, _ in stage]
    assert json.loads(dict(stage)["ENTRYPOINT"]) == ["./run", "serve"]
    assert " ".join(json.loads(dict(stage)["CMD"])) in ROLES
    users = [arguments for keyword, arguments in stage if keyword == "USER"]
    assert users and users[-1] not in ("root", "0"), "the image should run as its own user"
    assert keywords.index("USER") < keywords.index("ENTRYPOINT")


def test_the_image_installs_the_runtime_lock_only_with_hashes():
    instructions = dockerfile_instructions()
    runs = [arguments for keyword, arguments in instructions if keyword == "RUN"]
    installs = [arguments for arguments in runs if "install" in arguments.split()]
    assert installs == ["./run install --prod"], f"the image installs through ./run install --prod only: {installs}"
    assert "--require-hashes" in inspect.getsource(RUN.install)
    assert "requirements-dev" not in (ROOT / "Dockerfile").read_text()
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in ("requirements-dev.txt", "requirements-dev.in", ".venv", "tests/", ".env"):
        assert entry in ignored, f".dockerignore should keep {entry} out of the image"
    assert any(keyword == "ENV" and "OMNI_INSTALL=runtime" in arguments for keyword, arguments in final_stage())


def test_the_image_is_on_the_python_of_the_locks():
    images = [arguments for keyword, arguments in dockerfile_instructions() if keyword == "ARG"]
    assert "PYTHON_IMAGE=python:3.11-" in " ".join(images)
    assert "with Python 3.11" in (ROOT / "requirements.txt").read_text()[:300]


def test_the_healthcheck_probes_a_route_that_exists():
    healthcheck = dict(final_stage())["HEALTHCHECK"]
    assert "/healthz" in healthcheck
    try:
        resolve("/healthz")
    except Resolver404:
        if hasattr(RUN, "ROLES"):
            raise
        pytest.skip("/healthz comes with ./run serve (issue 21's serve branch)")


def test_every_variable_compose_fills_in_is_in_env_example():
    missing = compose_variables() - env_example_names()
    assert not missing, f"compose.yaml reads ${{…}} that .env.example does not list: {sorted(missing)}"


def test_every_setting_the_files_pass_is_read_by_the_code():
    read = names_read_by_the_code() | PENDING_NAMES
    from_env_example = env_example_names() - compose_variables()
    unread = from_env_example - read
    assert not unread, f".env.example sets names no code reads (misspelt?): {sorted(unread)}"
    for name, service in image_services().items():
        unread = set(service.get("environment", {})) - read
        assert not unread, f"compose.yaml gives {name} names no code reads (misspelt?): {sorted(unread)}"


def test_pending_names_are_still_unread():
    now_read = PENDING_NAMES & names_read_by_the_code()
    if now_read:
        pytest.skip(f"the code reads {', '.join(sorted(now_read))} now: take them out of PENDING_NAMES")


def test_the_code_reading_check_finds_the_settings():
    """The check above must be able to fail: it sees the settings' own names, and not a made-up one."""
    read = names_read_by_the_code()
    assert {"DATABASE_URL", "REDIS_URL", "DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS", "OMNI_PORT"} <= read
    assert "DJANGO_SECRETKEY" not in read
