"""The launcher behind `make run`: prints the addresses, answers, and Ctrl-C stops every server."""

from __future__ import annotations

import json
import re
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bot.paths import ROOT
from tests.conftest import TEST_ENV, free_port, split_reply


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_make_run_launcher_starts_answers_and_stops_on_ctrl_c(trained_model: Path, tmp_path: Path) -> None:
    ports = {"rasa": free_port(), "action": free_port(), "widget": free_port()}
    env = {**TEST_ENV, "TRACKER_SQLITE_PATH": str(tmp_path / "tracker.db")}
    env.pop("STAFF_TOKEN", None)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bot.serve",
            "--model",
            str(trained_model),
            "--rasa-port",
            str(ports["rasa"]),
            "--action-port",
            str(ports["action"]),
            "--widget-port",
            str(ports["widget"]),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = []
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            assert line, "the launcher exited early:\n" + "".join(output)
            output.append(line)
            if "Press Ctrl-C" in line:
                break
        printed = "".join(output)
        for port in ports.values():
            assert f":{port}" in printed, printed
        request = urllib.request.Request(
            f"http://127.0.0.1:{ports['rasa']}/webhooks/rest/webhook",
            data=json.dumps({"sender": "launcher", "message": "What are exosomes?"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            text, payload = split_reply(json.loads(response.read()))
        assert payload["type"] == "answer" and "Evidence:" in text
        # Issue 14: without STAFF_TOKEN the launcher generates one and prints it once; it opens /staff.
        token = re.search(r"/staff/\s+\(token (\S+), generated", printed)
        assert token, printed
        staff = urllib.request.Request(
            f"http://127.0.0.1:{ports['rasa']}/staff/api/conversations",
            headers={"Authorization": f"Bearer {token.group(1)}"},
        )
        with urllib.request.urlopen(staff, timeout=60) as response:
            assert response.status == 200
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
    assert not any(_listening(port) for port in ports.values()), "a server outlived Ctrl-C"
    assert tmp_path.joinpath("tracker.db").exists(), "the conversation went to the configured SQLite file"
