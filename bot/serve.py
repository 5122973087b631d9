"""Start the action server and the Rasa server together, print the addresses, stop both on Ctrl-C.

Security defaults (README, "Deployment"): Rasa's HTTP API is off unless RASA_API_TOKEN (token) or
RASA_JWT_SECRET (JWT) is set; CORS allows only the widget demo page's origins unless CORS_ORIGINS says
otherwise; request bodies over SANIC_REQUEST_MAX_SIZE bytes (default 64 KB) are refused with 413 before
they reach a channel. REDIS_URL switches the lock store to Redis (needed for several Rasa replicas).

Cores (bot.workers): RASA_WORKERS Rasa server processes (default: one per core; 1 is the single-process
set-up) answer behind HAProxy on the Rasa port, sharing the tracker store and a lock store that works
across processes (Redis with REDIS_URL, otherwise an SQLite file private to this run).

Privacy defaults (README, "Privacy"; bot.privacy): the servers run with umask 077, their logs and the
SQLite tracker store are 0600 in 0700 folders, log lines carry no user text, sender id or secret, and the
Rasa server reads RASA_API_TOKEN / RASA_JWT_SECRET from its environment (`python -m bot.runtime run`),
never from its command line, which every local user can read.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional


from bot.endpoints import StartupError, action_host, check_stores, write_credentials, write_endpoints
from bot.locks import SQLiteLockStore
from bot.paths import ROOT, VAR
from bot.privacy import SQLITE_SIDE_FILES, PRIVATE_UMASK, open_private_log
from bot.privacy import api_arguments  # noqa: F401  (the `rasa run` API options; bot.runtime adds them)
from bot.widget import server_command
from bot.workers import WorkersError, answers, find_haproxy, runs_without_model, worker_count

DEFAULT_MODEL = ROOT / "models" / "current.tar.gz"
QUIET_ENV = {
    "RASA_TELEMETRY_ENABLED": "false",
    "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "PYTHONWARNINGS": "ignore",
}
DEFAULT_REQUEST_MAX_SIZE = 64 * 1024  # bytes; Sanic's own default is 100 MB


@dataclass
class ServerSettings:
    """Ports, model and options of one bot deployment (defaults match shared/CONTRACT.md)."""

    model: Path = DEFAULT_MODEL
    rasa_port: int = 5005
    action_port: int = 5055
    widget_port: int = 5080
    host: str = "127.0.0.1"
    cors: Optional[str] = None  # allowed origins, separated by spaces or commas; None: the widget page's
    log_dir: Path = VAR / "logs"
    env: Dict[str, str] = field(default_factory=dict)
    actions: str = "actions"  # Python package of the custom actions
    workers: Optional[int] = None  # Rasa server processes; None: RASA_WORKERS, default one per core
    startup_timeout: float = 180.0

    @property
    def rasa_url(self) -> str:
        """Base address of the Rasa server."""
        return f"http://{self.host}:{self.rasa_port}"

    @property
    def widget_url(self) -> str:
        """Address of the widget's demo page (the widget itself is at /widget.js)."""
        return f"http://{self.host}:{self.widget_port}/"

    @property
    def action_url(self) -> str:
        """Webhook address of the action server (ACTION_HOST, loopback by default)."""
        return f"http://{action_host({**os.environ, **self.env})}:{self.action_port}/webhook"

    @property
    def cors_origins(self) -> List[str]:
        """Origins allowed to call the Rasa server from a browser: `cors`, or the widget demo page's."""
        if self.cors is not None:
            return [o for o in self.cors.replace(",", " ").split() if o]
        hosts = ["127.0.0.1", "localhost"] if self.host == "0.0.0.0" else [self.host, "127.0.0.1", "localhost"]
        return [f"http://{h}:{self.widget_port}" for h in dict.fromkeys(hosts)]


