"""The container files and the wheel the image installs. Containers cannot run where the tests
run, so the Dockerfile is linted (by hadolint, which the dev extra installs, and for its
essentials here) and the wheel is built as the image builds it, checked for every file the app
reads, installed in a throwaway environment and run."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
# Files of the package the running app never reads: the browser scripts' sources (their built
# dist/ is what is served), the build tools' manifests, and the test-only vendored files.
NOT_SHIPPED = (
    re.compile(r"^leadline/tracking/static/(src/|package(-lock)?\.json$)"),
    re.compile(r"^leadline/web/vendor/"),
)


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions (keyword, arguments), continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def hadolint() -> str | None:
    """hadolint from the project's own environment (the dev extra installs it), else PATH."""
    beside = Path(sys.executable).parent / "hadolint"
    return str(beside) if beside.exists() else shutil.which("hadolint")


def test_hadolint_passes() -> None:
    linter = hadolint()
    if linter is None:
        if os.environ.get("CI"):
            pytest.fail("hadolint is missing (the dev extra installs it; CI may not skip)")
        pytest.skip("hadolint is not installed (pip install -e '.[dev]'); the essentials test runs")
    result = subprocess.run([linter, str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_dockerfile_has_its_essentials() -> None:
    steps = instructions()
    bases = [rest.split()[0] for keyword, rest in steps if keyword == "FROM"]
    assert bases, "no FROM"
    for base in bases:
        # A slim Python of an exact version, never a moving tag.
        assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim(-\w+)?(@sha256:[0-9a-f]{64})?", base), base
    users = [rest for keyword, rest in steps if keyword == "USER"]
    assert users, "the image runs as root"
    assert users[-1].split(":")[0] not in ("root", "0")
    # The last stage switches user before it states what runs.
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    assert any(keyword == "USER" for keyword, _ in steps[last_from:])
    for keyword, rest in steps:
        if keyword == "ADD":
            assert not re.search(r"https?://|git@", rest), f"ADD of a URL: {rest}"
    health = next(rest for keyword, rest in steps if keyword == "HEALTHCHECK")
    assert "/health" in health
    command = next(rest for keyword, rest in reversed(steps) if keyword == "CMD")
    assert '"leadline", "serve"' in command
    assert '"0.0.0.0"' in command
    runs = " ".join(rest for keyword, rest in steps if keyword == "RUN")
    assert "pip wheel" in runs
    assert "--no-deps" in runs
    assert "pip install /wheels/*.whl" in runs
    # The browser scripts come built (dist/ is checked in): no node in the image.
    assert "npm" not in runs
    assert "node" not in runs


def test_compose_runs_the_app_a_worker_postgresql_and_redis() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"app", "worker", "postgres", "redis"}
    assert services["app"]["command"][:2] == ["leadline", "serve"]
    assert "--no-worker" in services["app"]["command"]
    assert services["worker"]["command"] == ["leadline", "worker"]
    for name in ("app", "worker"):
        env = services[name]["environment"]
        assert env["LEADLINE_DATABASE_URL"].startswith("postgresql://")
        assert "@postgres:5432/" in env["LEADLINE_DATABASE_URL"]
        assert env["LEADLINE_REDIS_URL"] == "redis://redis:6379/0"
        # Secrets come from the environment, never written in the file.
        assert env["LEADLINE_SECRET_KEY"].startswith("${LEADLINE_SECRET_KEY:?")
    assert services["worker"]["depends_on"]["app"]["condition"] == "service_healthy"
    for name in ("postgres", "redis"):
        assert services[name]["volumes"]
        assert services[name]["healthcheck"]["test"]
        assert re.fullmatch(r"\w+:\d+\.\d+(\.\d+)?-\w+", services[name]["image"])
    assert set(compose["volumes"]) == {"postgres-data", "redis-data"}
    # The secrets' template names each one the file asks for.
    asked = set(re.findall(r"\$\{(\w+):\?", (ROOT / "compose.yaml").read_text()))
    example = (ROOT / ".env.example").read_text()
    assert asked == set(re.findall(r"^(\w+)=", example, re.MULTILINE))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built as the image's first stage builds it: from a copy of what the
    Dockerfile copies (so nothing else of the checkout, nor a build folder, gets in)."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "leadline",
        source / "leadline",
        ignore=shutil.ignore_patterns("__pycache__", "node_modules"),
    )
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "--wheel-dir", str(out), "."],
        cwd=source,
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("leadline-*.whl")
    return built


def _tracked() -> list[str]:
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the package's files cannot be listed")
    listed = subprocess.run(
        [git, "ls-files", "leadline"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return listed.stdout.split()


def test_the_wheel_holds_every_file_the_app_reads(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = [name for name in _tracked() if not any(rule.search(name) for rule in NOT_SHIPPED)]
    missing = [name for name in shipped if name not in names]
    assert missing == [], "left out of the wheel (pyproject.toml package-data)"
    for needed in (
        "leadline/tracking/static/dist/tracker.js",
        "leadline/web/templates/leads/list.html",
        "leadline/web/static/leads.js",
        "leadline/migrations/script.py.mako",
        "leadline/kit/data/datacenter_ranges.txt",
    ):
        assert needed in names, needed
    assert any(name.startswith("leadline/migrations/versions/") for name in names)


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throwaway environment with the wheel installed. Its dependencies are this
    environment's, seen through a path file (a plain path: this environment's own path files,
    the editable install among them, are not read), so nothing is downloaded."""
    home = tmp_path_factory.mktemp("env")
    venv.EnvBuilder(with_pip=False).create(home)
    python = home / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(site) / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    with zipfile.ZipFile(wheel) as unpacked:
        unpacked.extractall(site)
    return home


def _entry_point(home: Path) -> list[str]:
    # What `leadline` runs ([project.scripts]), without a script installer.
    return [str(home / "bin" / "python"), "-c", "from leadline.cli import main; main()"]


def test_the_installed_wheel_runs(installed: Path, tmp_path: Path) -> None:
    python = str(installed / "bin" / "python")
    where = subprocess.run(
        [python, "-c", "import leadline; print(leadline.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert where.startswith(str(installed)), where
    env = {"PATH": "/usr/bin:/bin", "LEADLINE_DATABASE_URL": f"sqlite:///{tmp_path}/deploy.db"}
    shown = subprocess.run(
        [*_entry_point(installed), "--help"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert shown.returncode == 0, shown.stderr
    for command in ("serve", "worker", "migrate", "doctor"):
        assert command in shown.stdout
    migrated = subprocess.run(
        [*_entry_point(installed), "migrate"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert migrated.returncode == 0, migrated.stderr
    assert "database is up to date" in migrated.stderr
    checked = subprocess.run(
        [*_entry_point(installed), "doctor"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert "ok   migrations: at the latest revision" in checked.stdout, checked.stdout
    # The app's files are found inside the installed package: a page and a script.
    served = subprocess.run(
        [python, "-c", _SERVE_TWO_FILES],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert served.returncode == 0, served.stderr
    assert served.stdout.split() == ["200", "200", "200"]


_SERVE_TWO_FILES = """
from starlette.testclient import TestClient
from leadline.app import create_app
with TestClient(create_app()) as client:
    print(client.get("/tracker.js").status_code)
    print(client.get("/app/signin").status_code)
    print(client.get("/app/static/leads.js").status_code)
"""
