"""Names of the message properties our NLU components set."""

NORM_TEXT = "norm_text"  # normalised text (same length as the original), not in the parse output
LANG = "lang"  # detected script: zh-Hans, zh-Hant, en or None
INPUT_PROBLEM = "input_problem"  # one of bot.guard.PROBLEMS, or None
FLAGS = "flags"  # contract flags raised by rule-based detectors: [{"code", "start", "end", "text"}]
