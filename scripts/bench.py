"""`make bench`: a stock `rasa init` bot and ours, trained and measured over REST in one run on this machine.

For each bot: training time, time from start to first answer, single-sender latency (p50/p95/p99),
throughput and latencies of concurrent senders, and the peak memory (RSS, sampled from /proc) of the Rasa
server and, for ours, the action server. Prints a table with the ratios ours/stock and writes
results/bench.json. Exits with 1 when a target is missed (p50 no worse than stock, throughput at 20
senders at least 1.5x stock, zero errors), so run it on a quiet machine. See README, "Performance".
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import platform
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, cast

import aiohttp
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.serve import QUIET_ENV, BotServers, ServerSettings  # noqa: E402

RASA = str(Path(sys.executable).with_name("rasa"))
ENV = {**os.environ, **QUIET_ENV, "RASA_MAX_CACHE_SIZE": "0"}
SAMPLE_QUESTIONS = ROOT / "data" / "review" / "sample_questions.csv"
CONVERSATION = 10  # messages per sender id in the single-sender run (a new conversation after that)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def machine() -> Dict[str, Any]:
    """What this run ran on: CPU, cores, memory, OS, Python, Rasa and the load before the run."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem_kb = int(
        next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    )
    import rasa

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "rasa": rasa.__version__,
        "load_average_at_start": list(os.getloadavg()),
    }


# -- memory ------------------------------------------------------------------------------------


def _tree(root: int) -> List[int]:
    """A process and all its descendants (Sanic workers)."""
    children: Dict[int, List[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def tree_rss_kb(root: int) -> int:
    """RSS of a process tree, in kB."""
    total = 0
    for pid in _tree(root):
        try:
            total += int(
                next(
                    line.split()[1]
                    for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                    if line.startswith("VmRSS:")
                )
            )
        except (OSError, ValueError, StopIteration):
            continue
    return total


def tree_cpu_s(root: int) -> float:
    """CPU time (user + system) used so far by a process tree, in seconds."""
    total = 0
    for pid in _tree(root):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, ValueError, IndexError):
            continue
    return total / os.sysconf("SC_CLK_TCK")


def cpu_per_message(roots: Dict[str, int], before: Dict[str, float], messages: int) -> Dict[str, float]:
    """CPU milliseconds per message of each server since `before` (a robust figure on a busy machine)."""
    return {name: round((tree_cpu_s(pid) - before[name]) * 1000 / messages, 1) for name, pid in roots.items()}


class RssSampler(threading.Thread):
    """Samples the RSS of named process trees every 100 ms and keeps each one's peak."""

    def __init__(self, roots: Callable[[], Dict[str, int]]) -> None:
        """`roots()` names the root process of each tree (called at every sample)."""
        super().__init__(daemon=True)
        self.roots, self.peak_kb = roots, cast(Dict[str, int], {})
        self._halt = threading.Event()

    def run(self) -> None:
        """Sample until stopped."""
        while not self._halt.wait(0.1):
            total = 0
            for name, pid in self.roots().items():
                rss = tree_rss_kb(pid)
                total += rss
                self.peak_kb[name] = max(self.peak_kb.get(name, 0), rss)
            self.peak_kb["all"] = max(self.peak_kb.get("all", 0), total)

    def stop(self) -> Dict[str, float]:
        """Stop sampling; the peaks in MB."""
        self._halt.set()
        self.join()
        return {name: round(kb / 1024, 1) for name, kb in self.peak_kb.items()}


# -- load --------------------------------------------------------------------------------------

Check = Callable[[List[Dict[str, Any]]], bool]


def ours_ok(messages: List[Dict[str, Any]]) -> bool:
    """Our contract: exactly one text and one payload, and not the 'unavailable' apology."""
    texts = [m for m in messages if m.get("text")]
    payloads = [m["custom"] for m in messages if isinstance(m.get("custom"), dict)]
    return len(texts) == 1 and len(payloads) == 1 and not payloads[0].get("unavailable")


def stock_ok(messages: List[Dict[str, Any]]) -> bool:
    """The stock bot: any well-formed reply. Its dialogue policy legitimately stays silent for some
    messages out of its stories' context (counted separately as `silent`), which is not an error."""
    return True


def _silent(messages: Any) -> bool:
    return isinstance(messages, list) and not any(m.get("text") or m.get("image") for m in messages)


async def _send(
    session: aiohttp.ClientSession, url: str, sender: str, text: str, ok: Check
) -> tuple[float, bool, bool]:
    start = time.perf_counter()
    body = None
    try:
        async with session.post(url, json={"sender": sender, "message": text}) as response:
            body = await response.json(content_type=None) if response.status == 200 else None
        good = isinstance(body, list) and ok(body)
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
        good = False
    return time.perf_counter() - start, good, _silent(body)


def percentiles(latencies: Sequence[float]) -> Dict[str, float]:
    """p50/p95/p99 and mean in milliseconds."""
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "p50_ms": round(cuts[49] * 1000, 1),
        "p95_ms": round(cuts[94] * 1000, 1),
        "p99_ms": round(cuts[98] * 1000, 1),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 1),
    }


