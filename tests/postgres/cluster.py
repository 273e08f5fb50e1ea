"""A throwaway PostgreSQL cluster for tests: initdb in a temporary directory, listening on 127.0.0.1 only.

Plain module (no pytest): `start_cluster(base_dir)` returns a running `Cluster`; `Cluster.stop()` stops it.
When run as root the server runs as the `postgres` OS user (PostgreSQL refuses to run as root). The test role
`auriko` logs in over TCP with a password (scram-sha-256); the superuser `postgres` is reached over the unix
socket with trust, only for setup and fault injection (`psql`, `terminate_connections`, `restart`).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Cluster", "start_cluster", "find_binaries", "missing_reason", "reap_stale_clusters", "USER", "PASSWORD",
           "DATABASE"]

USER = "auriko"
PASSWORD = "pw-S3cret-test"
DATABASE = "auriko"
SUPERUSER = "postgres"
OS_USER = "postgres"  # the server's OS user when the tests run as root
START_TIMEOUT_S = 60
_NEEDED = ("initdb", "pg_ctl", "postgres", "psql")


def _complete(bin_dir: Path) -> bool:
    return all(os.access(bin_dir / name, os.X_OK) for name in _NEEDED)


def find_binaries() -> Path | None:
    """The directory holding initdb, pg_ctl, postgres and psql, or None.

    PATH's initdb when it is (a link to) the real program (not Debian's wrapper script), else the newest
    /usr/lib/postgresql/*/bin, else `pg_config --bindir`.
    """
    on_path = shutil.which("initdb")
    if on_path:
        real = Path(os.path.realpath(on_path)).parent
        if _complete(real):
            return real
    versions = []
    for d in glob.glob("/usr/lib/postgresql/*/bin"):
        m = re.search(r"/postgresql/(\d+)(?:\.(\d+))?/bin$", d)
        if m and _complete(Path(d)):
            versions.append(((int(m.group(1)), int(m.group(2) or 0)), Path(d)))
    if versions:
        return max(versions)[1]
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True)
            bin_dir = Path(out.stdout.strip())
            if _complete(bin_dir):
                return bin_dir
    return None


