"""Several Rasa server processes behind one port: every core answers messages (RASA_WORKERS).

`python -m bot.workers --workers N --host H --port P -- <rasa run arguments>` starts N Rasa servers
(`python -m bot.runtime run ... --port <free loopback port>`), waits until every one has loaded its model,
then puts HAProxy (Debian's `haproxy`) on H:P in front of them, and stays in the foreground. When any of
them exits it stops the others and exits with an error, so `make run` notices; SIGTERM or SIGINT stops
them all. bot.serve starts it (as "the Rasa server") when RASA_WORKERS is above 1, which is the default
on a machine with several cores; the processes share the tracker store and a lock store that works
across processes (bot.locks: Redis with REDIS_URL, otherwise an SQLite file).

Routing (`haproxy_config`):
- socket.io (`/socket.io/`, and the widget's picture uploads `/webhooks/socketio/`) sticks to one process
  per client address: a socket.io session (its long-polling requests, and the picture answer sent to it)
  lives in the process that opened it;
- the messaging apps (WeChat, Telegram, LINE, WhatsApp) go to one process, the others standing by: their
  channels remember in process memory the deliveries already answered (a platform's retries), the
  numbered suggestions a reply offered and the answers a rating button rates (docs/operators.md, "Load
  balancer");
- REST messages (`/webhooks/rest/webhook`) go by their conversation (`sender` in the JSON body) to one process while the load is
  light, so that a conversation stays with a process whose caches are warm (a turn costs about 3 ms more
  in a process that sat idle while another answered), but never more than 110 % of the average number
  of messages in progress (HAProxy's bounded-load consistent hashing), so that a burst is spread over all;
- everything else (the staff console, health) goes round robin. The lock store keeps one conversation's
  turns in order wherever they run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import List, Mapping, Optional, Sequence

from bot.channels.socket_bus import SOCKETIO_BUS_ENV

HAPROXY_CANDIDATES = ("haproxy", "/usr/sbin/haproxy")
DEFAULT_BODY_LIMIT = 65536  # bytes, as bot.serve's SANIC_REQUEST_MAX_SIZE default
STARTUP_TIMEOUT = 300.0  # seconds for every process to load its model (they load at the same time)
# The REST channel's health route: 200 with a loaded model, 503 when the process failed to load it.
HEALTH_PATH = "/webhooks/rest/"


class WorkersError(RuntimeError):
    """A setting or a process of the multi-process set-up is wrong; the message says which and what to do."""


def worker_count(env: Mapping[str, str]) -> int:
    """RASA_WORKERS: how many Rasa server processes; default the number of cores, 1 turns the proxy off."""
    raw = env.get("RASA_WORKERS", "").strip()
    if not raw:
        return max(1, os.cpu_count() or 1)
    try:
        count = int(raw)
    except ValueError:
        count = 0
    if count < 1:
        raise WorkersError(
            f"RASA_WORKERS={raw!r} is not a number of processes. Set a whole number from 1 (one Rasa process, "
            "no proxy) up, or leave it unset for one per core."
        )
    return count


def find_haproxy() -> Optional[str]:
    """The haproxy executable, or None (Debian: apt-get install haproxy; scripts/install-system-deps)."""
    for candidate in HAPROXY_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


def haproxy_config(host: str, port: int, backends: Sequence[int], body_limit: int = 65536) -> str:
    """HAProxy's configuration: `host:port` in front of the Rasa processes on loopback `backends`; REST
    messages announcing at most `body_limit` bytes are read whole to find their conversation, larger ones
    go straight to a Rasa process, which refuses them at once (413) as without the proxy."""
    check = "check inter 2s fall 2 rise 1"
    servers = "\n".join(f"    server rasa{i} 127.0.0.1:{p} {check}" for i, p in enumerate(backends))
    backend = "\n".join((f"    option httpchk GET {HEALTH_PATH}", servers))
    standby = "\n".join(
        f"    server rasa{i} 127.0.0.1:{p} {check}{' backup' if i else ''}" for i, p in enumerate(backends)
    )
    return f"""# Written by bot.workers for this run; see its docstring for the routing.
global
    maxconn 4096

defaults
    mode http
    option forwardfor
    timeout connect 5s
    timeout client 75s
    timeout server 75s
    timeout http-request 30s
    timeout tunnel 1h

frontend bot
    bind {host}:{port}
    acl socketio path_beg /socket.io/ /webhooks/socketio/
    acl messaging path_beg /webhooks/wechat/ /webhooks/telegram/ /webhooks/line/ /webhooks/whatsapp/
    use_backend sticky_client if socketio
    use_backend one_process if messaging
    use_backend by_conversation if {{ path /webhooks/rest/webhook }} {{ req.hdr_val(content-length) le {body_limit} }}
    default_backend round_robin

backend by_conversation
    option http-buffer-request
    balance hash req.body,json_query('$.sender')
    hash-type consistent
    hash-balance-factor 110
{backend}

backend round_robin
    balance roundrobin
{backend}

backend sticky_client
    balance source
    hash-type consistent
{backend}

