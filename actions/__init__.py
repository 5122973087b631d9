"""The action server: one module per feature, all built on actions.base.BotAction."""
