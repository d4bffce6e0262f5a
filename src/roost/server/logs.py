"""The server's log lines: a human format and one JSON object per line.

Log calls name what happened with ``extra=fields(event, user=, address=, reason=)``;
the text format shows the message as ever, the JSON format gives each field
its own key (ts, level, event, user, address, reason, message). Passwords and
tokens are never passed to a logger: log lines carry names, addresses and
reasons only (tests/test_ops_logs.py checks both formats).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FIELDS = ("user", "address", "reason")
# The handler installed by setup(); reconfigure() swaps its formatter.
_handler: logging.Handler | None = None


def fields(
    event: str, user: str | None = None, address: str | None = None, reason: str | None = None
) -> dict[str, Any]:
    """The ``extra`` of a log call: what happened, to whom, from where, why."""
    return {"event": event, "user": user, "address": address, "reason": reason}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            # Lines without a named event are named after their logger's last part.
            "event": getattr(record, "event", None) or record.name.rsplit(".", 1)[-1],
        }
        for key in FIELDS:
            value = getattr(record, key, None)
            if value is not None:
                out[key] = value
        out["message"] = record.getMessage()
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def _formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)


def setup(log_format: str, level: str) -> None:
    """Send log records to standard error in ``log_format`` from ``level`` up."""
    global _handler
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    _handler = logging.StreamHandler(sys.stderr)
    _handler.setFormatter(_formatter(log_format))
    root.addHandler(_handler)
    root.setLevel(level.upper())


def reconfigure(log_format: str, level: str) -> None:
    """Change format and level of a running process (reload); no-op before setup()."""
    if _handler is not None:
        _handler.setFormatter(_formatter(log_format))
        logging.getLogger().setLevel(level.upper())