async def single_sender(url: str, messages: Sequence[str], count: int, ok: Check, tag: str) -> Dict[str, Any]:
    """`count` messages one after another; a new conversation every CONVERSATION messages."""
    latencies, errors, silent = [], 0, 0
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        for i in range(count):
            latency, good, quiet = await _send(
                session, url, f"{tag}-single-{i // CONVERSATION}", messages[i % len(messages)], ok
            )
            latencies.append(latency)
            errors += not good
            silent += quiet
    return {"messages": count, "errors": errors, "silent": silent, **percentiles(latencies)}


async def concurrent_senders(
    url: str, messages: Sequence[str], senders: int, each: int, ok: Check, tag: str
) -> Dict[str, Any]:
    """`senders` conversations at once, each sending `each` messages one after another."""
    latencies: List[float] = []
    errors = silent = 0

    async def conversation(n: int) -> None:
        nonlocal errors, silent
        for i in range(each):
            latency, good, quiet = await _send(
                session, url, f"{tag}-conc-{n}", messages[(n * 7 + i) % len(messages)], ok
            )
            latencies.append(latency)
            errors += not good
            silent += quiet

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as session:
        start = time.perf_counter()
        await asyncio.gather(*(conversation(n) for n in range(senders)))
        wall = time.perf_counter() - start
    return {
        "senders": senders,
        "messages": senders * each,
        "errors": errors,
        "silent": silent,
        "wall_s": round(wall, 2),
        "throughput_msg_s": round(senders * each / wall, 2),
        **percentiles(latencies),
    }


async def first_answer(url: str, text: str, ok: Check, deadline: float) -> None:
    """Poll until the bot answers `text` properly (or the deadline passes)."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        while time.monotonic() < deadline:
            _, good, silent = await _send(session, url, "first-answer", text, ok)
            if good and not silent:
                return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"no proper answer from {url} before the deadline; see the server logs")


def profile(roots: Dict[str, int], directory: Path) -> List[subprocess.Popen]:
    """py-spy (pip install -e '.[test]') sampling each server until interrupted; SVG flame graphs."""
    directory.mkdir(parents=True, exist_ok=True)
    spy = Path(sys.executable).with_name("py-spy")
    return [
        subprocess.Popen(
            [
                str(spy),
                "record",
                "--pid",
                str(pid),
                "--subprocesses",
                "--nonblocking",
                "--rate",
                "200",
                "--output",
                str(directory / f"{name}.svg"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, pid in roots.items()
    ]


def measure(
    name: str,
    url: str,
    start: Callable[[], None],
    stop: Callable[[], None],
    roots: Callable[[], Dict[str, int]],
    messages: Sequence[str],
    ok: Check,
    args: argparse.Namespace,
) -> Dict[str, Any]:
    """Start a bot, time its first answer, warm it up, run both loads, stop it; the figures."""
    sampler = RssSampler(roots)
    sampler.start()
    began = time.monotonic()
    try:
        start()
        asyncio.run(first_answer(url, messages[0], ok, began + 300))
        ready = time.monotonic() - began
        print(f"{name}: first answer after {ready:.1f} s; measuring...", flush=True)
        asyncio.run(single_sender(url, messages, 10, ok, f"{name}-warm"))
        before = {n: tree_cpu_s(pid) for n, pid in roots().items()}
        single = asyncio.run(single_sender(url, messages, args.messages, ok, name))
        single["cpu_ms_per_msg"] = cpu_per_message(roots(), before, single["messages"])
        loads = {}
        for senders in args.senders:
            before = {n: tree_cpu_s(pid) for n, pid in roots().items()}
            profiles = profile(roots(), args.profile / f"{name}-{senders}") if args.profile else []
            each = max(1, args.messages_per_load // senders)
            load = asyncio.run(concurrent_senders(url, messages, senders, each, ok, f"{name}-{senders}"))
            load["cpu_ms_per_msg"] = cpu_per_message(roots(), before, load["messages"])
            for process in profiles:  # py-spy writes its flame graph when interrupted
                process.send_signal(signal.SIGINT)
                process.wait(timeout=60)
            loads[str(senders)] = load
            print(f"{name}: {senders} senders: {load['throughput_msg_s']} msg/s, p95 {load['p95_ms']} ms", flush=True)
    finally:
        stop()
        peaks = sampler.stop()
    return {"first_answer_s": round(ready, 2), "single": single, "concurrent": loads, "peak_rss_mb": peaks}


# -- the two bots ------------------------------------------------------------------------------


def timed(args: List[str], cwd: Path, what: str) -> float:
    """Run a command, raise with its output when it fails; the seconds it took."""
    start = time.monotonic()
    result = subprocess.run(args, cwd=cwd, env=ENV, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(
            f"{what} failed (exit {result.returncode}):\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        )
    return round(time.monotonic() - start, 1)


def stock_messages(project: Path) -> List[str]:
    """The stock bot's own NLU examples."""
    data = yaml.safe_load((project / "data" / "nlu.yml").read_text(encoding="utf-8"))
    return [line[2:].strip() for item in data["nlu"] for line in item["examples"].splitlines() if line.startswith("- ")]


