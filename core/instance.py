"""This process's name in leases and claims shared with other processes."""

from __future__ import annotations

import os
import secrets
import socket


def process_name(role: str) -> str:
    """Host, pid and a random part: pids are reused, and a restarted process must not pass for its
    predecessor."""
    return f"{role}:{socket.gethostname()[:24]}:{os.getpid()}:{secrets.token_hex(3)}"