def _wait_http(url: str, process: subprocess.Popen, log: Path, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StartupError(
                f"{what} exited with code {process.returncode} before answering at {url}. "
                f"Its log is {log}; the last lines:\n{_tail(log)}"
            )
        if answers(url):
            return
        time.sleep(0.5)
    raise StartupError(f"{what} did not answer at {url} within {timeout:.0f} s. See {log}:\n{_tail(log)}")


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class BotServers:
    """The action server and Rasa server as child processes; usable as a context manager."""

    def __init__(self, settings: ServerSettings) -> None:
        """Prepare (not start) the servers."""
        self.settings = settings
        self.processes: List[subprocess.Popen] = []
        self._tmp = tempfile.TemporaryDirectory(prefix="exobot-")
        self.env = {**os.environ, **QUIET_ENV, **settings.env}
        self.channel_notes: List[str] = []
        self.worker_count = 1  # Rasa server processes of the running set-up (start_rasa_server)
        self.worker_note = ""  # why fewer processes run than cores, if so

    def _spawn(self, name: str, args: List[str], env: Optional[Dict[str, str]] = None) -> tuple[subprocess.Popen, Path]:
        log = self.settings.log_dir / f"{name}.log"
        handle = open_private_log(log)  # 0600, in a 0700 folder
        try:
            # umask 077: whatever the server creates (the SQLite file, its -wal and -shm) is its owner's only.
            process = subprocess.Popen(
                args,
                cwd=ROOT,
                env=env or self.env,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                umask=PRIVATE_UMASK,
            )
        finally:
            handle.close()  # the child has its own copy
        self.processes.append(process)
        return process, log

    def start_action_server(self) -> None:
        """Start the rasa-sdk action server and wait until it answers."""
        s = self.settings
        # The Rasa server's request limit is not for the action server, which receives whole conversations.
        env = {k: v for k, v in self.env.items() if k != "SANIC_REQUEST_MAX_SIZE"}
        process, log = self._spawn(
            "action-server",
            [sys.executable, "-m", "bot.action_server", "--port", str(s.action_port), "--actions", s.actions],
            env,
        )
        _wait_http(
            f"http://{action_host(env)}:{s.action_port}/health", process, log, s.startup_timeout, "The action server"
        )
        self.action_process = process

    def rasa_workers(self) -> int:
        """How many Rasa server processes to start: settings, RASA_WORKERS or one per core (1 without HAProxy)."""
        try:
            count = self.settings.workers or worker_count(self.env)
        except WorkersError as error:
            raise StartupError(str(error)) from None
        if count > 1 and find_haproxy() is None:
            if self.settings.workers or self.env.get("RASA_WORKERS", "").strip():
                raise StartupError(
                    f"RASA_WORKERS={count} needs HAProxy in front of the Rasa processes, and it is not installed. "
                    "Install it (scripts/install-system-deps, or apt-get install haproxy) or set RASA_WORKERS=1."
                )
            self.worker_note = "workers: one Rasa process (install haproxy to use every core; see RASA_WORKERS)"
            return 1
        return count

    def start_rasa_server(self) -> None:
        """Start the Rasa server (REST and socket.io channels) and wait until its model is loaded: one process,
        or RASA_WORKERS processes behind HAProxy (bot.workers) on the same port."""
        check_stores(self.env)
        s = self.settings
        if not Path(s.model).is_file():
            raise StartupError(f"No trained model at {s.model}. Train one with `make train` (or `make run`).")
        self.worker_count = count = self.rasa_workers()
        credentials, self.channel_notes = write_credentials(self.env, Path(self._tmp.name))
        lock_file = None
        if count > 1:
            lock_file = Path(self._tmp.name) / "locks.db"  # this run's processes only; stale locks go with a restart
            for suffix in ("", *SQLITE_SIDE_FILES):
                Path(f"{lock_file}{suffix}").unlink(missing_ok=True)
            SQLiteLockStore.prepare(lock_file)  # created here, once, not by the processes at the same moment
        # `rasa run` through bot.runtime: the API token and JWT secret (api_arguments) are read from the
        # environment there, so they are not on this command line, which `ps` shows to every local user.
        rasa_args = [
            "--model",
            str(s.model),
            "--credentials",
            str(credentials),
            "--endpoints",
            str(write_endpoints(s, Path(self._tmp.name), self.env, lock_file)),
            "--cors",
            *s.cors_origins,
        ]
        if count == 1:
            args = [sys.executable, "-m", "bot.runtime", "run", *rasa_args, "--port", str(s.rasa_port)]
            args += ["--interface", s.host]
        else:
            args = [sys.executable, "-m", "bot.workers", "--workers", str(count), "--host", s.host]
            args += ["--port", str(s.rasa_port), "--", *rasa_args]
        limit = self.env.get("SANIC_REQUEST_MAX_SIZE") or str(DEFAULT_REQUEST_MAX_SIZE)
        env = {**self.env, "SANIC_REQUEST_MAX_SIZE": limit}
        process, log = self._spawn("rasa-server", args, env)
        _wait_http(f"{s.rasa_url}/", process, log, s.startup_timeout * max(1, count / 2), "The Rasa server")
        self.rasa_process = process
        if runs_without_model(s.rasa_url):  # Rasa runs on without a model it failed to load
            raise StartupError(
                f"The Rasa server started without a model: loading {s.model} failed. Retrain (make train) or "
                f"correct the model path. Its log is {log}; the last lines:\n{_tail(log)}"
            )

    def start_widget_server(self) -> None:
        """Start the web widget's server (widget/dist/widget.js and the demo page) and wait until it answers."""
        s = self.settings
        process, log = self._spawn("widget-server", server_command(s.host, s.widget_port, s.rasa_port))
        _wait_http(f"{s.widget_url}health", process, log, s.startup_timeout, "The widget server")
        self.widget_process = process

    def start(self) -> "BotServers":
        """Start the servers: the action server first, then Rasa, then the widget's page server."""
        try:
            self.start_action_server()
            self.start_rasa_server()
            self.start_widget_server()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every child process (SIGTERM, then SIGKILL after 10 s)."""
        for process in reversed(self.processes):
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.processes.clear()

    def __enter__(self) -> "BotServers":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self._tmp.cleanup()


def main(argv: Optional[List[str]] = None) -> int:
    """Command line of `make run`: start everything, print the addresses, wait for Ctrl-C."""
    parser = argparse.ArgumentParser(description="Run the exosome evidence bot.")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--rasa-port", type=int, default=int(os.environ.get("RASA_PORT", 5005)))
    parser.add_argument("--action-port", type=int, default=int(os.environ.get("ACTION_PORT", 5055)))
    parser.add_argument("--widget-port", type=int, default=int(os.environ.get("WIDGET_PORT", 5080)))
    parser.add_argument("--host", default=os.environ.get("BOT_HOST", "127.0.0.1"))
    parser.add_argument(
        "--cors",
        default=os.environ.get("CORS_ORIGINS"),
        help="origins allowed to call the bot from a browser (default: the widget demo page's)",
    )
    args = parser.parse_args(argv)
    os.umask(PRIVATE_UMASK)  # files of this launcher (store check, logs) are its owner's only
    settings = ServerSettings(
        model=args.model,
        rasa_port=args.rasa_port,
        action_port=args.action_port,
        widget_port=args.widget_port,
        host=args.host,
        cors=args.cors,
    )
    generated = not os.environ.get("STAFF_TOKEN", "").strip()
    if generated:  # the staff console's token for this run (bot/staff/api.py); printed once below
        os.environ["STAFF_TOKEN"] = secrets.token_urlsafe(24)
    servers = BotServers(settings)
    print("Starting the action server, the Rasa server and the widget server (about 30 s)...", flush=True)
    try:
        servers.start()
    except StartupError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for note in servers.channel_notes:
        print(f"channel {note}", flush=True)
    if servers.worker_note:
        print(servers.worker_note, flush=True)
    print(
        "\nThe bot is running:\n"
        f'  REST       POST {settings.rasa_url}/webhooks/rest/webhook  {{"sender": "me", "message": "外泌体是什么？"}}\n'
        f"  socket.io  {settings.rasa_url}/socket.io\n"
        f"  processes  {servers.worker_count} Rasa server{'s behind HAProxy' if servers.worker_count > 1 else ''}"
        " (RASA_WORKERS)\n"
        f"  actions    {settings.action_url}\n"
        f"  widget     {settings.widget_url}  (demo page; staff view: {settings.widget_url}?debug=1)\n"
        f"  staff      {settings.rasa_url}/staff/  "
        + (
            f"(token {os.environ['STAFF_TOKEN']}, generated for this run: set STAFF_TOKEN to keep one)\n"
            if generated
            else "(token: STAFF_TOKEN)\n"
        )
        + f"  CORS       {' '.join(settings.cors_origins) or '(no browser origin allowed)'}  (CORS_ORIGINS)\n"
        f"  logs       {settings.log_dir}\n"
        "Press Ctrl-C to stop.",
        flush=True,
    )
    stop = {"now": False}
    # Handled explicitly (not as KeyboardInterrupt): a shell that starts `make run` in the background
    # makes it ignore SIGINT, and Ctrl-C or `kill -INT` must still stop everything.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.update(now=True))
    try:
        while not stop["now"]:
            for process in servers.processes:
                if process.poll() is not None:
                    print(
                        f"error: a server exited (code {process.returncode}); see {settings.log_dir}", file=sys.stderr
                    )
                    stop["now"] = True
            time.sleep(0.5)
    finally:
        print("\nStopping...", flush=True)
        servers.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