def our_messages() -> List[str]:
    """The sample questions of data/review/sample_questions.csv, but the request for a person: the bot then
    stays quiet until the support team releases the conversation, and every message here is to be answered."""
    with SAMPLE_QUESTIONS.open(encoding="utf-8") as f:
        return [row["question"] for row in csv.DictReader(f) if "real person" not in row["question"]]


def bench_stock(work: Path, args: argparse.Namespace) -> Dict[str, Any]:
    """`rasa init --no-prompt` (creates and trains), then `rasa run` with its defaults."""
    project = Path(args.stock_dir) if args.stock_dir else work / "stock"
    models = sorted((project / "models").glob("*.tar.gz")) if project.is_dir() else []
    train_s = None
    if not models:
        project.mkdir(parents=True, exist_ok=True)
        print("stock: rasa init --no-prompt (creates and trains the starter bot)...", flush=True)
        train_s = timed([RASA, "init", "--no-prompt", "--init-dir", str(project)], project, "rasa init")
        models = sorted((project / "models").glob("*.tar.gz"))
    port = free_port()
    log = (work / "stock-rasa.log").open("w")
    holder: Dict[str, subprocess.Popen] = {}

    def start() -> None:
        holder["p"] = subprocess.Popen(
            [RASA, "run", "--model", str(models[-1]), "--port", str(port), "--interface", "127.0.0.1"],
            cwd=project,
            env=ENV,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop() -> None:
        process = holder.get("p")
        if process and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def roots() -> Dict[str, int]:
        return {"rasa": holder["p"].pid} if "p" in holder else {}

    result = measure(
        "stock",
        f"http://127.0.0.1:{port}/webhooks/rest/webhook",
        start,
        stop,
        roots,
        stock_messages(project),
        stock_ok,
        args,
    )
    return {
        "train_s": train_s,
        **result,
        "setup": "rasa init: default pipeline and policies (DIET, ResponseSelector, TED, UnexpecTED), "
        "responses from the domain (no action server), in-memory tracker store",
    }


def train_ours(work: Path, args: argparse.Namespace) -> Tuple[Path, Optional[float]]:
    """Our model: `--model`, or `rasa train` of this project into a temporary folder (with its time)."""
    if args.model:
        return Path(args.model), None
    print("ours: rasa train...", flush=True)
    train_s = timed([RASA, "train", "--fixed-model-name", "bench", "--out", str(work / "models")], ROOT, "rasa train")
    return work / "models" / "bench.tar.gz", train_s


def stored_turns(db: Path, prefix: str) -> Tuple[int, int]:
    """(user messages, bot replies) stored for the REST senders whose id starts with `prefix`."""
    from bot.conversations import conversation_id

    with sqlite3.connect(db) as connection:
        rows = connection.execute(
            "SELECT type_name, COUNT(*) FROM events WHERE sender_id LIKE ? AND type_name IN ('user', 'bot') "
            "GROUP BY type_name",
            (conversation_id("rest", prefix) + "%",),
        ).fetchall()
    counts = dict(rows)
    return counts.get("user", 0), counts.get("bot", 0)


def bench_ours(work: Path, args: argparse.Namespace, model: Path, workers: int) -> Dict[str, Any]:
    """bot.serve's action server and Rasa server (`workers` processes) on `model`, as `make run` starts them."""
    name = f"ours{workers}"
    tracker = work / f"{name}-tracker.db"
    settings = ServerSettings(
        model=model,
        rasa_port=free_port(),
        action_port=free_port(),
        widget_port=free_port(),
        log_dir=work / f"{name}-logs",
        env={"TRACKER_SQLITE_PATH": str(tracker)},
        workers=workers,
    )
    servers = BotServers(settings)

    def start() -> None:
        servers.start_action_server()
        servers.start_rasa_server()

    def roots() -> Dict[str, int]:
        names = ("actions", "rasa")
        return {names[i]: p.pid for i, p in enumerate(list(servers.processes)[:2])}

    url = f"{settings.rasa_url}/webhooks/rest/webhook"
    result = measure(name, url, start, servers.stop, roots, our_messages(), ours_ok, args)
    # Nothing lost: every message of the measured runs is stored with exactly one reply.
    sent = args.messages + sum(load["messages"] for load in result["concurrent"].values())
    users, bots = stored_turns(tracker, f"{name}-")
    users_warm, bots_warm = stored_turns(tracker, f"{name}-warm")
    result["stored"] = {"sent": sent, "user_messages": users - users_warm, "bot_replies": bots - bots_warm}
    setup = "one Rasa process" if workers == 1 else f"{workers} Rasa processes behind HAProxy, SQLite lock store"
    return {**result, "workers": workers, "setup": f"this project as `make run` starts it (bot.serve): {setup}"}


# -- report ------------------------------------------------------------------------------------

TARGETS = {  # issue 16, for the default set-up (one Rasa process per core), against stock
    "1 sender p50": ("single.p50_ms", "<=", 0.4),
    "20 senders throughput": ("concurrent.20.throughput_msg_s", ">=", 3.0),
    "20 senders p95": ("concurrent.20.p95_ms", "<=", 0.5),
}


def rows(results: Dict[str, Any], senders: Sequence[int]) -> List[Tuple[str, str]]:
    """(label, dotted path) of every figure in the table."""
    table = [("training time (s)", "train_s"), ("start to first answer (s)", "first_answer_s")]
    table += [(f"1 sender: {p} (ms)", f"single.{p}_ms") for p in ("p50", "p95", "p99")]
    for n in senders:
        table += [
            (f"{n} senders: throughput (msg/s)", f"concurrent.{n}.throughput_msg_s"),
            (f"{n} senders: p50 (ms)", f"concurrent.{n}.p50_ms"),
            (f"{n} senders: p95 (ms)", f"concurrent.{n}.p95_ms"),
            (f"{n} senders: Rasa CPU per msg (ms)", f"concurrent.{n}.cpu_ms_per_msg.rasa"),
            (f"{n} senders: actions CPU per msg (ms)", f"concurrent.{n}.cpu_ms_per_msg.actions"),
        ]
    table += [
        ("errors (all runs)", "errors"),
        ("replies with no text (all runs)", "silent"),
        ("peak RSS, all processes (MB)", "peak_rss_mb.all"),
        ("peak RSS, Rasa server(s) and proxy (MB)", "peak_rss_mb.rasa"),
        ("peak RSS, action server (MB)", "peak_rss_mb.actions"),
    ]
    return table


def _get(data: Dict[str, Any], path: str) -> Optional[float]:
    value: Any = data
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, (int, float)) else None