def missing_reason() -> str | None:
    """Why no cluster can be started here (one line), or None when one can."""
    if find_binaries() is None:
        return ("no PostgreSQL server binaries (initdb, pg_ctl, postgres, psql) on PATH, in "
                "/usr/lib/postgresql/*/bin or at `pg_config --bindir`: apt-get install postgresql")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(OS_USER)
        except KeyError:
            return f"running as root and no {OS_USER!r} OS user to run the PostgreSQL server as"
        if shutil.which("runuser") is None:
            return "running as root and no `runuser` to start the PostgreSQL server as another user"
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _clean_env() -> dict[str, str]:
    """The environment without PG* variables (a developer's PGHOST must not redirect the tests) and a C locale."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(LC_ALL="C", LANG="C")
    return env


@dataclass
class Cluster:
    """A running throwaway cluster: `.port`, `.url()`, superuser `psql`, fault injection, `stop()`."""

    bin_dir: Path
    root: Path  # holds data/ (PGDATA), the unix socket and server.log
    port: int
    as_root: bool
    remove_root: bool = True
    running: bool = field(default=False)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    # -- URLs --------------------------------------------------------------------------------------------

    def url(self, database: str = DATABASE, password: bool = True) -> str:
        """`postgresql://auriko:PASSWORD@127.0.0.1:PORT/database` (without the password if password=False)."""
        auth = f"{USER}:{PASSWORD}" if password else USER
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create database `name` owned by `auriko`; returns its URL (with the password)."""
        self.psql(f'CREATE DATABASE "{name}" OWNER {USER}')
        return self.url(name)

    # -- the superuser, over the unix socket -------------------------------------------------------------

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run `sql` as the superuser over the unix socket; returns psql's unaligned output (rows, `|`)."""
        cmd = [str(self.bin_dir / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
               "-h", str(self.socket_dir), "-p", str(self.port), "-U", SUPERUSER, "-d", database, "-c", sql]
        out = self._run(cmd, timeout=60, as_server_user=False)
        return out.strip()

    execute = psql

    def terminate_connections(self, database: str = DATABASE) -> int:
        """Kill every backend connected to `database` (a dropped connection); returns how many."""
        out = self.psql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        f"WHERE datname = '{database}' AND pid <> pg_backend_pid()")
        return int(out or 0)

    # -- life cycle ---------------------------------------------------------------------------------------

    def _server_options(self) -> str:
        return f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1"

    def _pg_ctl(self, *args: str) -> None:
        cmd = [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), *args]
        self._run(cmd, timeout=START_TIMEOUT_S + 30, as_server_user=True)

    def start(self) -> None:
        self._pg_ctl("-l", str(self.log_file), "-o", self._server_options(), "-w", "-t", str(START_TIMEOUT_S),
                     "start")
        self.running = True

    def restart(self) -> None:
        """Fast restart (every client connection dropped), waiting until it accepts connections again."""
        self._pg_ctl("-l", str(self.log_file), "-o", self._server_options(), "-m", "fast", "-w", "-t",
                     str(START_TIMEOUT_S), "restart")
        self.running = True

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its directory; idempotent."""
        if self.running:
            with contextlib.suppress(RuntimeError):
                self._pg_ctl("-m", "fast", "-w", "-t", str(START_TIMEOUT_S), "stop")
            self.running = False
        if self.remove_root and self.root.exists():
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    # -- running the tools -------------------------------------------------------------------------------

    def _run(self, cmd: list[str], *, timeout: float, as_server_user: bool) -> str:
        if as_server_user and self.as_root:
            cmd = ["runuser", "-u", OS_USER, "--", *cmd]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_clean_env(),
                                  cwd=self.root, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            raise RuntimeError(f"{' '.join(cmd)}: timed out after {timeout} s") from e
        if done.returncode != 0:
            tail = self.log_file.read_text(errors="replace")[-2000:] if self.log_file.exists() else ""
            raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()}\n{tail}")
        return done.stdout


ROOT_PREFIX = "auriko-pg-"
OWNER_FILE = "owner.pid"  # the pid of the process that started the cluster


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_stale_clusters(bin_dir: Path | None = None) -> int:
    """Stop and remove the clusters in the temp dir whose starting process is gone (a test run killed before
    its teardown); returns how many. Only directories this module made (`auriko-pg-*` with an owner file)."""
    bin_dir = bin_dir or find_binaries()
    reaped = 0
    for root in Path(tempfile.gettempdir()).glob(ROOT_PREFIX + "*"):
        try:
            owner = int((root / OWNER_FILE).read_text().strip())
        except (OSError, ValueError):
            continue
        if _alive(owner) or bin_dir is None:
            continue
        stale = Cluster(bin_dir=bin_dir, root=root, port=0, as_root=os.geteuid() == 0, running=True)
        stale.stop()
        reaped += 1
    return reaped


def _make_root(base_dir: Path, as_root: bool) -> tuple[Path, bool]:
    """A fresh directory for the cluster, reachable by the server's user and short enough for a unix socket.

    As root, pytest's base directories are private (0700), so the cluster lives in a new directory in the
    system temp dir, owned by `postgres`, removed by `stop()`.
    """
    base_dir = Path(base_dir)
    if not as_root and len(str(base_dir)) < 60:
        base_dir.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix="pg-", dir=base_dir)), False
    root = Path(tempfile.mkdtemp(prefix=ROOT_PREFIX))
    (root / OWNER_FILE).write_text(str(os.getpid()))
    if as_root:
        entry = pwd.getpwnam(OS_USER)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    return root, True


def start_cluster(base_dir: Path, *, fsync: bool = False) -> Cluster:
    """initdb + start a cluster on a free 127.0.0.1 port, with role and database `auriko`; raise if impossible.

    `fsync=False` (default) skips disk flushes: the cluster is thrown away, and a killed client or a fast
    restart still loses nothing committed (only an OS crash would).
    """
    reason = missing_reason()
    if reason:
        raise RuntimeError(reason)
    bin_dir = find_binaries()
    assert bin_dir is not None
    as_root = os.geteuid() == 0
    reap_stale_clusters(bin_dir)
    root, remove = _make_root(base_dir, as_root)
    cluster = Cluster(bin_dir=bin_dir, root=root, port=0, as_root=as_root, remove_root=remove)
    try:
        cluster._run([str(bin_dir / "initdb"), "-D", str(cluster.data_dir), "-U", SUPERUSER, "-E", "UTF8",
                      "--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync"],
                     timeout=120, as_server_user=True)
        with open(cluster.data_dir / "postgresql.conf", "a") as conf:  # root can write the postgres-owned file
            conf.write(f"\nfsync = {'on' if fsync else 'off'}\nmax_connections = 200\nlog_min_messages = warning\n")
        for attempt in range(3):  # the free port may be taken between finding it and binding it
            cluster.port = _free_port()
            try:
                cluster.start()
                break
            except RuntimeError:
                if attempt == 2:
                    raise
        cluster.psql(f"CREATE ROLE {USER} LOGIN CREATEDB PASSWORD '{PASSWORD}'")
        cluster.psql(f"CREATE DATABASE {DATABASE} OWNER {USER}")
    except BaseException:
        cluster.stop()
        raise
    return cluster