backend one_process
    option httpchk GET {HEALTH_PATH}
{standby}
"""


def free_ports(count: int) -> List[int]:
    """`count` distinct TCP ports nobody listens on right now (loopback)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def http_status(url: str) -> Optional[int]:
    """The status of a GET of `url` within 2 s, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def answers(url: str) -> bool:
    """True when a server answers a GET of `url` within 2 s with a success (a status below 400)."""
    status = http_status(url)
    return status is not None and status < 400


def runs_without_model(base_url: str) -> bool:
    """True when the Rasa server at `base_url` answers that it loaded no model (its health route's 503)."""
    return http_status(f"{base_url}{HEALTH_PATH}") == 503


class Workers:
    """The Rasa processes and HAProxy, as children of this process."""

    def __init__(self, count: int, host: str, port: int, rasa_args: Sequence[str], haproxy: str) -> None:
        """Prepare (not start) `count` Rasa processes with `rasa_args` behind HAProxy on `host:port`."""
        self.count, self.host, self.port, self.rasa_args, self.haproxy = count, host, port, list(rasa_args), haproxy
        self.processes: List[subprocess.Popen] = []
        self._tmp = tempfile.TemporaryDirectory(prefix="exobot-workers-")

    def start(self) -> None:
        """Start the Rasa processes, wait until each answers, then start HAProxy in front of them."""
        ports = free_ports(self.count)
        # socket.io emits between the processes (a staff reply reaches a session another process holds).
        env = {**os.environ, SOCKETIO_BUS_ENV: str(Path(self._tmp.name) / "socketio-bus")}
        for port in ports:
            self.processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "bot.runtime", "run", *self.rasa_args, "--port", str(port)]
                    + ["--interface", "127.0.0.1"],
                    env=env,
                )
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        waiting = list(zip(ports, self.processes))
        while waiting:
            self._check_alive("while loading its model")
            if time.monotonic() > deadline:
                raise WorkersError(f"{len(waiting)} Rasa process(es) did not answer within {STARTUP_TIMEOUT:.0f} s.")
            started = [p for p, _ in waiting if answers(f"http://127.0.0.1:{p}/")]
            for port in started:  # each checked once, when it first answers
                if runs_without_model(f"http://127.0.0.1:{port}"):
                    raise WorkersError(
                        f"The Rasa process on port {port} runs without a model: loading it failed (its log above "
                        "says why). Retrain (make train) or correct the model path."
                    )
            waiting = [(p, process) for p, process in waiting if p not in started]
            time.sleep(0.3)
        config = Path(self._tmp.name) / "haproxy.cfg"
        limit = int(os.environ.get("SANIC_REQUEST_MAX_SIZE") or DEFAULT_BODY_LIMIT)
        config.write_text(haproxy_config(self.host, self.port, ports, limit), encoding="utf-8")
        # -db: stay in the foreground, in this process group; -Ws would need systemd.
        self.processes.append(subprocess.Popen([self.haproxy, "-db", "-f", str(config)]))
        deadline = time.monotonic() + 30
        while not answers(f"http://{'127.0.0.1' if self.host in ('0.0.0.0', '::') else self.host}:{self.port}/"):
            self._check_alive("while starting")
            if time.monotonic() > deadline:
                raise WorkersError(f"HAProxy did not answer on {self.host}:{self.port} within 30 s.")
            time.sleep(0.2)
        print(
            f"bot.workers: {self.count} Rasa processes (ports {', '.join(map(str, ports))}) behind HAProxy on "
            f"{self.host}:{self.port}",
            flush=True,
        )

    def _check_alive(self, when: str) -> None:
        for i, process in enumerate(self.processes):
            if process.poll() is not None:
                what = "HAProxy" if i == self.count else f"Rasa process {i + 1} of {self.count}"
                raise WorkersError(f"{what} exited with code {process.returncode} {when}; see the lines above.")

    def watch(self) -> int:
        """Wait until a signal asks to stop (0) or a process exits (1)."""
        stop = {"now": False}
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.update(now=True))
        while not stop["now"]:
            try:
                self._check_alive("")
            except WorkersError as error:
                print(f"bot.workers: error: {error} Stopping the others.", file=sys.stderr, flush=True)
                return 1
            time.sleep(0.5)
        return 0

    def stop(self) -> None:
        """Stop every child (SIGTERM, then SIGKILL after 15 s) and remove the configuration."""
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + 15
        for process in self.processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._tmp.cleanup()


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line: start the processes and the proxy, stay until stopped."""
    parser = argparse.ArgumentParser(description="Several Rasa server processes behind HAProxy on one port.")
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5005)
    parser.add_argument("rasa_args", nargs=argparse.REMAINDER, help="after --: arguments of `rasa run`")
    args = parser.parse_args(argv)
    rasa_args = args.rasa_args[1:] if args.rasa_args[:1] == ["--"] else args.rasa_args
    haproxy = find_haproxy()
    if haproxy is None:
        print("bot.workers: error: haproxy is not installed (apt-get install haproxy).", file=sys.stderr)
        return 1
    workers = Workers(args.workers, args.host, args.port, rasa_args, haproxy)
    for sig in (signal.SIGINT, signal.SIGTERM):  # a stop asked for while the models load: stop at once
        signal.signal(sig, lambda *_: sys.exit(0))
    try:
        workers.start()
        return workers.watch()
    except WorkersError as error:  # also a process lost while the proxy was still being started
        print(f"bot.workers: error: {error} Stopping the others.", file=sys.stderr, flush=True)
        return 1
    finally:
        workers.stop()


if __name__ == "__main__":
    sys.exit(main())
