"""Issue 17: plain `rasa run` works with the repository's files, and the launcher fails loudly on storage."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Tuple

import pytest

from bot.paths import ROOT
from bot.endpoints import StartupError, check_stores
from tests.conftest import RASA, TEST_ENV, free_port

MESSAGING = (
    "WECHAT_TOKEN",
    "WECHAT_APP_ID",
    "WECHAT_AES_KEY",
    "TELEGRAM_TOKEN",
    "TELEGRAM_WEBHOOK_SECRET",
    "TELEGRAM_API_URL",
)


def http(url: str, data: bytes | None = None) -> Tuple[int, str]:
    """(status, body) of a GET, or a POST when `data` is given."""
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace")


def test_plain_rasa_run_starts_with_no_messaging_settings(trained_model: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in TEST_ENV.items() if k not in MESSAGING}
    env["TRACKER_SQLITE_PATH"] = str(tmp_path / "tracker.db")
    port = free_port()
    log = (tmp_path / "rasa.log").open("w")
    process = subprocess.Popen(
        [
            RASA,
            "run",
            "--model",
            str(trained_model),
            "--credentials",
            "credentials.yml",
            "--endpoints",
            "endpoints.yml",
            "--port",
            str(port),
            "--interface",
            "127.0.0.1",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if http(f"{base}/")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(1)
        assert process.poll() is None, (tmp_path / "rasa.log").read_text()[-3000:]
        status, body = http(f"{base}/webhooks/wechat/webhook", b"<xml></xml>")
        assert status == 503 and "WECHAT_TOKEN" in body
        status, body = http(f"{base}/webhooks/telegram/webhook", b"{}")
        assert status == 503 and "TELEGRAM_TOKEN" in body
        assert http(f"{base}/webhooks/rest/")[0] == 200
        logged = (tmp_path / "rasa.log").read_text()
        assert logged.count("wechat channel: off") == 1 and "RasaException" not in logged
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_the_launcher_stops_when_the_tracker_store_cannot_be_reached(trained_model: Path, tmp_path: Path) -> None:
    env = {**TEST_ENV, "TRACKER_DB_URL": "postgresql://rasa:secret@127.0.0.1:1/nothing"}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot.serve",
            "--model",
            str(trained_model),
            "--rasa-port",
            str(free_port()),
            "--action-port",
            str(free_port()),
            "--widget-port",
            str(free_port()),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 1, run.stdout[-2000:] + run.stderr[-2000:]
    assert "TRACKER_DB_URL" in run.stderr and "The bot is running" not in run.stdout


@pytest.mark.parametrize("workers", ["1", "2"])
def test_the_launcher_stops_when_the_model_cannot_be_loaded(trained_model: Path, tmp_path: Path, workers: str) -> None:
    """Rasa logs a model it cannot load and runs on without one, apologising for every message; the
    launcher (one process, or the supervisor of several) stops with an error instead."""
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(b"not a model " * 100)
    ports = [str(free_port()) for _ in range(3)]
    run = subprocess.run(
        [sys.executable, "-m", "bot.serve", "--model", str(broken), "--rasa-port", ports[0]]
        + ["--action-port", ports[1], "--widget-port", ports[2]],
        cwd=ROOT,
        env={**TEST_ENV, "RASA_WORKERS": workers, "TRACKER_SQLITE_PATH": str(tmp_path / "t.db")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 1, run.stdout[-2000:] + run.stderr[-2000:]
    assert "without a model" in run.stderr and "make train" in run.stderr, run.stderr[-2000:]
    assert "The bot is running" not in run.stdout


def test_store_checks_name_the_setting(tmp_path: Path) -> None:
    check_stores({"TRACKER_SQLITE_PATH": str(tmp_path / "ok.db")})
    with sqlite3.connect(tmp_path / "ok.db") as connection:  # switched once here, not by the Rasa processes
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with pytest.raises(StartupError, match="REDIS_URL"):
        check_stores({"TRACKER_SQLITE_PATH": str(tmp_path / "ok.db"), "REDIS_URL": "redis://127.0.0.1:1/0"})
    with pytest.raises(StartupError, match="TRACKER_DB_URL"):
        check_stores({"TRACKER_DB_URL": "postgresql://rasa:secret@127.0.0.1:1/nothing"})


def test_the_tracker_store_takes_its_database_from_endpoints_yml_before_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`url: ${TRACKER_DB_URL}` (Rasa substitutes it) or Rasa's own keys in endpoints.yml name the database;
    without them the environment does, as before."""
    import yaml
    from rasa.core.tracker_store import TrackerStore
    from rasa.shared.core.domain import Domain
    from rasa.utils.endpoints import read_endpoint_config

    monkeypatch.setenv("TRACKER_SQLITE_PATH", str(tmp_path / "from-env.db"))
    monkeypatch.delenv("TRACKER_DB_URL", raising=False)
    monkeypatch.setenv("MY_TRACKER_URL", f"sqlite:///{tmp_path / 'from-endpoints.db'}")
    cases = {
        "url": ({"type": "bot.stores.ConfiguredSQLTrackerStore", "url": "${MY_TRACKER_URL}"}, "from-endpoints.db"),
        "rasa keys": (
            {"type": "bot.stores.ConfiguredSQLTrackerStore", "dialect": "sqlite", "db": str(tmp_path / "rasa-keys.db")},
            "rasa-keys.db",
        ),
        "environment": ({"type": "bot.stores.ConfiguredSQLTrackerStore"}, "from-env.db"),
    }
    for name, (store, expected) in cases.items():
        endpoints = tmp_path / f"endpoints-{name.replace(' ', '-')}.yml"
        endpoints.write_text(yaml.safe_dump({"tracker_store": store}), encoding="utf-8")
        config = read_endpoint_config(str(endpoints), "tracker_store")
        created = TrackerStore.create(config, Domain.empty())
        database = getattr(getattr(created, "_tracker_store", created), "engine").url.database
        assert Path(database).name == expected, name


