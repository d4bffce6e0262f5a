"""Reloading the configuration of a running server (SIGHUP, `roost admin reload`).

The file is read and checked in full first: a config with an error is
refused and the one in force stays. Settings in ``LIVE`` then change in
place on the server's one config object (every part reads its limits from
it), without touching a connection; the others need a restart and are named
in the log line and the reply.
"""

from __future__ import annotations

import dataclasses
import logging
import ssl
from typing import TYPE_CHECKING

from roost.protocol.errors import ErrorCode, RoostError
from roost.protocol.messages import ReloadResult
from roost.server import logs
from roost.server.config import ServerConfig
from roost.server.tls import certificate_files

if TYPE_CHECKING:
    from roost.server.app import Server

log = logging.getLogger("roost.server")

# Settings that take effect at once. The rest are read once at start (the
# listener, the store, the frame limit clients were told, hashing costs).
LIVE = frozenset(
    {
        "server_name",
        "registration",
        "max_text",
        "history_page",
        "edit_window",
        "max_reactions",
        "max_topic",
        "search_page",
        "search_rate",
        "search_burst",
        "outbox_budget",
        "stall_timeout",
        "token_ttl",
        "handshake_timeout",
        "max_file_size",
        "user_quota",
        "max_transfers",
        "file_retention",
        "upload_timeout",
        "tls_cert",
        "tls_key",
        "msg_rate",
        "msg_burst",
        "bytes_rate",
        "bytes_burst",
        "account_msg_rate",
        "account_msg_burst",
        "account_bytes_rate",
        "account_bytes_burst",
        "max_connections_per_address",
        "login_fail_account",
        "login_fail_address",
        "login_fail_window",
        "abuse_warn",
        "abuse_mute",
        "abuse_block",
        "abuse_window",
        "abuse_interval",
        "auto_mute_duration",
        "auto_block_duration",
        "ping_interval",
        "ping_timeout",
        "log_format",
        "log_level",
    }
)


def differences(old: ServerConfig, new: ServerConfig) -> list[str]:
    """Names of the settings whose values differ, in declaration order."""
    return [
        f.name
        for f in dataclasses.fields(ServerConfig)
        if getattr(old, f.name) != getattr(new, f.name)
    ]


def reload(server: Server) -> ReloadResult:
    """Reread the config file and apply what can change live; RoostError if refused."""
    try:
        result = _reload(server)
    except RoostError:
        server.metrics.counters.reloads["refused"] += 1
        raise
    server.metrics.counters.reloads["applied"] += 1
    return result


def _reload(server: Server) -> ReloadResult:
    try:
        new = server.load_config()
    except (RoostError, TypeError, ValueError) as exc:
        message = exc.message if isinstance(exc, RoostError) else str(exc)
        log.error(
            "reload refused, the configuration in force stays: %s",
            message,
            extra=logs.fields("reload_refused", reason=message),
        )
        raise RoostError(ErrorCode.BAD_REQUEST, f"reload refused: {message}") from exc
    changed = differences(server.config, new)
    live = [name for name in changed if name in LIVE]
    fixed = [name for name in changed if name not in LIVE]
    if server.tls_context is not None:
        # Always: a renewed certificate usually replaces the files under the same names.
        _load_certificate(server.tls_context, new)
    for name in live:
        setattr(server.config, name, getattr(new, name))
    if live:
        server.reconfigure(live)
    restart = f"; needs a restart: {', '.join(fixed)}" if fixed else ""
    log.info(
        "reloaded the configuration: %s%s",
        ", ".join(live) if live else "nothing changed",
        restart,
        extra=logs.fields("reload", reason=restart.lstrip("; ") or None),
    )
    # After the line above, so that a reload to a quieter level is still logged.
    logs.reconfigure(server.config.log_format, server.config.log_level)
    return ReloadResult(changed=live, restart_needed=fixed)


def _load_certificate(ctx: ssl.SSLContext, config: ServerConfig) -> None:
    """Load the new certificate into the listening context: new handshakes use it,
    established connections keep theirs. Checked on a scratch context first, so a
    bad pair leaves the one in force."""
    cert, key = certificate_files(config)
    scratch = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        scratch.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        message = f"cannot load the TLS certificate {cert} and key {key}: {exc}"
        log.error(
            "reload refused: %s", message, extra=logs.fields("reload_refused", reason=message)
        )
        raise RoostError(ErrorCode.BAD_REQUEST, f"reload refused: {message}") from exc
    ctx.load_cert_chain(cert, key)
