"""Server configuration: defaults, TOML file, command-line overrides."""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from roost.protocol.errors import ErrorCode, RoostError
from roost.protocol.frames import ABSOLUTE_MAX_FRAME, DEFAULT_MAX_FRAME
from roost.protocol.messages import Limits

DEFAULT_PORT = 7878
DEFAULT_WEB_PORT = 8080
# Below this a reader that keeps up could not hold one turn's batch of a busy room.
MIN_OUTBOX_BUDGET = 64 * 1024
LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("debug", "info", "warning", "error")


# 192 KiB: see ServerConfig.chunk_size.
DEFAULT_CHUNK_SIZE = 192 * 1024


@dataclass(slots=True)
class ServerConfig:
    """Everything an operator can set; each field is also a TOML key."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    data_dir: Path = field(default_factory=lambda: Path("roost-data"))
    server_name: str = "roost"
    # open: anyone may register; closed: accounts come from `roost user add`;
    # approve: newcomers wait until a moderator admits them.
    registration: str = "open"
    default_rooms: list[str] = field(default_factory=lambda: ["general"])
    # Rooms with more members than this announce no joins, leaves or presence to
    # their members (a join would otherwise reach every member: quadratic as a
    # big room fills). 0: every room announces them.
    quiet_room_size: int = 500
    # typing indicators: at most one relayed per user and conversation in this
    # many seconds (more are answered but not relayed); 0 turns them off
    typing_interval: float = 3.0
    max_away_reason: int = 200  # characters of an away reason
    # wire limits
    max_frame: int = DEFAULT_MAX_FRAME
    max_text: int = 16 * 1024
    history_page: int = 500
    # seconds after sending in which an author may edit or delete a message (0: any
    # time), and how many distinct reactions one message may carry
    edit_window: float = 900.0
    max_reactions: int = 20
    max_topic: int = 500  # characters of a room topic
    # search (docs/protocol.md, "Search"): most results per request, and a token
    # bucket per account (searches per second sustained, burst; 0: no limit)
    search_page: int = 100
    search_rate: float = 0.5
    search_burst: int = 10
    # per-connection outbox (bytes) and how long a reader may stay stalled
    outbox_budget: int = 1024 * 1024
    stall_timeout: float = 30.0
    fifo_outbox: bool = False  # benchmark switch: one queue, no priorities
    # hold and batch the room messages of readers that fall behind (roost.server.reader_pace)
    pace_readers: bool = True
    # persistence
    durability: str = "normal"  # normal (survives kill -9) | fsync (survives power loss)
    ack_after_store: bool = True  # False only for measuring the cost of durability
    # cluster mode (docs/cluster.md): "" keeps SQLite in data_dir and one process;
    # store = "postgresql://USER@HOST/DB" and bus = "redis://HOST:PORT/0" let
    # several `roost serve` processes act as one server
    store: str = ""
    bus: str = ""
    cluster_channel: str = "roost"  # prefix of the Redis channels and keys of this cluster
    # folder of the file blobs; "" is data_dir. The nodes of a cluster share one
    # (a network file system with atomic rename, docs/cluster.md)
    blob_dir: str = ""
    # authentication
    argon2_time_cost: int = 2
    argon2_memory_kib: int = 19 * 1024
    token_ttl: float = 30 * 86400.0
    handshake_timeout: float = 10.0
    # files
    max_file_size: int = 10 * 1024 * 1024
    # 192 KiB: per-chunk costs (frame, msgspec, worker hand-off, syscalls) are a
    # third of 64 KiB's, and a chunk still fits a 256 KiB frame (docs/benchmarks.md,
    # "Files and idle (issue 13)").
    chunk_size: int = DEFAULT_CHUNK_SIZE
    user_quota: int = 100 * 1024 * 1024
    max_transfers: int = 4
    file_retention: float = 30 * 86400.0
    # seconds an interrupted upload is kept for its client to resume it
    upload_timeout: float = 3600.0
    # TLS: certificate and key files (PEM); empty: a self-signed pair made on
    # first start and kept in data_dir/tls (clients pin it on first use)
    tls: bool = False
    tls_cert: str = ""
    tls_key: str = ""
    # Automatic protection (docs/moderation.md). A rate, burst or limit of 0 turns that check off.
    # token buckets for messages sent: sustained rate per second and burst size,
    # per connection and per account (all sessions together); bytes are UTF-8 text bytes
    msg_rate: float = 10.0
    msg_burst: int = 50
    bytes_rate: float = 64 * 1024
    bytes_burst: int = 256 * 1024
    account_msg_rate: float = 20.0
    account_msg_burst: int = 100
    account_bytes_rate: float = 128 * 1024
    account_bytes_burst: int = 512 * 1024
    max_connections_per_address: int = 50
    # failed logins within login_fail_window seconds: past the account limit that
    # account takes no password logins for the rest of the window; past the
    # address limit the address is banned for auto_block_duration
    login_fail_account: int = 10
    login_fail_address: int = 30
    login_fail_window: float = 900.0
    # abuse escalation: strikes (refused floods, malformed or oversized frames)
    # within abuse_window seconds lead to a warning, a mute, then a temporary
    # block; strikes closer together than abuse_interval count as one
    abuse_warn: int = 3
    abuse_mute: int = 6
    abuse_block: int = 10
    abuse_window: float = 600.0
    abuse_interval: float = 1.0
    auto_mute_duration: float = 600.0
    auto_block_duration: float = 3600.0
    # keepalive: a logged-in connection silent for ping_interval seconds gets a
    # ping; one still silent ping_timeout seconds later is closed (0: off)
    ping_interval: float = 30.0
    ping_timeout: float = 30.0
    # operations (docs/operations.md): Prometheus metrics, /healthz and /readyz
    # over HTTP on metrics_host:metrics_port (0: off)
    metrics_port: int = 0
    metrics_host: str = "127.0.0.1"
    # logs on standard error: "text" (one line for people) or "json" (one object per line)
    log_format: str = "text"
    log_level: str = "info"  # debug | info | warning | error

    # IRC gateway (docs/irc.md): plain and TLS ports (0: off), the server's IRC
    # name (server_name when empty), the message of the day, and how many
    # missed messages per conversation a client without chathistory is shown
    irc_port: int = 0
    irc_tls_port: int = 0
    irc_server_name: str = ""
    irc_motd: str = ""
    irc_playback: int = 50
    # Web client (docs/web.md): the page and its WebSocket on web_host:web_port
    # (web_host empty: the same address as host; web_port 0 picks a free port).
    web: bool = True
    web_host: str = ""
    web_port: int = DEFAULT_WEB_PORT
    # Origins besides the page's own allowed to open the WebSocket
    # (e.g. "https://chat.example.org" when a proxy rewrites the Host header).
    web_origins: list[str] = field(default_factory=list)
    # Behind a reverse proxy: take the client's address from X-Forwarded-For and
    # the scheme from X-Forwarded-Proto (set only when the proxy sets them).
    web_forwarded: bool = False

    def validate(self) -> None:
        if not 0 <= self.metrics_port <= 65535:
            raise RoostError(ErrorCode.BAD_REQUEST, "metrics_port must be 0 (off) or a TCP port")
        if self.log_format not in LOG_FORMATS:
            raise RoostError(ErrorCode.BAD_REQUEST, "log_format must be 'text' or 'json'")
        if self.log_level not in LOG_LEVELS:
            raise RoostError(
                ErrorCode.BAD_REQUEST, f"log_level must be one of {', '.join(LOG_LEVELS)}"
            )
        if self.registration not in ("open", "closed", "approve"):
            raise RoostError(
                ErrorCode.BAD_REQUEST, "registration must be 'open', 'closed' or 'approve'"
            )
        if not 1024 <= self.max_frame <= ABSOLUTE_MAX_FRAME:
            raise RoostError(
                ErrorCode.BAD_REQUEST, f"max_frame must be between 1024 and {ABSOLUTE_MAX_FRAME}"
            )
        if self.chunk_size + 1024 > self.max_frame:
            raise RoostError(
                ErrorCode.BAD_REQUEST, "chunk_size must be at least 1 KiB below max_frame"
            )
        if self.outbox_budget < MIN_OUTBOX_BUDGET:
            raise RoostError(
                ErrorCode.BAD_REQUEST, f"outbox_budget must be at least {MIN_OUTBOX_BUDGET} bytes"
            )
        if not self.stall_timeout > 0:
            raise RoostError(
                ErrorCode.BAD_REQUEST, "stall_timeout must be a positive number of seconds"
            )
        for name in ("max_file_size", "user_quota"):
            if getattr(self, name) < 0:
                raise RoostError(ErrorCode.BAD_REQUEST, f"{name} must not be negative")
        if self.quiet_room_size < 0:
            raise RoostError(ErrorCode.BAD_REQUEST, "quiet_room_size must not be negative")
        if self.typing_interval < 0 or self.max_away_reason < 0:
            raise RoostError(
                ErrorCode.BAD_REQUEST, "typing_interval and max_away_reason must not be negative"
            )
        if self.edit_window < 0:
            raise RoostError(ErrorCode.BAD_REQUEST, "edit_window must not be negative")
        if self.max_topic < 1:
            raise RoostError(ErrorCode.BAD_REQUEST, "max_topic must be at least 1")
        if self.max_reactions < 1:
            raise RoostError(ErrorCode.BAD_REQUEST, "max_reactions must be at least 1")
        if self.search_page < 1:
            raise RoostError(ErrorCode.BAD_REQUEST, "search_page must be at least 1")
        if self.search_rate < 0 or self.search_burst < 0:
            raise RoostError(
                ErrorCode.BAD_REQUEST, "search_rate and search_burst must not be negative"
            )
        if self.chunk_size < 1024:
            raise RoostError(ErrorCode.BAD_REQUEST, "chunk_size must be at least 1024")
        if self.max_transfers < 1:
            raise RoostError(ErrorCode.BAD_REQUEST, "max_transfers must be at least 1")
        if self.file_retention <= 0 or self.upload_timeout <= 0:
            raise RoostError(
                ErrorCode.BAD_REQUEST, "file_retention and upload_timeout must be positive"
            )
        if self.durability not in ("normal", "fsync"):
            raise RoostError(ErrorCode.BAD_REQUEST, "durability must be 'normal' or 'fsync'")
        for name in ("irc_port", "irc_tls_port"):
            if not 0 <= getattr(self, name) <= 65535:
                raise RoostError(ErrorCode.BAD_REQUEST, f"{name} must be 0 (off) or a port")
        if self.irc_playback < 0:
            raise RoostError(ErrorCode.BAD_REQUEST, "irc_playback must not be negative")
        if not 0 <= self.web_port <= 65535:
            raise RoostError(ErrorCode.BAD_REQUEST, "web_port must be between 0 and 65535")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise RoostError(ErrorCode.BAD_REQUEST, "tls_cert and tls_key go together")
        steps = [n for n in (self.abuse_warn, self.abuse_mute, self.abuse_block) if n > 0]
        if steps != sorted(steps):
            raise RoostError(
                ErrorCode.BAD_REQUEST,
                "abuse thresholds must grow: abuse_warn <= abuse_mute <= abuse_block",
            )
        for name in ("bytes_burst", "account_bytes_burst"):
            burst = getattr(self, name)
            if burst and burst < 4 * self.max_text:
                raise RoostError(
                    ErrorCode.BAD_REQUEST,
                    f"{name} must be 0 (off) or at least 4 * max_text, so the longest message fits",
                )

    def limits(self) -> Limits:
        """The limits announced to clients in the server hello."""
        return Limits(
            max_frame=self.max_frame,
            max_text=self.max_text,
            max_file_size=self.max_file_size,
            chunk_size=self.chunk_size,
            user_quota=self.user_quota,
            max_transfers=self.max_transfers,
            history_page=self.history_page,
            outbox_budget=self.outbox_budget,
            file_retention=self.file_retention,
            quiet_room_size=self.quiet_room_size,
            typing_interval=self.typing_interval,
            max_away_reason=self.max_away_reason,
            edit_window=self.edit_window,
            max_reactions=self.max_reactions,
            max_topic=self.max_topic,
            search_page=self.search_page,
            search_rate=self.search_rate,
            search_burst=self.search_burst,
        )

    @property
    def db_path(self) -> Path:
        return Path(self.data_dir) / "roost.db"


def load_config(path: Path | None = None, **overrides: Any) -> ServerConfig:
    """Defaults, then the TOML file, then the non-None ``overrides``."""
    values: dict[str, Any] = {}
    names = {f.name for f in dataclasses.fields(ServerConfig)}
    if path is not None:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except OSError as exc:
            raise RoostError(ErrorCode.BAD_REQUEST, f"cannot read config {path}: {exc}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise RoostError(
                ErrorCode.BAD_REQUEST, f"config {path} is not valid TOML: {exc}"
            ) from exc
        section = data.get("server", data)
        unknown = set(section) - names
        if unknown:
            raise RoostError(
                ErrorCode.BAD_REQUEST,
                f"unknown config keys in {path}: {', '.join(sorted(unknown))}",
            )
        _check_types(section, path)
        values.update(section)
    values.update({k: v for k, v in overrides.items() if v is not None})
    if "data_dir" in values:
        values["data_dir"] = Path(values["data_dir"])
    if "chunk_size" not in values and "max_frame" in values:
        # A max_frame set below the default chunk plus its frame overhead (a
        # configuration from before 192 KiB chunks) takes the largest chunk
        # that fits rather than refusing to start.
        values["chunk_size"] = min(DEFAULT_CHUNK_SIZE, values["max_frame"] - 1024)
    cfg = ServerConfig(**values)
    cfg.validate()
    return cfg


def _check_types(section: dict[str, Any], path: Path) -> None:
    """Each key of the file has the type of its default (an int where a float goes)."""
    for f in dataclasses.fields(ServerConfig):
        if f.name not in section:
            continue
        value = section[f.name]
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[operator]
        if isinstance(default, bool):
            ok, want = isinstance(value, bool), "true or false"
        elif isinstance(default, float):
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            want = "a number"
        elif isinstance(default, int):
            ok, want = isinstance(value, int) and not isinstance(value, bool), "an integer"
        elif isinstance(default, list):
            ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
            want = "a list of strings"
        else:  # str and Path
            ok, want = isinstance(value, str), "a string"
        if not ok:
            raise RoostError(
                ErrorCode.BAD_REQUEST, f"config {path}: {f.name} must be {want}, not {value!r}"
            )
