"""Project paths, resolved from this file's location (never from the working directory).

In a source checkout the data are the repository's `data/` folder, where editors change them. An installed
package (a wheel: `pip install .`) carries the same files as the package `exobot_data` (pyproject.toml maps
`data/` to it), so the bot runs outside the checkout too. `EXOBOT_HOME` points both at another folder
(its `data/` and `var/`), for a deployment that keeps its own facts.
"""

import contextlib
import contextvars
import importlib.util
import os
import shutil
from pathlib import Path
from typing import Iterator, Optional

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
HANT_FIXES_FILE = DATA / "lang" / "zh_hant_fixes.yml"
SOURCE_NAME = "exosome-therapy-article.zh.txt"
SOURCE_ARTICLE = DATA / "source" / SOURCE_NAME
VAR = _var_dir()

# What the NLU components read besides their config and training data, relative to a data folder: the
# term lists, the facts (keywords, vocabulary, reference authors) and the article the facts are checked
# against. A trained model carries a copy of them (bot.nlu.base.ModelDataComponent), so it understands
# messages as it did when it was trained, whatever data/ holds when it is loaded.
NLU_DATA = (
    "nlu/lexicon.yml",
    "nlu/claim_rules.yml",
    "nlu/claim_codes.yml",
    "nlu/intent_cues.yml",
    "nlu/jieba_dict.txt",
    "nlu/variants.yml",
    "facts",
    f"source/{SOURCE_NAME}",
)

_reading_from: contextvars.ContextVar[Optional[Path]] = contextvars.ContextVar("exobot_data_folder", default=None)


def data_dir() -> Path:
    """The data folder being read: a model's own copy while its components load, else DATA."""
    return _reading_from.get() or DATA


@contextlib.contextmanager
def reading_data_from(folder: Path) -> Iterator[Path]:
    """Within the block, the NLU's term lists and facts are read from `folder` (a copy of data/'s NLU_DATA)."""
    token = _reading_from.set(Path(folder))
    try:
        yield Path(folder)
    finally:
        _reading_from.reset(token)


def nlu_file(name: str) -> Path:
    """A term file of data/nlu (`lexicon.yml`, `variants.yml`, ...) in the data folder being read."""
    return data_dir() / "nlu" / name


def facts_dir() -> Path:
    """The fact folder in the data folder being read."""
    return data_dir() / "facts"


def source_article() -> Path:
    """The source article in the data folder being read."""
    return data_dir() / "source" / SOURCE_NAME


def copy_nlu_data(target: Path, replacements: Optional[dict[str, Path]] = None) -> None:
    """Copy NLU_DATA from the data folder being read into `target` (same layout); `replacements` maps an
    entry of NLU_DATA to another file or folder to copy in its place (a component configured with its own)."""
    for entry in NLU_DATA:
        source = (replacements or {}).get(entry) or data_dir() / entry
        destination = target / entry
        destination.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, destination, dirs_exist_ok=True)
        else:
            shutil.copyfile(source, destination)