def test_conversation_tests_pass_through_rasa_test(trained_model: Path, tmp_path: Path) -> None:
    """Issue 17: `rasa test core` runs the conversation tests of tests/test_stories.yml (intents by the NLU,
    next actions by the policy) and none fails."""
    result = subprocess.run(
        [
            RASA,
            "test",
            "core",
            "--model",
            str(trained_model),
            "--stories",
            "tests/test_stories.yml",
            "--out",
            str(tmp_path / "results"),
            "--fail-on-prediction-errors",
            "--endpoints",
            str(tmp_path / "none.yml"),
        ],
        cwd=ROOT,
        env=TEST_ENV,
        capture_output=True,
        text=True,
        timeout=600,
    )
    failed = tmp_path / "results" / "failed_test_stories.yml"
    details = failed.read_text(encoding="utf-8") if failed.exists() else ""
    assert result.returncode == 0, f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}\n{details}"
    assert "Correct:" in result.stdout + result.stderr or (tmp_path / "results" / "story_report.json").exists()
    assert "stories:" not in details or details.strip().endswith("stories: []"), details


def test_the_trained_model_records_what_its_nlu_read(trained_model: Path) -> None:
    """The model carries the fingerprint of the term lists, facts and NLU code it was trained with."""
    import tarfile

    from bot.nlu.base import nlu_fingerprint

    with tarfile.open(trained_model) as archive:
        stamps = [m for m in archive.getmembers() if m.name.endswith("nlu_fingerprint.txt")]
        assert len(stamps) == 1, [m.name for m in archive.getmembers()][:20]
        stamp = archive.extractfile(stamps[0])
        assert stamp is not None and stamp.read().decode().strip() == nlu_fingerprint()


_PARSE_WITH_MODEL = """
import asyncio, json, sys
from rasa.core.agent import Agent
from bot.nlu.claims import SystemicClaimDetector
from rasa.shared.nlu.training_data.message import Message
text = sys.argv[2]
parsed = asyncio.run(Agent.load(sys.argv[1]).parse_message(text))
direct = Message({"text": text})
SystemicClaimDetector({**SystemicClaimDetector.get_default_config()}).process_message(direct)
print(json.dumps({"model": [f["code"] for f in parsed["flags"]], "data": [f["code"] for f in direct.get("flags")]}))
"""


def test_a_trained_model_understands_with_the_term_lists_it_was_trained_with(
    trained_model: Path, tmp_path: Path
) -> None:
    """Issue 17 point 4: the model carries its term lists and facts (ModelStorage). Loaded where data/ holds
    other claim rules (EXOBOT_HOME), it still flags the claim it was trained to flag, while a detector built
    from that data/ does not: the model reads its own copy, not the folder it happens to run next to."""
    import shutil
    import tarfile

    home = tmp_path / "home"
    shutil.copytree(ROOT / "data", home / "data")
    rules = home / "data" / "nlu" / "claim_rules.yml"
    text = rules.read_text(encoding="utf-8")
    start = text.index("\nroute:\n")
    end = text.index("\n\n", start + 1)
    rules.write_text(text[:start] + "\nroute:\n  zh: [无此途径]\n  en: [nosuchroute]" + text[end:], encoding="utf-8")
    claim = "Exosome IV drips make your whole body younger"
    result = subprocess.run(
        [sys.executable, "-c", _PARSE_WITH_MODEL, str(trained_model), claim],
        env={**TEST_ENV, "EXOBOT_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    flags = json.loads(result.stdout.strip().splitlines()[-1])
    assert flags == {"model": ["unsupported_systemic_injection_claim"], "data": []}, flags
    with tarfile.open(trained_model) as archive:
        copies = {m.name.split("/")[-4] for m in archive.getmembers() if m.name.endswith("data/nlu/claim_rules.yml")}
    carriers = {name.rstrip("0123456789").split(".")[-1] for name in copies}
    assert carriers == {
        "ScriptNormalizer",
        "BilingualTokenizer",
        "LexiconEntityExtractor",
        "SystemicClaimDetector",
        "CueFeaturizer",
        "FactClassifier",
    }, copies
