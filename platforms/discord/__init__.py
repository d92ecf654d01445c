"""The Discord door: slash commands, deferred answers, progress edits and buttons (discord.py)."""
