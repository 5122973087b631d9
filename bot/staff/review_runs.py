"""Review runs started from the staff console (issue 14, point 4): `bot review` as a subprocess on an allowed
review file, its progress and result, its HTML report, and the comparison of two runs.

Each run has a folder var/review-runs/<run id> holding `run.json` (what was started, and its exit status once
it ended), `progress.log` (the review's progress bar and messages, on its standard error), `output.txt` (its
summary) and what `bot review` writes there: report.html, review.json and review.csv. A comparison with an
earlier run goes to `compare-<earlier id>/` inside the newer run's folder (compare.html, compare.json).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Dict, List, Optional

from bot.paths import DATA, ROOT, VAR

RUNS_DIR = VAR / "review-runs"
REVIEW_DIR = DATA / "review"
REVIEW_SUFFIXES = (".csv", ".yml", ".yaml")
RUN_ID = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{4}$")
# The files of a run that are served: what `bot review` and a comparison write (not run.json or the logs).
REPORT_FILES = re.compile(
    r"^(report\.html|review\.json|review\.csv|compare-\d{8}-\d{6}-[0-9a-f]{4}/compare\.(html|json))$"
)
REPORT_TYPES = {".html": "text/html; charset=utf-8", ".json": "application/json", ".csv": "text/csv; charset=utf-8"}
# tqdm's progress line on standard error: "Asking the bot:  40%|####      | 30/75 [00:10<00:15, ...]"
PROGRESS = re.compile(r"(\d+)/(\d+) \[")
EXIT_PASSED, EXIT_FAILED = 0, 1


class ReviewRunError(ValueError):
    """A review run request that cannot be done; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        """An error answered with `status` and `message`."""
        super().__init__(message)
        self.status = status


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def _display(path: Path) -> str:
    """A review file's name as staff see it: relative to the project when inside it."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path.resolve())


def bot_command() -> List[str]:
    """The `bot` command of this environment (the console script beside Python, else `python -m bot.cli`)."""
    script = Path(sys.executable).with_name("bot")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "bot.cli"]


class ReviewRuns:
    """The review runs of one server: started here, read back from their folders."""

    def __init__(self, staff_file: Path, runs_dir: Path = RUNS_DIR, review_dir: Path = REVIEW_DIR) -> None:
        """Runs under `runs_dir`, on the files of `review_dir` and the staff's own review file."""
        self.staff_file, self.runs_dir, self.review_dir = Path(staff_file), Path(runs_dir), Path(review_dir)
        self._processes: Dict[str, subprocess.Popen] = {}
        self._lock = threading.Lock()

    # -- review files -----------------------------------------------------------------------

    def allowed_files(self) -> List[Path]:
        """The files a run may use: data/review/*.csv|yml and STAFF_REVIEW_FILE (when it exists)."""
        files = (
            sorted(
                p.resolve() for p in self.review_dir.glob("*") if p.suffix.lower() in REVIEW_SUFFIXES and p.is_file()
            )
            if self.review_dir.is_dir()
            else []
        )
        if self.staff_file.is_file() and self.staff_file.resolve() not in files:
            files.append(self.staff_file.resolve())
        return files

    def files(self) -> List[Dict[str, Any]]:
        """The allowed review files for the console's list: name (what to send as `file`) and kind."""
        staff = self.staff_file.resolve()
        return [{"name": _display(p), "staff": p == staff} for p in self.allowed_files()]

    def resolve(self, name: Any) -> Path:
        """The allowed review file `name` stands for (its listed name, path or bare file name)."""
        allowed = self.allowed_files()
        listed = ", ".join(_display(p) for p in allowed) or "none yet"
        rule = "runs are limited to data/review/*.csv|yml and STAFF_REVIEW_FILE"
        if not isinstance(name, str) or not name.strip():
            raise ReviewRunError(f"'file' must name a review file, and {rule}. Choose one of: {listed}.")
        name = name.strip()
        candidate = Path(name) if Path(name).is_absolute() else ROOT / name
        try:
            resolved = candidate.resolve()
        except (OSError, RuntimeError):
            resolved = None
        if resolved in allowed:
            return resolved
        by_name = [p for p in allowed if p.name == name]
        if len(by_name) == 1:
            return by_name[0]
        raise ReviewRunError(
            f"{name!r} is not a review file the console may run, because {rule}. " f"Choose one of: {listed}."
        )

    # -- starting ---------------------------------------------------------------------------

    def start(self, name: Any, url: str) -> Dict[str, Any]:
        """Start `bot review <file> --url <url> --out <run folder>` for an allowed file; the new run."""
        from bot.tools import ToolError
        from bot.tools.questions import load_questions

        path = self.resolve(name)
        try:
            total = len(load_questions(path))
        except ToolError as error:
            raise ReviewRunError(f"{_display(path)} cannot be reviewed: {error}") from None
        with self._lock:
            # Read from the run folders, so that runs started by another worker of this server count too.
            running = [run["id"] for run in self.runs() if run["status"] == "running"]
            if running:
                raise ReviewRunError(
                    f"review run {running[0]} is still running; one run at a time keeps the bot "
                    "responsive for consumers. Wait for it to finish, then start again.",
                    409,
                )
            run_id = f"{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
            folder = self.runs_dir / run_id
            folder.mkdir(parents=True)
            # The progress bar stays on (no --quiet): its "n/total" on standard error is the run's progress.
            command = bot_command() + ["review", str(path), "--url", url, "--out", str(folder)]
            meta = {
                "id": run_id,
                "file": _display(path),
                "url": url,
                "started": _now(),
                "created": time.time(),
                "total": total,
                "command": command,
            }
            try:
                with (folder / "output.txt").open("wb") as out, (folder / "progress.log").open("wb") as err:
                    process = subprocess.Popen(
                        command,
                        cwd=ROOT,
                        stdout=out,
                        stderr=err,
                        stdin=subprocess.DEVNULL,
                        env={**os.environ, "PYTHONUNBUFFERED": "1"},
                    )
            except OSError as error:
                shutil.rmtree(folder, ignore_errors=True)
                raise ReviewRunError(
                    f"`bot review` could not be started ({error}); install the `bot` command " "with `make setup`", 500
                ) from None
            meta["pid"] = process.pid
            self._write_meta(folder, meta)
            self._processes[run_id] = process
        return self.run(run_id)

    # -- reading back -----------------------------------------------------------------------

    def folder(self, run_id: str) -> Path:
        """The folder of run `run_id` (404 when there is none)."""
        if not isinstance(run_id, str) or not RUN_ID.match(run_id) or not (self.runs_dir / run_id).is_dir():
            raise ReviewRunError(f"no review run {run_id!r}; GET /staff/api/review-runs lists the runs", 404)
        return self.runs_dir / run_id

    def runs(self) -> List[Dict[str, Any]]:
        """Every run, newest first."""
        if not self.runs_dir.is_dir():
            return []
        folders = [p for p in self.runs_dir.iterdir() if RUN_ID.match(p.name) and (p / "run.json").is_file()]
        # Two runs can start within one second: the start time in run.json orders them.
        folders.sort(key=lambda p: (self._read_meta(p).get("created") or 0, p.name), reverse=True)
        return [self.run(p.name) for p in folders]

    def run(self, run_id: str) -> Dict[str, Any]:
        """One run: file, status (running, passed, failed), progress, summary, report and comparisons."""
        folder = self.folder(run_id)
        meta = self._read_meta(folder)
        exit_code = self._exit_code(run_id, folder, meta)
        review = _read_json(folder / "review.json")
        total = meta.get("total") or 0
        done = (review or {}).get("summary", {}).get("questions") if review else _progress(folder / "progress.log")
        if exit_code is None:
            status, error = "running", None
        elif exit_code == EXIT_PASSED and review:
            status, error = "passed", None
        elif exit_code == EXIT_FAILED and review:
            status, error = "failed", None
        else:
            status, error = "failed", _error(folder, exit_code)
        summary = review.get("summary") if review else None
        return {
            "id": run_id,
            "file": meta.get("file"),
            "status": status,
            "started": meta.get("started"),
            "finished": meta.get("finished"),
            "progress": {"done": min(done or 0, total) if total else done or 0, "total": total},
            "summary": {
                k: summary.get(k)
                for k in ("questions", "checked", "passed", "failed", "errors", "unchecked", "pass_rate")
            }
            if summary
            else None,
            "error": error,
            "report": f"/staff/api/review-runs/{run_id}/report" if (folder / "report.html").is_file() else None,
            "comparisons": [
                {
                    "with": p.name[len("compare-") :],
                    "report": f"/staff/api/review-runs/{run_id}/report?file={p.name}/compare.html",
                }
                for p in sorted(folder.glob("compare-*"))
                if (p / "compare.html").is_file()
            ],
        }

    def report_file(self, run_id: str, name: Optional[str]) -> Path:
        """A report file of a run (report.html by default), only from inside that run's folder."""
        folder = self.folder(run_id).resolve()
        name = name or "report.html"
        wanted = (folder / name).resolve()
        if not REPORT_FILES.match(name) or folder not in wanted.parents:
            raise ReviewRunError(
                f"{name!r} is not a report of run {run_id}: only its report.html, review.json, "
                "review.csv and compare-<run id>/compare.html|json are served",
                400,
            )
        if not wanted.is_file():
            hint = " (the run has not finished yet)" if self.run(run_id)["status"] == "running" else ""
            raise ReviewRunError(f"run {run_id} has no {name}{hint}", 404)
        return wanted

    # -- comparing --------------------------------------------------------------------------

    def compare(self, new_id: str, old_id: Any) -> Dict[str, Any]:
        """Compare run `new_id` with the earlier run `old_id` as `bot review --compare` does; the summary and
        the address of compare.html."""
        from bot.tools import ToolError, report
        from bot.tools.compare import compare_runs
        from bot.tools.review import load_run

        if not isinstance(old_id, str) or old_id == new_id:
            raise ReviewRunError("'with' must be the id of another, earlier review run")
        new_folder, old_folder = self.folder(new_id), self.folder(old_id)
        try:
            comparison = compare_runs(load_run(old_folder / "review.json"), load_run(new_folder / "review.json"))
        except ToolError as error:
            raise ReviewRunError(
                f"these runs cannot be compared: {error} Wait until both runs have finished.", 409
            ) from None
        out = new_folder / f"compare-{old_id}"
        out.mkdir(exist_ok=True)
        (out / "compare.html").write_text(report.compare_html(comparison), encoding="utf-8")
        (out / "compare.json").write_text(json.dumps(comparison, ensure_ascii=False, indent=1), encoding="utf-8")
        return {
            "old": old_id,
            "new": new_id,
            "summary": comparison["summary"],
            "report": f"/staff/api/review-runs/{new_id}/report?file={out.name}/compare.html",
        }

    # -- state ------------------------------------------------------------------------------

    def _exit_code(self, run_id: str, folder: Path, meta: Dict[str, Any]) -> Optional[int]:
        """The run's exit status, None while it runs; recorded in run.json once it ended."""
        if "exit_code" in meta:
            return meta["exit_code"]
        process = self._processes.get(run_id)
        if process is not None:
            code = process.poll()
            if code is None:
                return None
            self._processes.pop(run_id, None)
        elif _alive(meta.get("pid")):
            return None  # started by an earlier server process that is gone; the review itself goes on
        else:
            code = EXIT_PASSED if _read_json(folder / "review.json") else -1
            if code == EXIT_PASSED:
                summary = (_read_json(folder / "review.json") or {}).get("summary") or {}
                code = EXIT_FAILED if summary.get("failed") or summary.get("errors") else EXIT_PASSED
        meta.update(exit_code=code, finished=_now())
        self._write_meta(folder, meta)
        return code

    @staticmethod
    def _read_meta(folder: Path) -> Dict[str, Any]:
        return _read_json(folder / "run.json") or {}

    @staticmethod
    def _write_meta(folder: Path, meta: Dict[str, Any]) -> None:
        temporary = folder / "run.json.tmp"
        temporary.write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")
        temporary.replace(folder / "run.json")


def _read_json(path: Path) -> Optional[Dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _progress(log: Path) -> int:
    """Questions asked so far: the last "n/total" of the progress bar."""
    try:
        with log.open("rb") as f:
            f.seek(max(0, log.stat().st_size - 4096))
            tail = f.read().decode("utf-8", errors="replace")
    except OSError:
        return 0
    found = PROGRESS.findall(tail)
    return int(found[-1][0]) if found else 0


def _error(folder: Path, exit_code: int) -> str:
    """Why a run ended without a result: the review's own error line, or its exit status."""
    try:
        lines = (folder / "progress.log").read_text(encoding="utf-8", errors="replace").replace("\r", "\n").splitlines()
    except OSError:
        lines = []
    said = [line[len("error: ") :] for line in lines if line.startswith("error: ")]
    if said:
        return said[-1]
    if exit_code == -1:
        return "the run stopped before it wrote its report (the server was restarted during the run); start it again"
    tail = [line for line in lines if line.strip() and not PROGRESS.search(line)][-3:]
    return f"bot review ended with exit status {exit_code}" + (f": {' '.join(tail)[:500]}" if tail else "")


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    # A zombie child of this process counts as gone; os.kill cannot tell, /proc can.
    try:
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
