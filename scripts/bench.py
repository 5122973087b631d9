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
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import aiohttp
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.serve import QUIET_ENV, BotServers, ServerSettings  # noqa: E402

RASA = str(Path(sys.executable).with_name("rasa"))
ENV = {**os.environ, **QUIET_ENV, "RASA_MAX_CACHE_SIZE": "0"}
SAMPLE_QUESTIONS = ROOT / "data" / "review" / "sample_questions.csv"
CONVERSATION = 10  # messages per sender id in the single-sender run (a new conversation after that)
TARGET_THROUGHPUT_RATIO = 1.5


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
        self.roots, self.peak_kb = roots, {}
        self._halt = threading.Event()

    def run(self) -> None:
        """Sample until stopped."""
        while not self._halt.wait(0.1):
            for name, pid in self.roots().items():
                self.peak_kb[name] = max(self.peak_kb.get(name, 0), tree_rss_kb(pid))

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
        before = {n: tree_cpu_s(pid) for n, pid in roots().items()}
        profiles = profile(roots(), args.profile / name) if args.profile else []
        concurrent = asyncio.run(concurrent_senders(url, messages, args.senders, args.per_sender, ok, name))
        concurrent["cpu_ms_per_msg"] = cpu_per_message(roots(), before, concurrent["messages"])
        for process in profiles:  # py-spy writes its flame graph when interrupted
            process.send_signal(signal.SIGINT)
            process.wait(timeout=60)
    finally:
        stop()
        peaks = sampler.stop()
    return {"first_answer_s": round(ready, 2), "single": single, "concurrent": concurrent, "peak_rss_mb": peaks}


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
    """The sample questions of data/review/sample_questions.csv."""
    with SAMPLE_QUESTIONS.open(encoding="utf-8") as f:
        return [row["question"] for row in csv.DictReader(f)]


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


def bench_ours(work: Path, args: argparse.Namespace) -> Dict[str, Any]:
    """`rasa train` of this project into a temporary folder, then bot.serve's Rasa and action servers."""
    model, train_s = Path(args.model) if args.model else None, None
    if model is None:
        print("ours: rasa train...", flush=True)
        train_s = timed(
            [RASA, "train", "--fixed-model-name", "bench", "--out", str(work / "models")], ROOT, "rasa train"
        )
        model = work / "models" / "bench.tar.gz"
    settings = ServerSettings(
        model=model,
        rasa_port=free_port(),
        action_port=free_port(),
        widget_port=free_port(),
        log_dir=work / "ours-logs",
        env={"TRACKER_SQLITE_PATH": str(work / "ours-tracker.db")},
    )
    servers = BotServers(settings)

    def start() -> None:
        servers.start_action_server()
        servers.start_rasa_server()

    def roots() -> Dict[str, int]:
        names = ("actions", "rasa")
        return {names[i]: p.pid for i, p in enumerate(list(servers.processes)[:2])}

    result = measure(
        "ours", f"{settings.rasa_url}/webhooks/rest/webhook", start, servers.stop, roots, our_messages(), ours_ok, args
    )
    return {"train_s": train_s, **result, "setup": "this project as `make run` starts it (bot.serve)"}


# -- report ------------------------------------------------------------------------------------

ROWS = [
    ("training time (s)", ("train_s",)),
    ("start to first answer (s)", ("first_answer_s",)),
    ("1 sender: p50 (ms)", ("single", "p50_ms")),
    ("1 sender: p95 (ms)", ("single", "p95_ms")),
    ("1 sender: p99 (ms)", ("single", "p99_ms")),
    ("1 sender: errors", ("single", "errors")),
    ("1 sender: replies with no text", ("single", "silent")),
    ("N senders: throughput (msg/s)", ("concurrent", "throughput_msg_s")),
    ("N senders: p50 (ms)", ("concurrent", "p50_ms")),
    ("N senders: p95 (ms)", ("concurrent", "p95_ms")),
    ("N senders: p99 (ms)", ("concurrent", "p99_ms")),
    ("N senders: errors", ("concurrent", "errors")),
    ("N senders: replies with no text", ("concurrent", "silent")),
    ("N senders: Rasa CPU per msg (ms)", ("concurrent", "cpu_ms_per_msg", "rasa")),
    ("N senders: actions CPU per msg (ms)", ("concurrent", "cpu_ms_per_msg", "actions")),
    ("peak RSS, Rasa server (MB)", ("peak_rss_mb", "rasa")),
    ("peak RSS, action server (MB)", ("peak_rss_mb", "actions")),
]


