"""The bot's data (facts, texts, NLU lists), shipped in the wheel as the package `exobot_data` (pyproject.toml)."""
