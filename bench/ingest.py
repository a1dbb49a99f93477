"""Tracking ingest: requests and events per second the tracking routes take over HTTP, next to
nginx answering 204 and a no-op route of the same app, at peak and at half of peak.

    .venv/bin/python bench/ingest.py --backend both

Load comes from wrk (one thread, pinned to CPU 0) through bench/ingest.lua; the server (one
uvicorn process running bench/ingest_app.py: the production app plus ``POST /bench/noop``) and
nginx are pinned to CPU 1. See bench/README.md for what it does step by step.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.databases import PG_ADMIN_URL, connect, drop_database, fresh_database  # noqa: E402

HOST = "127.0.0.1"
PG_DATABASE = "leadline_bench_ingest"
# The route bench/ingest_app.py adds (not imported from there: that would load the whole app).
NOOP_PATH = "/bench/noop"
HANDOFF_PATH = "/bench/handoff"
LUA = Path(__file__).with_name("ingest.lua")
ORIGIN_HOST = "bench.example"
ORIGIN = f"https://{ORIGIN_HOST}"
USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)
HEADERS = {"Content-Type": "application/json", "Origin": ORIGIN, "User-Agent": USER_AGENT}
EVENT = {"type": "click", "url": f"{ORIGIN}/p", "data": {"x": 1, "y": 2}}
WRK_TIMEOUT = "10s"
# Debian installs nginx in sbin, which a user's PATH may leave out.
SBIN = ("/usr/local/sbin", "/usr/sbin", "/sbin")
SERVER_CORE, LOAD_CORE = 1, 0
# What --routes may name: nginx's `return 204`, the no-op and hand-off routes of
# bench/ingest_app.py, single events, and batches of 10 and of 100 events.
ROUTES = ("nginx", "noop", "handoff", "single", "batch10", "batch100")


# ------------------------------------------------------------------------------- processes


class Processes:
    """Every child this run starts, each in a process group of its own (so the terminal's
    Ctrl-C reaches only this script, which then stops them in order)."""

    def __init__(self) -> None:
        self.running: list[subprocess.Popen[Any]] = []

    def start(self, command: list[str], **options: Any) -> subprocess.Popen[Any]:
        proc = subprocess.Popen(command, start_new_session=True, **options)
        self.running.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[Any]) -> None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        if proc in self.running:
            self.running.remove(proc)

    def stop_all(self) -> None:
        for proc in reversed(self.running[:]):
            self.stop(proc)


@dataclass(frozen=True)
class Tools:
    wrk: str
    nginx: str | None
    taskset: str | None

    def pinned(self, core: int, command: list[str]) -> list[str]:
        if self.taskset is None:
            return command
        return [self.taskset, "-c", str(core), *command]


def find_tools() -> Tools:
    wrk = shutil.which("wrk")
    if wrk is None:
        sys.exit("wrk is not installed (Debian: apt-get install wrk)")
    path = os.pathsep.join([os.environ.get("PATH", ""), *SBIN])
    nginx = shutil.which("nginx", path=path)
    if nginx is None:
        print("! nginx is not installed (Debian: apt-get install nginx-light): no nginx row")
    taskset = shutil.which("taskset")
    if taskset is None:
        print("! taskset is not installed (Debian: util-linux): processes are not pinned")
    elif (os.cpu_count() or 1) < 2:
        print("! one CPU: processes are not pinned")
        taskset = None
    return Tools(wrk, nginx, taskset)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(proc: subprocess.Popen[Any], port: int, what: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            socket.create_connection((HOST, port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not listen on port {port} within 30 s") from None
            time.sleep(0.05)


NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    # uvicorn keeps a connection open for any number of requests: so does nginx here.
    keepalive_requests 10000000;
    server {{
        listen {host}:{port};
        location / {{ return 204; }}
    }}
}}
"""


