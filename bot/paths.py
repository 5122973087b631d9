"""Project paths, resolved from this file's location (never from the working directory).

In a source checkout the data are the repository's `data/` folder, where editors change them. An installed
package (a wheel: `pip install .`) carries the same files as the package `exobot_data` (pyproject.toml maps
`data/` to it), so the bot runs outside the checkout too. `EXOBOT_HOME` points both at another folder
(its `data/` and `var/`), for a deployment that keeps its own facts.
"""

import importlib.util
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _data_dir() -> Path:
    """`$EXOBOT_HOME/data`, else the checkout's `data/`, else the installed package `exobot_data`."""
    home = os.environ.get("EXOBOT_HOME", "").strip()
    if home:
        return Path(home).resolve() / "data"
    if (ROOT / "data" / "facts").is_dir():
        return ROOT / "data"
    spec = importlib.util.find_spec("exobot_data")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"No bot data: neither {ROOT / 'data'} (a source checkout) nor the package exobot_data (an installed "
            "wheel) exists. Reinstall the package (pip install exobot), or set EXOBOT_HOME to a folder with data/."
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _var_dir() -> Path:
    """`$EXOBOT_HOME/var`, else the checkout's `var/`, else `~/.local/state/exobot` for an installed package."""
    home = os.environ.get("EXOBOT_HOME", "").strip()
    if home:
        return Path(home).resolve() / "var"
    if (ROOT / "data" / "facts").is_dir():
        return ROOT / "var"
    return Path.home() / ".local" / "state" / "exobot"


DATA = _data_dir()
FACTS_DIR = DATA / "facts"
TEXTS_FILE = DATA / "texts.yml"
LEXICON_FILE = DATA / "nlu" / "lexicon.yml"
CLAIM_RULES_FILE = DATA / "nlu" / "claim_rules.yml"
INTENT_CUES_FILE = DATA / "nlu" / "intent_cues.yml"
JIEBA_DICT = DATA / "nlu" / "jieba_dict.txt"
VARIANTS_FILE = DATA / "nlu" / "variants.yml"
HANT_FIXES_FILE = DATA / "lang" / "zh_hant_fixes.yml"
SOURCE_ARTICLE = DATA / "source" / "exosome-therapy-article.zh.txt"
VAR = _var_dir()
