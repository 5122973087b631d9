"""The `bot` command for support staff: `bot review`, `bot review --compare`, `bot insights`, `bot export`,
`bot evaluate`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, List, Optional, Tuple

os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")

from bot.paths import VAR  # noqa: E402
from bot.tools import ToolError  # noqa: E402

if TYPE_CHECKING:
    from bot.tools.tracker import Conversation

REVIEW_DIR = VAR / "review"
EXIT_OK, EXIT_FAILED, EXIT_ERROR = 0, 1, 2
RUN_SUFFIXES = (".json",)


def _parser() -> argparse.ArgumentParser:
    from bot.tools.client import DEFAULT_URL

    parser = argparse.ArgumentParser(prog="bot", description="Support staff tools of the exosome evidence bot.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    review = commands.add_parser(
        "review",
        help="ask the running bot every question of a file and write an HTML/JSON/CSV report",
        description="Ask the running bot (over REST, one new conversation per question) every question of a CSV "
        "or YAML file, check the expectations, and write report.html, review.json and review.csv. "
        "Exit status 1 when an expectation fails.",
    )
    review.add_argument(
        "questions", type=Path, help="question file (.csv or .yml); or a review.json of an earlier run, with --compare"
    )
    review.add_argument(
        "--url",
        default=os.environ.get("BOT_URL", DEFAULT_URL),
        help="address of the running bot (default: $BOT_URL or %(default)s)",
    )
    review.add_argument("--out", type=Path, help="folder for the report (default: var/review/<date-time>)")
    review.add_argument(
        "--compare",
        type=Path,
        metavar="OLD.json",
        help="review.json of an earlier run: also write compare.html showing what changed",
    )
    review.add_argument("--fail-on-change", action="store_true", help="with --compare: exit 1 when anything changed")
    review.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each reply (default 60)")
    review.add_argument("--quiet", action="store_true", help="no progress bar")

    evaluate = commands.add_parser(
        "evaluate",
        help="score conversations end to end (lead fact, grade, citations, flag, language)",
        description="Send the conversations of turn files (tests/heldout/*.yml format) to the running bot over "
        "REST, check every reply and print the scores per script and per category. Exit status 1 "
        "when a turn fails.",
    )
    evaluate.add_argument("files", type=Path, nargs="+", help="turn files (YAML, see tests/heldout/README.md)")
    evaluate.add_argument(
        "--url",
        default=os.environ.get("BOT_URL", DEFAULT_URL),
        help="address of the running bot (default: $BOT_URL or %(default)s)",
    )
    evaluate.add_argument("--json", type=Path, metavar="FILE", help="also write the scores and failures as JSON")
    evaluate.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each reply (default 60)")

    for name, text in (
        ("insights", "what consumers asked: unanswered questions, flagged claims, languages, topics"),
        ("export", "write conversations from the tracker store as JSON Lines"),
    ):
        sub = commands.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        sub.add_argument("--since", help="from this time: 2026-03-01, 2026-03-01T08:30, or 7d / 12h / 30m ago")
        sub.add_argument("--until", help="up to this time (a date alone includes that day)")
        sub.add_argument(
            "--db",
            help="tracker store: SQLAlchemy URL or SQLite file (default: as the bot, from "
            "TRACKER_DB_URL / TRACKER_SQLITE_PATH, else var/tracker.db)",
        )
        sub.add_argument(
            "--include-review",
            action="store_true",
            help="include the conversations of `bot review` runs (left out by default)",
        )
        if name == "insights":
            sub.add_argument("--top", type=int, default=20, help="rows per list (default 20)")
            sub.add_argument("--json", type=Path, metavar="FILE", help="also write the report as JSON")
        else:
            sub.add_argument("--out", "-o", default="-", metavar="FILE", help="JSONL file (default: standard output)")
    return parser


def _compare(old_path: Path, new_run: dict, out_dir: Path) -> tuple[dict, dict]:
    from bot.tools import report
    from bot.tools.compare import compare_runs
    from bot.tools.review import load_run

    comparison = compare_runs(load_run(old_path), new_run)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"html": out_dir / "compare.html", "json": out_dir / "compare.json"}
    paths["html"].write_text(report.compare_html(comparison), encoding="utf-8")
    paths["json"].write_text(json.dumps(comparison, ensure_ascii=False, indent=1), encoding="utf-8")
    print(report.compare_text(comparison, paths))
    return comparison, paths


def review_command(args: argparse.Namespace) -> int:
    """`bot review`: run (or load) a review, write the reports, optionally compare with an older run."""
    from bot.tools import report
    from bot.tools.client import RestClient
    from bot.tools.questions import load_questions
    from bot.tools.review import load_run, run_review, write_run

    if args.questions.suffix.lower() in RUN_SUFFIXES:
        if not args.compare:
            raise ToolError(
                f"{args.questions} is a saved run; to compare it with an older one add --compare OLD.json. "
                "To run questions, pass a .csv or .yml question file."
            )
        new_run = load_run(args.questions)
        comparison, _ = _compare(args.compare, new_run, args.out or args.questions.parent)
        changed = comparison["summary"]["questions"] - comparison["summary"]["unchanged"]
        return EXIT_FAILED if args.fail_on_change and changed else EXIT_OK

    questions = load_questions(args.questions)
    if args.compare:
        load_run(args.compare)  # fail before asking anything when the old run is unreadable
    out_dir = args.out or REVIEW_DIR / datetime.now().strftime("%Y%m%d-%H%M%S")
    run = run_review(
        questions, RestClient(args.url, timeout=args.timeout), str(args.questions), progress=not args.quiet
    )
    paths = write_run(run, out_dir, html=report.review_html(run, compare_file="compare.html" if args.compare else None))
    print(report.review_text(run, paths))
    status = EXIT_FAILED if run["summary"]["failed"] or run["summary"]["errors"] else EXIT_OK
    if args.compare:
        comparison, _ = _compare(args.compare, run, out_dir)
        changed = comparison["summary"]["questions"] - comparison["summary"]["unchanged"]
        if args.fail_on_change and changed:
            status = EXIT_FAILED
    return status


def _conversations(args: argparse.Namespace) -> Tuple[Iterator[Conversation], Optional[float], Optional[float]]:
    from bot.tools.review import SENDER_PREFIX
    from bot.tools.tracker import parse_when, read_conversations, store_url

    since, until = parse_when(args.since), parse_when(args.until, end=True)
    if since is not None and until is not None and since >= until:
        raise ToolError(f"--since {args.since} is not before --until {args.until}. Swap or widen them.")
    url = store_url(os.environ, args.db)
    exclude = None if args.include_review else SENDER_PREFIX
    return read_conversations(url, since, until, exclude_prefix=exclude), since, until


def insights_command(args: argparse.Namespace) -> int:
    """`bot insights`: print the report (and write it as JSON with --json)."""
    from bot.tools import report
    from bot.tools.insights import insights

    conversations, since, until = _conversations(args)
    result = insights(conversations, since, until, top=args.top)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    print(report.insights_text(result))
    return EXIT_OK


def export_command(args: argparse.Namespace) -> int:
    """`bot export`: conversations as JSON Lines to a file or standard output."""
    from bot.tools.export import write_jsonl

    conversations, _, _ = _conversations(args)
    if args.out == "-":
        count = write_jsonl(conversations, sys.stdout)
    else:
        path = Path(args.out)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as f:
            count = write_jsonl(conversations, f)
    print(f"{count} conversations written to {args.out if args.out != '-' else 'standard output'}", file=sys.stderr)
    return EXIT_OK


def evaluate_command(args: argparse.Namespace) -> int:
    """`bot evaluate`: score turn files against the running bot."""
    from bot.kb import default_knowledge_base
    from bot.texts import default_texts
    from bot.tools.client import RestClient
    from bot.tools.evaluate import Checker, format_summary, load_turns, run, summarize

    kb = default_knowledge_base()
    conversations = load_turns(args.files, kb)
    client = RestClient(args.url, timeout=args.timeout)
    client.version()

    def ask(sender: str, message: str) -> tuple:
        reply = client.ask(sender, message)
        return reply.text, reply.payload

    summary = summarize(run(conversations, ask, Checker(kb, default_texts()), prefix="bot-review-evaluate"))
    for failure in summary["failures"]:
        print(
            f"[{failure['conversation']}/{failure['turn']}] {failure['text'][:90]}\n    {'; '.join(failure['problems'])}"
        )
    print(format_summary(summary))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, ensure_ascii=False, indent=1), encoding="utf-8")
    return EXIT_FAILED if summary["failures"] else EXIT_OK


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of the `bot` console command; returns the exit status."""
    args = _parser().parse_args(argv)
    command = {
        "review": review_command,
        "insights": insights_command,
        "export": export_command,
        "evaluate": evaluate_command,
    }[args.command]
    try:
        return command(args)
    except ToolError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
