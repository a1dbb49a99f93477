"""``leadline doctor``: one line per check, ok, warn or fail with what to fix, and exit 1 when
any fails. Run as a newcomer runs it, on the test databases and on real local servers."""

from __future__ import annotations

import http.server
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leadline.cli import app
from leadline.config import Settings
from leadline.doctor import checks, postgres
from leadline.doctor.repository import PgSetting
from leadline.migrations import upgrade
from tests.fixtures.factories import execute_sql
from tests.fixtures.server import free_port

STRONG = "k3y-" + "".join(chr(ord("a") + n % 26) + str(n) for n in range(20))


def lines(output: str) -> dict[str, tuple[str, str]]:
    """The report by check name: (level, message)."""
    found: dict[str, tuple[str, str]] = {}
    for line in output.splitlines():
        level, _, rest = line.partition(" ")
        name, _, message = rest.strip().partition(": ")
        assert level in ("ok", "warn", "fail"), line
        found[name] = (level, message)
    return found


def doctor(cli: CliRunner, *args: str) -> tuple[int, dict[str, tuple[str, str]]]:
    result = cli.invoke(app, ["doctor", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, lines(result.stdout)


def test_a_healthy_installation(
    cli: CliRunner, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADLINE_SECRET_KEY", STRONG)
    code, report = doctor(cli)
    assert code == 0, report
    for name in (
        "config",
        "base URLs",
        "metrics",
        "database",
        "migrations",
        "secret key",
        "disk",
        "redis",
        "clickhouse",
    ):
        assert name in report, name
    assert report["database"][0] == "ok"
    assert report["migrations"] == ("ok", report["migrations"][1])
    assert "latest revision" in report["migrations"][1]
    assert report["secret key"][0] == "ok"
    assert report["redis"][0] == "ok"
    assert "not configured" in report["redis"][1]
    if settings.is_sqlite:
        assert report["disk"][0] in ("ok", "warn")
        assert "GiB free" in report["disk"][1]
    else:
        for name in ("durability", "wal", "checkpoints", "memory", "connections"):
            assert f"postgresql {name}" in report, name


def test_settings_that_do_not_parse_fail(cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADLINE_DATABASE_URL", "mysql://somewhere/leadline")
    monkeypatch.setenv("LEADLINE_API_RATE_LIMIT", "lots")
    result = cli.invoke(app, ["doctor"])
    assert result.exit_code == 1
    assert "fail config: LEADLINE_DATABASE_URL" in result.stdout
    assert "fail config: LEADLINE_API_RATE_LIMIT" in result.stdout


@pytest.mark.parametrize(
    ("value", "why"),
    [("short-one", "characters"), ("a" * 40, "placeholder"), ("changeme" * 5, "placeholder")],
)
def test_a_weak_secret_key_fails(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch, value: str, why: str
) -> None:
    monkeypatch.setenv("LEADLINE_SECRET_KEY", value)
    code, report = doctor(cli)
    assert code == 1
    level, message = report["secret key"]
    assert level == "fail"
    assert why in message
    assert value not in message  # the report never shows the secret


def test_an_unset_secret_key_is_told(cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEADLINE_SECRET_KEY", raising=False)
    code, report = doctor(cli)
    assert code == 0
    assert report["secret key"][0] == "warn"
    assert "LEADLINE_SECRET_KEY is unset" in report["secret key"][1]


def test_a_url_setting_that_is_not_a_url_fails(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADLINE_CRM_FORWARD_URL", "crm.example/hook")
    code, report = doctor(cli)
    assert code == 1
    assert report["base URLs"] == (
        "fail",
        "LEADLINE_CRM_FORWARD_URL: not an absolute http:// or https:// URL (scheme and host)",
    )


def _sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    url = f"sqlite:///{tmp_path / 'doctor.db'}"
    monkeypatch.setenv("LEADLINE_DATABASE_URL", url)
    return Settings(database_url=url)


def test_sqlite_not_made_yet_nor_migrated(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _sqlite(tmp_path, monkeypatch)
    code, report = doctor(cli)
    assert code == 0
    assert report["database"][0] == "warn"
    assert "leadline migrate" in report["database"][1]
    # The doctor reads: it made no file.
    assert not (tmp_path / "doctor.db").exists()
    (tmp_path / "doctor.db").touch()
    code, report = doctor(cli)
    assert report["migrations"] == (
        "warn",
        "the database has no schema yet: run `leadline migrate`",
    )
    upgrade(settings)
    assert doctor(cli)[1]["migrations"][0] == "ok"


def test_pending_and_unknown_migrations(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _sqlite(tmp_path, monkeypatch)
    upgrade(settings, "head")
    upgrade_to_previous(settings)
    code, report = doctor(cli)
    level, message = report["migrations"]
    assert (level, code) == ("warn", 0)
    assert message.startswith("1 migration(s) pending: run `leadline migrate`")
    execute_sql(settings, "UPDATE alembic_version SET version_num = 'f00dfeedbeef'")
    code, report = doctor(cli)
    assert code == 1
    assert report["migrations"][0] == "fail"
    assert "f00dfeedbeef" in report["migrations"][1]


def upgrade_to_previous(settings: Settings) -> None:
    from alembic import command

    from leadline.migrations import alembic_config

    command.downgrade(alembic_config(settings), "-1")


def test_an_unreachable_database_fails(cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADLINE_DATABASE_URL", f"postgresql://nobody@127.0.0.1:{free_port()}/x")
    code, report = doctor(cli)
    assert code == 1
    level, message = report["database"]
    assert level == "fail"
    assert "PostgreSQL does not answer" in message
    assert "nobody" not in message


def test_redis(cli: CliRunner, monkeypatch: pytest.MonkeyPatch, redis_url: str) -> None:
    monkeypatch.setenv("LEADLINE_REDIS_URL", redis_url)
    code, report = doctor(cli)
    assert report["redis"] == ("ok", "127.0.0.1:6379 answers")
    monkeypatch.setenv("LEADLINE_REDIS_URL", f"redis://:s3cret@127.0.0.1:{free_port()}/0")
    code, report = doctor(cli)
    assert code == 1
    assert report["redis"][0] == "fail"
    assert "s3cret" not in report["redis"][1]


@pytest.fixture
def clickhouse() -> Iterator[tuple[str, list[int]]]:
    """A local server answering ClickHouse's ``GET /ping`` with the statuses queued."""
    statuses: list[int] = []

    class Ping(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status = statuses.pop(0) if statuses else 200
            body = b"Ok.\n" if self.path == "/ping" and status == 200 else b"no"
            self.send_response(status if self.path == "/ping" else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ping)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://default:pw@127.0.0.1:{server.server_address[1]}", statuses
    finally:
        server.shutdown()
        server.server_close()


def test_clickhouse(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch, clickhouse: tuple[str, list[int]]
) -> None:
    url, statuses = clickhouse
    monkeypatch.setenv("LEADLINE_CLICKHOUSE_URL", url)
    code, report = doctor(cli)
    assert report["clickhouse"][0] == "ok"
    # The database in the URL's path is not part of the server's /ping.
    monkeypatch.setenv("LEADLINE_CLICKHOUSE_URL", url + "/leadline")
    code, report = doctor(cli)
    assert report["clickhouse"][0] == "ok"
    monkeypatch.setenv("LEADLINE_CLICKHOUSE_URL", "chdb:///var/lib/leadline/ch?database=leadline")
    code, report = doctor(cli)
    assert report["clickhouse"][0] == "warn"
    monkeypatch.setenv("LEADLINE_CLICKHOUSE_URL", url)
    statuses.append(503)
    code, report = doctor(cli)
    assert code == 1
    assert report["clickhouse"][0] == "fail"
    assert "503" in report["clickhouse"][1]
    monkeypatch.setenv("LEADLINE_CLICKHOUSE_URL", f"http://127.0.0.1:{free_port()}")
    code, report = doctor(cli)
    assert code == 1
    assert report["clickhouse"][0] == "fail"
    assert "pw" not in report["clickhouse"][1]


def test_low_disk_space(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(checks, "DISK_WARN_BYTES", 1 << 62)
    assert checks._disk(tmp_path / "x.db").level == "warn"
    monkeypatch.setattr(checks, "DISK_FAIL_BYTES", 1 << 62)
    found = checks._disk(tmp_path / "x.db")
    assert found.level == "fail"
    assert "free space or move the database" in found.message


def _pg(**values: tuple[str, str | None]) -> dict[str, PgSetting]:
    defaults = {
        "fsync": ("on", None),
        "synchronous_commit": ("on", None),
        "full_page_writes": ("on", None),
        "min_wal_size": ("1024", "MB"),
        "max_wal_size": ("4096", "MB"),
        "checkpoint_timeout": ("300", "s"),
        "shared_buffers": ("262144", "8kB"),
        "max_connections": ("200", None),
        "superuser_reserved_connections": ("3", None),
    }
    defaults.update(values)
    return {name: PgSetting(name, setting, unit) for name, (setting, unit) in defaults.items()}


def test_postgresql_settings_for_heavy_tracking() -> None:
    good = {f.check: f for f in postgres.judge(_pg(), processes=2, in_use=5)}
    assert {f.level for f in good.values()} == {"ok"}
    assert "room for 4 Leadline process(es)" in good["postgresql connections"].message
    # PostgreSQL's defaults.
    shipped = _pg(
        min_wal_size=("80", "MB"),
        max_wal_size=("1024", "MB"),
        shared_buffers=("16384", "8kB"),
        max_connections=("100", None),
    )
    found = {f.check: f for f in postgres.judge(shipped, processes=3)}
    assert found["postgresql wal"].level == "warn"
    assert "min_wal_size = 1GB" in found["postgresql wal"].message
    assert found["postgresql checkpoints"].level == "warn"
    assert "max_wal_size = 4GB" in found["postgresql checkpoints"].message
    assert found["postgresql memory"].level == "warn"
    assert "128 MB" in found["postgresql memory"].message
    assert found["postgresql connections"].level == "warn"
    assert "raise max_connections to 136" in found["postgresql connections"].message
    unsafe = postgres.judge(_pg(synchronous_commit=("off", None)), processes=1)
    assert unsafe[0].level == "warn"
    assert "synchronous_commit = on" in unsafe[0].message
    assert postgres.judge(_pg(fsync=("off", None)), processes=1)[0].level == "fail"


def test_the_sqlite_library_is_judged_by_the_write_ahead_log_reset_fix(
    cli: CliRunner, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert checks.sqlite_library((3, 40, 1)).level == "warn"
    assert "3.51.3" in checks.sqlite_library((3, 40, 1)).message
    assert checks.sqlite_library((3, 51, 2)).level == "warn"
    assert checks.sqlite_library((3, 50, 6)).level == "warn"
    for fixed in ((3, 51, 3), (3, 53, 1), (3, 50, 7), (3, 44, 6)):
        assert checks.sqlite_library(fixed).level == "ok", fixed
    monkeypatch.setenv("LEADLINE_SECRET_KEY", STRONG)
    code, report = doctor(cli)
    assert code == 0, report
    if settings.is_sqlite:
        assert report["sqlite"][1].startswith(f"SQLite {sqlite3.sqlite_version}")
    else:
        assert "sqlite" not in report
