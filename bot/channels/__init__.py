"""Input/output channels: socket.io for the web widget, WeChat Official Accounts, Telegram."""
