"""JSON logs (`[logging] format = "json"`): one object per line, for log collectors.

Each line has `time`, `level`, `logger` and `message`, the fields the record was given with `extra=`
(`job_id`, `ref`: the error reference a user quotes), and `exception` when there is one. The records
are masked before they are formatted (bot.log_redaction), fields included.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from bot.log_redaction import extra_fields

SCALARS = (str, int, float, bool, type(None))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in extra_fields(record).items():
            if not name.startswith("_") and isinstance(value, SCALARS):
                entry.setdefault(name, value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False)