def totals(data: Dict[str, Any]) -> None:
    """Add `errors` and `silent` over all runs of one bot."""
    runs = [data["single"], *data["concurrent"].values()]
    data["errors"] = sum(r["errors"] for r in runs)
    data["silent"] = sum(r["silent"] for r in runs)


def report(results: Dict[str, Any], senders: Sequence[int]) -> List[str]:
    """Print the table (each bot, and ours over stock); return the targets that were missed."""
    bots = [b for b in ("stock", "ours1", f"ours{results['machine']['cores']}") if b in results.get("bots", {})]
    bots = list(dict.fromkeys(bots + sorted(results.get("bots", {}))))
    data = results["bots"]
    for bot in bots:
        totals(data[bot])
    stock = data.get("stock")
    header = f"{'metric':<42}" + "".join(f"{b:>10}" for b in bots)
    header += "".join(f"{b + '/st':>11}" for b in bots if b != "stock" and stock)
    print("\n" + header)
    show = lambda v: "-" if v is None else f"{v:g}"  # noqa: E731
    ratios: Dict[str, Dict[str, Optional[float]]] = {}
    for label, path in rows(results, senders):
        values = [_get(data[b], path) for b in bots]
        line = f"{label:<42}" + "".join(f"{show(v):>10}" for v in values)
        if stock:
            base = _get(stock, path)
            for b, v in zip(bots, values):
                if b == "stock":
                    continue
                ratio = round(v / base, 2) if v is not None and base else None
                ratios.setdefault(b, {})[path] = ratio
                line += f"{show(ratio):>11}"
        print(line)
    results["ratios_over_stock"] = ratios
    missed = [f"{b} had {data[b]['errors']} errors" for b in bots if data[b]["errors"]]
    for bot in bots:
        stored = data[bot].get("stored")
        if stored and not stored["sent"] == stored["user_messages"] == stored["bot_replies"]:
            missed.append(f"{bot} lost messages: {stored}")
    default = f"ours{results['machine']['cores']}"
    if stock and default in data:
        for label, (path, op, limit) in TARGETS.items():
            ratio = ratios[default].get(path)
            if ratio is None or (ratio > limit if op == "<=" else ratio < limit):
                missed.append(f"{label}: {ratio} x stock (target {op} {limit})")
    results["targets_missed"] = missed
    checked = "all met" if stock and default in data else "no errors, nothing lost (targets need stock and ours)"
    print("\ntargets: " + (checked if not missed else "MISSED: " + "; ".join(missed)))
    return missed


