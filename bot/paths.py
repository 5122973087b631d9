"""Project paths, resolved from this file's location (never from the working directory)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
FACTS_DIR = DATA / "facts"
TEXTS_FILE = DATA / "texts.yml"
LEXICON_FILE = DATA / "nlu" / "lexicon.yml"
CLAIM_RULES_FILE = DATA / "nlu" / "claim_rules.yml"
INTENT_CUES_FILE = DATA / "nlu" / "intent_cues.yml"
JIEBA_DICT = DATA / "nlu" / "jieba_dict.txt"
VARIANTS_FILE = DATA / "nlu" / "variants.yml"
HANT_FIXES_FILE = DATA / "lang" / "zh_hant_fixes.yml"
SOURCE_ARTICLE = DATA / "source" / "exosome-therapy-article.zh.txt"
VAR = ROOT / "var"
