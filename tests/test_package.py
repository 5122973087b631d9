"""Issue 17, point 4: the installed package is self-contained. A wheel built from the checkout, installed
outside it, finds its facts, texts and NLU lists as package data and answers a question."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

from bot.paths import ROOT

ANSWER = r"""
import asyncio, sys
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
import bot.paths
print("DATA", bot.paths.DATA)
from actions.answers import ActionAnswer
text = "外泌体对帕金森病有用吗？"
latest = {"text": text, "intent": {"name": "ask_knowledge", "confidence": 0.9}, "entities": [],
          "fact_ranking": [{"fact": "animal.parkinsons", "confidence": 0.8}]}
tracker = Tracker("pkg", {}, latest, [{"event": "user", "text": text, "parse_data": latest}], False, None, {}, "action_listen")
dispatcher = CollectingDispatcher()
asyncio.run(ActionAnswer().run(dispatcher, tracker, {}))
payload = dispatcher.messages[0]["custom"]
print("FACTS", payload["facts"], "REFS", [c["ref"] for c in payload["citations"]])
"""


def test_a_wheel_installed_outside_the_checkout_answers_from_its_package_data(tmp_path: Path) -> None:
    wheels, target, elsewhere = tmp_path / "wheels", tmp_path / "site", tmp_path / "somewhere"
    elsewhere.mkdir()
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = wheels.glob("exobot-*.whl")
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    assert (target / "exobot_data" / "facts" / "references.yml").is_file(), "the facts ship in the wheel"
    # The dependencies come from this environment; the bot itself only from the installed wheel.
    env = {k: v for k, v in os.environ.items() if k not in ("EXOBOT_HOME", "PYTHONPATH")}
    env["PYTHONPATH"] = f"{target}{os.pathsep}{sysconfig.get_paths()['purelib']}"
    env["HOME"] = str(tmp_path / "home")
    run = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            f"import sys; sys.path[:0] = {[str(target), sysconfig.get_paths()['purelib']]!r}\n" + ANSWER,
        ],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    data_line = next(line for line in run.stdout.splitlines() if line.startswith("DATA"))
    assert str(target) in data_line and str(ROOT) not in data_line, data_line
    assert "FACTS ['animal.parkinsons']" in run.stdout and "11" in run.stdout.split("REFS")[1], run.stdout
    check = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            f"import sys; sys.path[:0] = {[str(target), sysconfig.get_paths()['purelib']]!r}\n"
            "import runpy; sys.argv = ['bot.kb']; runpy.run_module('bot.kb', run_name='__main__')",
        ],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert check.returncode == 0 and "56 facts" in check.stdout, check.stdout + check.stderr