def chart(results: Dict[str, Any], senders: Sequence[int], path: Path) -> None:
    """An SVG of the main figures of each bot (latency, throughput, memory) next to the JSON."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = results["bots"]
    bots = list(data)
    panels = [
        ("1 sender p50 (ms)", "single.p50_ms"),
        *[(f"{n} senders: msg/s", f"concurrent.{n}.throughput_msg_s") for n in senders],
        *[(f"{n} senders: p95 (ms)", f"concurrent.{n}.p95_ms") for n in senders],
        ("peak RSS, all (MB)", "peak_rss_mb.all"),
        ("start to first answer (s)", "first_answer_s"),
    ]
    figure, axes = plt.subplots(1, len(panels), figsize=(2.3 * len(panels), 3.2))
    colours = {"stock": "#9e9e9e"}
    for ax, (title, key) in zip(axes, panels):
        values = [_get(data[b], key) or 0 for b in bots]
        bars = ax.bar(bots, values, color=[colours.get(b, "#2e7d6b" if b != "ours1" else "#7fb8a8") for b in bots])
        ax.bar_label(bars, fmt="%g", fontsize=7)
        ax.set_title(title, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.spines[["top", "right"]].set_visible(False)
    machine = results["machine"]
    figure.suptitle(f"make bench, {machine['cores']} cores, {machine['cpu']} ({results['date']})", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, format="svg")
    plt.close(figure)


def main(argv: Optional[List[str]] = None) -> int:
    """Train and measure the bots, print the table, write the JSON and the chart."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200, help="messages of the single-sender run")
    parser.add_argument("--senders", type=int, nargs="+", default=[20, 50], help="concurrent senders of each load run")
    parser.add_argument("--messages-per-load", type=int, default=500, help="messages of each load run, all senders")
    parser.add_argument("--only", choices=("stock", "ours"), help="measure one side only (no ratios)")
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        help="Rasa processes of ours, one run each (default: 1 and one per core)",
    )
    parser.add_argument("--model", help="use this trained model of ours instead of training (no training time)")
    parser.add_argument("--stock-dir", help="reuse (or create) the stock project here instead of a temporary one")
    parser.add_argument("--json", type=Path, default=ROOT / "results" / "bench.json")
    parser.add_argument("--profile", type=Path, help="also write py-spy flame graphs of the load runs here")
    args = parser.parse_args(argv)
    workers = args.workers or sorted({1, os.cpu_count() or 1})
    results: Dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine(),
        "settings": {
            "single_sender_messages": args.messages,
            "messages_per_conversation": CONVERSATION,
            "concurrent_senders": args.senders,
            "messages_per_load_run": args.messages_per_load,
            "ours_workers": workers,
        },
        "bots": {},
    }
    with tempfile.TemporaryDirectory(prefix="exobot-bench-") as tmp:
        work = Path(tmp)
        try:
            if args.only != "stock":
                model, train_s = train_ours(work, args)
            if args.only != "ours":
                results["bots"]["stock"] = bench_stock(work, args)
            if args.only != "stock":
                for count in workers:
                    results["bots"][f"ours{count}"] = {"train_s": train_s, **bench_ours(work, args, model, count)}
        except RuntimeError as error:
            print(f"error: {error}\nLogs were in {work}.", file=sys.stderr)
            return 1
    results["machine"]["load_average_at_end"] = list(os.getloadavg())
    missed = report(results, args.senders)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
    chart(results, args.senders, args.json.with_suffix(".svg"))
    print(f"written {args.json} and {args.json.with_suffix('.svg')}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
