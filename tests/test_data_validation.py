"""Rasa's own validation of domain, NLU data and rules, with warnings treated as errors."""

from __future__ import annotations

import subprocess

from bot.paths import ROOT
from tests.conftest import RASA, TEST_ENV


def test_rasa_data_validate_fail_on_warnings():
    result = subprocess.run(
        [RASA, "data", "validate", "--fail-on-warnings"], cwd=ROOT, env=TEST_ENV, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
