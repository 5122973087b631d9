"""The staff console (issue 14): a token-protected page and JSON API under /staff in the Rasa server, to
test answers and see why, review stored conversations, and take over a conversation when a user asks for
a person (hand-off)."""

# The tracker slot holding a conversation's hand-off state, and its values (empty: the bot answers).
HANDOFF_SLOT = "handoff"
WAITING, STAFF = "waiting", "staff"