@contextlib.contextmanager
def nginx(processes: Processes, tools: Tools, directory: Path) -> Iterator[str]:
    assert tools.nginx is not None
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    port = free_port()
    conf = directory / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=directory, host=HOST, port=port))
    command = [
        tools.nginx,
        "-p",
        str(directory),
        "-c",
        str(conf),
        "-e",
        str(directory / "error.log"),
    ]
    proc = processes.start(tools.pinned(SERVER_CORE, command))
    try:
        wait_for_port(proc, port, "nginx")
        yield f"http://{HOST}:{port}/"
    finally:
        processes.stop(proc)


def leadline_command() -> list[str]:
    script = Path(sys.executable).with_name("leadline")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from leadline.cli import main; main()"]


def leadline(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        [*leadline_command(), *args], env=env, cwd=ROOT, capture_output=True, text=True
    )
    if done.returncode:
        sys.stderr.write(done.stderr)
        raise RuntimeError(f"leadline {' '.join(args)} exited with {done.returncode}")
    return done.stdout


def leadline_env(url: str, **extra: str) -> dict[str, str]:
    """The environment of the CLI and the server: the code of this tree, whatever the
    virtualenv points at, on the database at ``url``; ``extra`` adds settings."""
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "LEADLINE_DATABASE_URL": url,
        "LEADLINE_LOG_LEVEL": "warning",
        **extra,
    }


def bench_site(env: dict[str, str]) -> str:
    """Migrate the database and create the site ``bench.example`` in the workspace ``bench``
    with the real CLI; returns its site key."""
    leadline(["migrate"], env)
    created = leadline(["sites", "create", "--workspace", "bench", "--domain", ORIGIN_HOST], env)
    return created.strip().splitlines()[-1]


@contextlib.contextmanager
def server(
    processes: Processes, tools: Tools, env: dict[str, str], log: Path
) -> Iterator[tuple[str, int]]:
    """The app's base URL and its process id, while it runs."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "bench.ingest_app:app_factory",
        "--factory",
        "--host",
        HOST,
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    with log.open("wb") as out:
        proc = processes.start(
            tools.pinned(SERVER_CORE, command),
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited with {proc.returncode}; see {log}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not answer /health within 60 s")
            time.sleep(0.1)
        yield base, proc.pid
    finally:
        processes.stop(proc)


# ------------------------------------------------------------------------------------ wrk


@dataclass
class Run:
    """One wrk run, as its done() hook reported it."""

    seconds: float
    requests: int
    non_2xx: int  # wrk counts answers with a status of 400 or more
    socket_errors: int
    timeouts: int
    mean_ms: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    target_rate: float | None = None
    # CPU seconds the server process and the database's processes spent during the run, and
    # the share of the machine's CPU time the hypervisor took (steal); None where unknown.
    server_cpu: float | None = None
    database_cpu: float | None = None
    steal: float | None = None

    @property
    def ok(self) -> int:
        return self.requests - self.non_2xx

    @property
    def ok_rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def per_request_us(self, cpu: float | None) -> float | None:
        return cpu / self.requests * 1e6 if cpu is not None and self.requests else None


# ------------------------------------------------------------------------------ CPU time

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu(pid: int) -> float | None:
    """User and system CPU seconds of a process (all its threads), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _TICKS


def database_cpu() -> float | None:
    """CPU seconds of every PostgreSQL process (its command name is ``postgres``)."""
    total, found = 0.0, False
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "postgres":
                continue
        except OSError:
            continue
        cpu = process_cpu(int(entry.name))
        if cpu is not None:
            total, found = total + cpu, True
    return total if found else None


