"""Support staff tools behind the `bot` command: batch review, run comparison, insights, export."""


class ToolError(RuntimeError):
    """A staff tool cannot go on; the message says what happened, why, and how to fix it."""