def _get(data: Dict[str, Any], path: Sequence[str]) -> Optional[float]:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data  # type: ignore[return-value]


def report(results: Dict[str, Any]) -> List[str]:
    """Print the table; return the targets that were missed."""
    stock, ours = results.get("stock", {}), results.get("ours", {})
    senders = (ours or stock).get("concurrent", {}).get("senders", "N")
    print(f"\n{'metric':<34}{'stock':>12}{'ours':>12}{'ours/stock':>12}")
    ratios = {}
    for label, path in ROWS:
        a, b = _get(stock, path), _get(ours, path)
        ratio = round(b / a, 2) if isinstance(a, (int, float)) and isinstance(b, (int, float)) and a else None
        ratios[".".join(path)] = ratio
        show = lambda v: "-" if v is None else f"{v:g}"  # noqa: E731
        print(f"{label.replace('N senders', f'{senders} senders'):<34}{show(a):>12}{show(b):>12}{show(ratio):>12}")
    results["ratios_ours_over_stock"] = ratios
    missed = []
    if stock and ours:
        if ours["single"]["p50_ms"] > stock["single"]["p50_ms"]:
            missed.append("p50 latency is worse than stock")
        if ours["concurrent"]["throughput_msg_s"] < TARGET_THROUGHPUT_RATIO * stock["concurrent"]["throughput_msg_s"]:
            missed.append(f"throughput is below {TARGET_THROUGHPUT_RATIO}x stock")
    for name, data in (("stock", stock), ("ours", ours)):
        if data and (data["single"]["errors"] or data["concurrent"]["errors"]):
            missed.append(f"{name} had errors")
    results["targets_missed"] = missed
    checked = "all met" if stock and ours else "no errors (ratios need both bots)"
    print("\ntargets: " + (checked if not missed else "MISSED: " + "; ".join(missed)))
    return missed


def main(argv: Optional[List[str]] = None) -> int:
    """Train and measure both bots, print the table, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200, help="messages of the single-sender run")
    parser.add_argument("--senders", type=int, default=20, help="concurrent senders")
    parser.add_argument("--per-sender", type=int, default=20, help="messages per concurrent sender")
    parser.add_argument("--only", choices=("stock", "ours"), help="measure one bot only (no ratios)")
    parser.add_argument("--model", help="use this trained model of ours instead of training (no training time)")
    parser.add_argument("--stock-dir", help="reuse (or create) the stock project here instead of a temporary one")
    parser.add_argument("--json", type=Path, default=ROOT / "results" / "bench.json")
    parser.add_argument("--profile", type=Path, help="also write py-spy flame graphs of the concurrent run here")
    args = parser.parse_args(argv)
    results: Dict[str, Any] = {
        "machine": machine(),
        "settings": {
            "single_sender_messages": args.messages,
            "messages_per_conversation": CONVERSATION,
            "concurrent_senders": args.senders,
            "messages_per_concurrent_sender": args.per_sender,
        },
    }
    with tempfile.TemporaryDirectory(prefix="exobot-bench-") as tmp:
        work = Path(tmp)
        try:
            if args.only != "ours":
                results["stock"] = bench_stock(work, args)
            if args.only != "stock":
                results["ours"] = bench_ours(work, args)
        except RuntimeError as error:
            print(f"error: {error}\nLogs were in {work}.", file=sys.stderr)
            return 1
    results["machine"]["load_average_at_end"] = list(os.getloadavg())
    missed = report(results)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"written {args.json}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