def machine_ticks() -> tuple[int, int] | None:
    """(all, steal) ticks of the machine's CPUs so far, from /proc/stat."""
    try:
        line = Path("/proc/stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    ticks = [int(value) for value in line[1:9]]
    return sum(ticks), ticks[7]


@dataclass
class CpuMeter:
    """CPU time of the server and the database over one run."""

    server_pid: int
    database: bool

    def start(self) -> tuple[float | None, float | None, tuple[int, int] | None]:
        return (
            process_cpu(self.server_pid),
            database_cpu() if self.database else None,
            machine_ticks(),
        )

    def stop(
        self, run: Run, before: tuple[float | None, float | None, tuple[int, int] | None]
    ) -> None:
        server, db, ticks = self.start()
        if server is not None and before[0] is not None:
            run.server_cpu = server - before[0]
        if db is not None and before[1] is not None:
            run.database_cpu = db - before[1]
        if ticks is not None and before[2] is not None and ticks[0] > before[2][0]:
            run.steal = (ticks[1] - before[2][1]) / (ticks[0] - before[2][0])


def wrk(
    processes: Processes,
    tools: Tools,
    url: str,
    bodies: Path,
    connections: int,
    seconds: int,
    rate: float | None = None,
    *,
    headers: dict[str, str] | None = None,
    method: str = "POST",
) -> Run:
    """One wrk run of ``connections`` for ``seconds``, at ``rate`` requests/s or at peak;
    ``headers`` replace the tracking routes' own; with GET, ``bodies`` holds paths."""
    command = [tools.wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", WRK_TIMEOUT]
    command += ["-s", str(LUA)]
    for name, value in (HEADERS if headers is None else headers).items():
        command += ["-H", f"{name}: {value}"]
    command += [url, "--", str(bodies), f"{rate or 0:.1f}", method]
    proc = processes.start(
        tools.pinned(LOAD_CORE, command), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        out, err = proc.communicate(timeout=seconds + 60)
    finally:
        processes.stop(proc)
    found = re.search(r"^WRK_RESULT (\{.*\})$", out, re.MULTILINE)
    if proc.returncode or found is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{out}{err}")
    r = json.loads(found.group(1))
    return Run(
        seconds=r["duration_us"] / 1e6,
        requests=r["requests"],
        non_2xx=r["status"],
        socket_errors=r["connect"] + r["read"] + r["write"],
        timeouts=r["timeout"],
        mean_ms=r["mean_us"] / 1000,
        p50_ms=r["p50_us"] / 1000,
        p99_ms=r["p99_us"] / 1000,
        max_ms=r["max_us"] / 1000,
        target_rate=rate,
    )


# -------------------------------------------------------------------------------- the data


def start_visits(base: str, site_key: str, count: int) -> list[str]:
    body = {
        "siteKey": site_key,
        "url": f"{ORIGIN}/?utm_source=bench",
        "consent": {"mode": "granted"},
    }
    ids = []
    with httpx.Client(base_url=base, headers=HEADERS, timeout=30) as client:
        for _ in range(count):
            response = client.post("/track/session/start", json=body)
            if response.status_code != 200:
                raise RuntimeError(
                    f"/track/session/start answered {response.status_code}: {response.text}"
                )
            ids.append(response.json()["session_id"])
    return ids


def write_bodies(path: Path, site_key: str, visit_ids: list[str], batch: int) -> Path:
    """One request body per visit: a single event, or a batch of ``batch`` events."""
    lines = []
    for visit_id in visit_ids:
        body: dict[str, Any] = {"siteKey": site_key, "sessionId": visit_id}
        if batch == 1:
            body.update(EVENT)
        else:
            body["events"] = [EVENT] * batch
        lines.append(json.dumps(body, separators=(",", ":")))
    path.write_text("\n".join(lines) + "\n")
    return path


class EventCounter:
    """``SELECT count(*) FROM events``, read once the server has stopped writing."""

    def __init__(self, backend: str, url: str) -> None:
        self.conn = connect(backend, url)

    def count(self) -> int:
        row = self.conn.execute("SELECT count(*) FROM events").fetchone()
        return int(row[0])

    def settled(self) -> int:
        """The count once it stops moving: requests in flight when wrk stopped still commit."""
        last = self.count()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            time.sleep(0.25)
            now = self.count()
            if now == last:
                break
            last = now
        return last

    def close(self) -> None:
        self.conn.close()


# ----------------------------------------------------------------------------- measuring


@dataclass(frozen=True)
class Target:
    name: str
    url: str
    bodies: Path
    batch: int  # events per request; 0 for the routes that store nothing


@dataclass
class Measurement:
    name: str
    batch: int
    peak: Run
    half: Run | None
    stored: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def events_rate(self) -> float | None:
        return self.peak.ok_rate * self.batch if self.batch else None


def check_stored(
    label: str, target: Target, run: Run, stored: int, measurement: Measurement, phase: str
) -> None:
    expected = run.ok * target.batch
    measurement.stored[phase] = stored
    # Requests still in flight when wrk stops are stored but not counted by wrk: at peak,
    # about one per connection.
    extra = f" (+{stored - expected:,}: requests in flight at the end)" if stored > expected else ""
    print(
        f"  {label} {phase}: {run.ok:,} answered 2xx x {target.batch} = {expected:,} events; "
        f"{stored:,} stored{extra}",
        flush=True,
    )
    if stored < expected:
        warning = (
            f"{label} {phase}: only {stored:,} events stored for {expected:,} acknowledged: "
            f"{expected - stored:,} acknowledged events are missing"
        )
        measurement.warnings.append(warning)
        print(f"\n!!!!! WARNING: {warning} !!!!!\n", flush=True)


def report_errors(label: str, phase: str, run: Run, measurement: Measurement) -> None:
    if run.non_2xx or run.socket_errors or run.timeouts:
        warning = (
            f"{label} {phase}: {run.non_2xx:,} non-2xx answers, {run.socket_errors:,} socket "
            f"errors, {run.timeouts:,} timeouts (of {run.requests:,} requests)"
        )
        measurement.warnings.append(warning)
        print(f"  ! {warning}", flush=True)


def measure(
    processes: Processes,
    tools: Tools,
    args: argparse.Namespace,
    backend: str,
    target: Target,
    counter: EventCounter | None,
    meter: CpuMeter | None = None,
) -> Measurement:
    label = f"[{backend}] {target.name}"

    def timed(rate: float | None) -> tuple[Run, int | None]:
        wrk(processes, tools, target.url, target.bodies, args.connections, args.warmup, rate)
        before = counter.settled() if counter and target.batch else None
        cpu = meter.start() if meter else None
        run = wrk(
            processes, tools, target.url, target.bodies, args.connections, args.duration, rate
        )
        if meter and cpu:
            meter.stop(run, cpu)
        if before is None or counter is None:
            return run, None
        return run, counter.settled() - before

    peak, stored = timed(None)
    print(
        f"{label}: peak {peak.ok_rate:,.0f} req/s (2xx), p50 {peak.p50_ms:.2f} ms, "
        f"p99 {peak.p99_ms:.2f} ms",
        flush=True,
    )
    measurement = Measurement(target.name, target.batch, peak, None)
    report_errors(label, "peak", peak, measurement)
    if stored is not None:
        check_stored(label, target, peak, stored, measurement, "peak")
    if peak.ok_rate <= 0:
        return measurement
    half, stored = timed(peak.ok_rate / 2)
    measurement.half = half
    print(
        f"{label}: half of peak {half.ok_rate:,.0f} req/s (aimed at {peak.ok_rate / 2:,.0f}), "
        f"p50 {half.p50_ms:.2f} ms, p99 {half.p99_ms:.2f} ms",
        flush=True,
    )
    report_errors(label, "half", half, measurement)
    if stored is not None:
        check_stored(label, target, half, stored, measurement, "half")
    return measurement


@dataclass
class BackendResult:
    backend: str
    # One per route: the median of its rounds (see median_of).
    measurements: list[Measurement]
    server_log: list[str]
    # Every round's measurements of the app's routes, in the order they ran.
    rounds: list[list[Measurement]] = field(default_factory=list)


def median_of(runs: list[Measurement]) -> Measurement:
    """A route's rounds as one measurement: the peak run of median rate, the half-peak run of
    median p99, and every warning."""
    by_rate = sorted(runs, key=lambda m: m.peak.ok_rate)
    middle = by_rate[len(by_rate) // 2]
    halves = sorted((m.half for m in runs if m.half is not None), key=lambda run: run.p99_ms)
    return Measurement(
        name=middle.name,
        batch=middle.batch,
        peak=middle.peak,
        half=halves[len(halves) // 2] if halves else None,
        stored=middle.stored,
        warnings=[warning for m in runs for warning in m.warnings],
    )


def single_to_noop(measurements: list[Measurement]) -> float | None:
    noop = next((m for m in measurements if m.name.startswith("no-op")), None)
    event = next((m for m in measurements if m.name == "POST /track/event"), None)
    if noop is None or event is None or not noop.peak.ok_rate:
        return None
    return event.peak.ok_rate / noop.peak.ok_rate


def run_backend(
    processes: Processes, tools: Tools, args: argparse.Namespace, backend: str, workdir: Path
) -> BackendResult:
    work = workdir / backend
    work.mkdir(parents=True, exist_ok=True)
    url = fresh_database(backend, workdir, PG_DATABASE)
    env = leadline_env(url, LEADLINE_TRACKING_WHITELIST_IPS=HOST)
    counter = None
    try:
        print(f"[{backend}] migrating {url}", flush=True)
        site_key = bench_site(env)
        counter = EventCounter(backend, url)
        measurements = []
        if tools.nginx is not None and "nginx" in args.routes:
            with nginx(processes, tools, work / "nginx") as nginx_url:
                # A single-event body of the same size as the app gets (a visit id is a UUID).
                placeholder = "00000000-0000-0000-0000-000000000000"
                bodies = write_bodies(work / "nginx.txt", site_key, [placeholder], 1)
                target = Target("nginx `return 204`", nginx_url, bodies, 0)
                measurements.append(measure(processes, tools, args, backend, target, None))
        log = work / "server.log"
        with server(processes, tools, env, log) as (base, pid):
            meter = CpuMeter(pid, database=backend == "postgresql")
            visit_ids = start_visits(base, site_key, args.visits)
            print(f"[{backend}] site {site_key}, {len(visit_ids)} visits started", flush=True)
            single = write_bodies(work / "single.txt", site_key, visit_ids, 1)
            targets = []
            if "noop" in args.routes:
                targets.append(
                    Target(f"no-op route (POST {NOOP_PATH})", base + NOOP_PATH, single, 0)
                )
            if "handoff" in args.routes:
                # Where a single event's cost goes: the hand-over to a thread alone.
                targets.append(
                    Target(f"hand-off route (POST {HANDOFF_PATH})", base + HANDOFF_PATH, single, 0)
                )
            if "single" in args.routes:
                targets.append(Target("POST /track/event", base + "/track/event", single, 1))
            for size in (size for size in (10, 100) if f"batch{size}" in args.routes):
                bodies = write_bodies(work / f"batch{size}.txt", site_key, visit_ids, size)
                targets.append(
                    Target(
                        f"POST /track/events/batch ({size})",
                        base + "/track/events/batch",
                        bodies,
                        size,
                    )
                )
            # Rounds interleave the routes, so that a slower stretch of the machine falls on
            # all of them rather than on one.
            rounds = []
            for number in range(1, args.rounds + 1):
                if args.rounds > 1:
                    print(f"[{backend}] round {number} of {args.rounds}", flush=True)
                rounds.append(
                    [measure(processes, tools, args, backend, t, counter, meter) for t in targets]
                )
        for index in range(len(targets)):
            measurements.append(median_of([done[index] for done in rounds]))
        server_log = log.read_text(errors="replace").splitlines()
        return BackendResult(backend, measurements, server_log, rounds)
    finally:
        if counter is not None:
            counter.close()
        if not args.keep:
            drop_database(backend, PG_DATABASE)
            if backend == "sqlite":
                for suffix in ("", "-wal", "-shm"):
                    with contextlib.suppress(FileNotFoundError):
                        os.remove(url.removeprefix("sqlite:///") + suffix)


# --------------------------------------------------------------------------------- output


def _version(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10)
    except OSError:
        return "unknown"
    lines = (done.stdout + done.stderr).strip().splitlines()
    return lines[0] if lines else "unknown"


def wal_facts(conn: Any) -> str:
    """The settings that decide how PostgreSQL's log is written, and how many of its files
    are ready: until there are enough, each new 16 MB file is written full of zeros first,
    while commits wait (on a newly made cluster, for its first gigabyte or so of log)."""
    names = ("shared_buffers", "min_wal_size", "max_wal_size", "wal_init_zero")
    settings = conn.execute(
        "SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY(%s) ORDER BY name",
        (list(names),),
    ).fetchall()
    try:
        (ready,) = conn.execute("SELECT count(*) FROM pg_ls_waldir()").fetchone()
    except Exception:  # pg_ls_waldir needs a superuser or pg_monitor
        conn.rollback()
        ready = "unknown"
    shown = ", ".join(f"{name} {value}" for name, value in settings)
    return f"{shown}; {ready} log files at the start"


def writeback_facts() -> str:
    """When the kernel writes dirty pages of files back: on one disk, a large batch of them
    delays the commits' log flushes queued behind it (see docs/performance.md)."""
    vm = Path("/proc/sys/vm")
    try:
        background = int((vm / "dirty_background_bytes").read_text())
        ratio = (vm / "dirty_background_ratio").read_text().strip()
        expire = int((vm / "dirty_expire_centisecs").read_text())
    except (OSError, ValueError):
        return "unknown"
    start = f"{background // 2**20} MB" if background else f"{ratio}% of memory"
    return f"in the background from {start} dirty, and pages dirty for {expire / 100:g} s"


def machine_facts(tools: Tools, backends: list[str]) -> list[tuple[str, str]]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    import uvicorn

    facts = [
        ("CPU cores", f"{os.cpu_count()} ({cpu})"),
        ("Python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("SQLite", sqlite3.sqlite_version),
    ]
    if "postgresql" in backends:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            facts.append(("PostgreSQL", str(row[0]) if row else "unknown"))
            facts.append(("PostgreSQL's write-ahead log", wal_facts(conn)))
        facts.append(("Page cache writeback", writeback_facts()))
    facts += [
        ("uvicorn", f"{uvicorn.__version__} (uvloop, httptools), 1 process"),
        ("wrk", _version([tools.wrk, "-v"]).split(" Copyright")[0]),
    ]
    if tools.nginx:
        facts.append(("nginx", _version([tools.nginx, "-v"]).removeprefix("nginx version: ")))
    pinning = (
        f"server and nginx on CPU {SERVER_CORE}, wrk on CPU {LOAD_CORE}"
        if tools.taskset
        else "not pinned"
    )
    facts.append(("Pinning", pinning))
    return facts


def print_report(result: BackendResult, args: argparse.Namespace) -> None:
    name = "SQLite" if result.backend == "sqlite" else "PostgreSQL"
    rounds = f", median of {args.rounds} rounds" if args.rounds > 1 else ""
    print(
        f"\n## {name}: {args.connections} connections, {args.duration} s per measurement "
        f"(after {args.warmup} s of warm-up){rounds}\n"
    )
    print(
        "| route | req/s | events/s | p50 ms | p99 ms at peak | rate at half peak "
        "| p99 ms at half peak | non-2xx |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for m in result.measurements:
        events = f"{m.events_rate:,.0f}" if m.events_rate is not None else "-"
        half_rate = f"{m.half.ok_rate:,.0f}" if m.half else "-"
        half_p99 = f"{m.half.p99_ms:.2f}" if m.half else "-"
        non_2xx = m.peak.non_2xx + (m.half.non_2xx if m.half else 0)
        print(
            f"| {m.name} | {m.peak.ok_rate:,.0f} | {events} | {m.peak.p50_ms:.2f} "
            f"| {m.peak.p99_ms:.2f} | {half_rate} | {half_p99} | {non_2xx:,} |"
        )
    noop = next((m for m in result.measurements if m.name.startswith("no-op")), None)
    nginx_row = next((m for m in result.measurements if m.name.startswith("nginx")), None)
    print()
    ratios = [r for r in map(single_to_noop, result.rounds) if r is not None]
    if ratios:
        each = ", ".join(f"{r:.2f}" for r in ratios)
        middle = sorted(ratios)[len(ratios) // 2]
        detail = f" (median; each round: {each})" if len(ratios) > 1 else ""
        print(f"Single event / no-op route: {middle:.2f}{detail}")
    if noop and nginx_row and nginx_row.peak.ok_rate:
        print(f"No-op route / nginx: {noop.peak.ok_rate / nginx_row.peak.ok_rate:.2f}")
    print_cpu(result)
    print(
        "\nreq/s counts 2xx answers; events/s is that times the batch size. The half-peak "
        "column is the rate achieved when aiming at half of the peak's req/s."
    )
    warnings = [w for m in result.measurements for w in m.warnings]
    for warning in warnings:
        print(f"\n**Warning**: {warning}")
    if result.server_log:
        print(f"\nThe server logged {len(result.server_log)} lines; the last ones:\n")
        print("```")
        print("\n".join(result.server_log[-15:]))
        print("```")


def print_cpu(result: BackendResult) -> None:
    """CPU time per request at peak, each round: steadier than rates on a machine whose
    speed varies, and it shows what the database's processes take from the app's cores."""
    runs = [(m.name, m.peak) for done in result.rounds for m in done]
    if not any(run.server_cpu is not None for _, run in runs):
        return
    print("\nCPU time per request at peak (each round; steal: the hypervisor's share of the")
    print("machine's CPU time during the run):\n")
    print("| route | server us/request | PostgreSQL us/request | steal |")
    print("|---|---:|---:|---:|")
    for name, run in runs:
        app = run.per_request_us(run.server_cpu)
        db = run.per_request_us(run.database_cpu)
        print(
            f"| {name} | {f'{app:.0f}' if app is not None else '-'} "
            f"| {f'{db:.0f}' if db is not None else '-'} "
            f"| {f'{run.steal:.0%}' if run.steal is not None else '-'} |"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up before each")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections")
    parser.add_argument("--visits", type=int, default=200, help="visits the events spread over")
    parser.add_argument(
        "--rounds", type=int, default=1, help="measure every app route this many times"
    )
    parser.add_argument(
        "--single-only",
        action="store_true",
        help="measure only the no-op route, the hand-off route and single events: no nginx,"
        " no batches",
    )
    parser.add_argument(
        "--routes",
        help=f"comma-separated, what to measure, of: {', '.join(ROUTES)} (default: all but"
        " handoff)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database and work files")
    parser.add_argument("--workdir", type=Path, help="where the work files go (default: temporary)")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.single_only and args.routes:
        parser.error("--single-only and --routes cannot go together")
    if args.single_only:
        args.routes = {"noop", "handoff", "single"}
    elif args.routes:
        chosen = {part.strip() for part in args.routes.split(",") if part.strip()}
        unknown = sorted(chosen - set(ROUTES))
        if unknown or not chosen:
            parser.error(f"--routes takes some of {', '.join(ROUTES)} (got {args.routes!r})")
        args.routes = chosen
    else:
        args.routes = set(ROUTES) - {"handoff"}
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]

    # A plain `kill` stops the children too: SIGTERM unwinds through the finally blocks.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tools = find_tools()
    temporary = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="leadline-bench-ingest-")) if temporary else args.workdir
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    processes = Processes()
    results = []
    failure: Exception | None = None
    try:
        for backend in backends:
            results.append(run_backend(processes, tools, args, backend, workdir))
    except Exception as exc:
        failure = exc  # reported after the tables of the backends that finished
    finally:
        processes.stop_all()
        if temporary and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        elif args.keep:
            print(f"\nKept the work files in {workdir}", flush=True)

    if not results and failure is not None:
        raise failure
    facts = machine_facts(tools, [r.backend for r in results])
    print("\n# Tracking ingest\n")
    for name, value in facts:
        print(f"- {name}: {value}")
    for result in results:
        print_report(result, args)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "machine": dict(facts),
                    "connections": args.connections,
                    "duration": args.duration,
                    "backends": [
                        {
                            "backend": r.backend,
                            "measurements": [
                                {**asdict(m), "events_rate": m.events_rate} for m in r.measurements
                            ],
                            "rounds": [[asdict(m) for m in done] for done in r.rounds],
                        }
                        for r in results
                    ],
                },
                indent=2,
            )
        )
    if failure is not None:
        raise failure


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        print("\ninterrupted: every child process is stopped", file=sys.stderr)
        sys.exit(130)
