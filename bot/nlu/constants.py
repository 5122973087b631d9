"""Names of the message properties our NLU components set."""

NORM_TEXT = "norm_text"  # normalised, rewritten text (bot/nlu/rewrite.py); in the parse output for the actions
LANG = "lang"  # detected script: zh-Hans, zh-Hant, en or None
INPUT_PROBLEM = "input_problem"  # one of bot.guard.PROBLEMS, or None
FLAGS = "flags"  # contract flags raised by rule-based detectors: [{"code", "start", "end", "text"}]
NORM_SPANS = "norm_spans"  # per character of norm_text, the (start, end) span of the user's text behind it
FACT_RANKING = "fact_ranking"  # learned fact ranking: [{"fact", "confidence"}], best first ("__none__": no fact)
FACT_SEGMENTS = "fact_segments"  # per sentence of a longer message: {"start", "end", "question", "ranking"}
