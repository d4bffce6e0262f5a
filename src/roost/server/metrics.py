"""What the server counts, and its Prometheus view (docs/operations.md lists every metric).

The hot paths (a message stored, a batch fanned out) bump plain integers in
:class:`Counters`: no call, no lock. A collector turns them into metric
families when someone scrapes, together with gauges read from the server's
state at that moment (connections, sessions, outbox bytes). Latencies go to
``prometheus_client`` histograms, observed once per commit and once per
fan-out batch, not per message or per recipient.

The same registry serves the HTTP endpoint (roost.server.ops_http) and
``roost admin stats`` (:func:`samples`), so both show the same figures.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from roost.protocol.messages import PRIORITY_LABELS, StatSample
from roost.server.outbox import N_CLASSES, URGENT

if TYPE_CHECKING:
    from roost.server.app import Server

PREFIX = "roost"
# Store commits take tens of microseconds (a WAL append) to tens of milliseconds (an fsync).
COMMIT_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5)
# A fan-out batch: microseconds for a small room, milliseconds for thousands of recipients.
FANOUT_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1)


def _per_class() -> list[int]:
    return [0] * N_CLASSES


@dataclass(slots=True)
class Counters:
    """Plain counters the server bumps as things happen (read at scrape time)."""

    logins: Counter[str] = field(default_factory=Counter)  # by transport
    login_failures: int = 0
    registrations: int = 0
    # by outbox class (roost.server.outbox): index URGENT..LOW are the chat priorities
    stored: list[int] = field(default_factory=_per_class)
    delivered: list[int] = field(default_factory=_per_class)
    gap_notices: int = 0
    slow_reader_disconnects: int = 0
    file_bytes_in: int = 0
    file_bytes_out: int = 0
    sanctions: Counter[tuple[str, str]] = field(default_factory=Counter)  # (kind, by)
    automatic_actions: Counter[str] = field(default_factory=Counter)  # by action
    reloads: Counter[str] = field(default_factory=Counter)  # by outcome


@dataclass(slots=True)
class Health:
    """The outcome of the last readiness check (roost.server.app.Server.check_health)."""

    store: bool = True
    bus: bool = True
    checked: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return self.store and self.bus


class Metrics:
    """The registry of one server process: its counters, histograms and gauges."""

    def __init__(self, server: Server) -> None:
        self.counters = Counters()
        self.health = Health()
        self.registry = CollectorRegistry(auto_describe=True)
        self.commit_seconds = Histogram(
            f"{PREFIX}_store_commit_seconds",
            "Time to run and commit one batch of store operations.",
            buckets=COMMIT_BUCKETS,
            registry=self.registry,
        )
        self.fanout_seconds = LoopHistogram(FANOUT_BUCKETS)
        self.registry.register(_ServerCollector(server, self))

    def text(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)


class LoopHistogram:
    """A histogram for the event loop's hot path: a bisect and two adds per observation.

    prometheus_client's Histogram takes a lock and walks its buckets in
    Python (about 2-4 us an observation, measured); once per fan-out batch that
    was a few percent of a core at full fan-out speed. Observed from the loop
    thread only, so it needs no lock; exported as a histogram family at scrape.
    """

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one: above every bound (+Inf)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        # bisect_left: the first bound >= value, as Prometheus' buckets are "le".
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    def family(self, name: str, doc: str) -> HistogramMetricFamily:
        buckets: list[tuple[str, float]] = []
        total = 0
        for bound, n in zip((*map(floatToGoString, self.bounds), "+Inf"), self.counts, strict=True):
            total += n
            buckets.append((bound, total))
        return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=self.sum)


def _priority(klass: int) -> str:
    return PRIORITY_LABELS[klass - URGENT]


def _chat_classes(values: list[int]) -> Iterable[tuple[str, int]]:
    return ((_priority(k), values[k]) for k in range(URGENT, URGENT + len(PRIORITY_LABELS)))


class _ServerCollector(Collector):
    """Metric families built from the server's counters and state when scraped."""

    def __init__(self, server: Server, metrics: Metrics) -> None:
        self.server = server
        self.metrics = metrics

    def describe(self) -> Iterable[Metric]:
        return []  # families depend on state; describing them would need a collect

    def collect(self) -> Iterator[Metric]:
        server, c = self.server, self.metrics.counters
        health = self.metrics.health

        def gauge(name: str, doc: str, labels: list[str] | None = None) -> GaugeMetricFamily:
            return GaugeMetricFamily(f"{PREFIX}_{name}", doc, labels=labels)

        def counter(name: str, doc: str, labels: list[str] | None = None) -> CounterMetricFamily:
            return CounterMetricFamily(f"{PREFIX}_{name}", doc, labels=labels)

        conns: Counter[str] = Counter()
        sessions: Counter[str] = Counter()
        queued = 0
        for conn in list(server.connections):
            conns[conn.kind] += 1
            if conn.account is not None:
                sessions[conn.kind] += 1
            if conn.outbox is not None:
                queued += conn.outbox.queued
        g = gauge("connections", "Open client connections.", ["transport"])
        for kind, n in sorted(conns.items()):
            g.add_metric([kind], n)
        yield g
        g = gauge("sessions", "Logged-in sessions.", ["transport"])
        for kind, n in sorted(sessions.items()):
            g.add_metric([kind], n)
        yield g
        yield _one(
            gauge("users_online", "Accounts with at least one session."), len(server.state.online)
        )
        yield _one(gauge("rooms", "Rooms known to this process."), len(server.state.rooms))
        yield _one(
            gauge("waiting_admission", "Newcomers waiting in the admission lobby."),
            sum(len(c) for c in server.lobby.waiting.values()),
        )
        f = counter("logins", "Successful logins and resumes.", ["transport"])
        for kind, n in sorted(c.logins.items()):
            f.add_metric([kind], n)
        yield f
        yield _one(
            counter("login_failures", "Refused logins: wrong password or unknown token."),
            c.login_failures,
        )
        yield _one(counter("registrations", "Accounts created by registering."), c.registrations)
        f = counter("messages_stored", "Messages stored (acknowledged).", ["priority"])
        for label, n in _chat_classes(c.stored):
            f.add_metric([label], n)
        yield f
        f = counter(
            "messages_delivered",
            "Message deliveries handed to local sessions' outboxes (messages x recipients).",
            ["priority"],
        )
        for label, n in _chat_classes(c.delivered):
            f.add_metric([label], n)
        yield f
        yield _one(gauge("outbox_bytes", "Bytes queued in every outbox together."), queued)
        yield _one(
            counter(
                "gap_notices", "Gap notices sent: readers that lost live messages and must refetch."
            ),
            c.gap_notices,
        )
        yield _one(
            counter(
                "slow_reader_disconnects",
                "Connections closed for staying stalled with a full outbox.",
            ),
            c.slow_reader_disconnects,
        )
        yield _one(counter("file_bytes_in", "File bytes received in uploads."), c.file_bytes_in)
        yield _one(counter("file_bytes_out", "File bytes sent in downloads."), c.file_bytes_out)
        f = counter(
            "sanctions",
            "Blocks, mutes and bans imposed, by staff or automatically.",
            ["kind", "by"],
        )
        for (kind, by), n in sorted(c.sanctions.items()):
            f.add_metric([kind, by], n)
        yield f
        g = gauge("sanctions_active", "Blocks, mutes and bans in force.", ["kind"])
        now = time.time()
        active: Counter[str] = Counter(
            s.kind for s in server.sanctions.all() if not s.expires or s.expires > now
        )
        for kind, n in sorted(active.items()):
            g.add_metric([kind], n)
        yield g
        f = counter(
            "automatic_actions", "Actions taken by automatic protection, by action.", ["action"]
        )
        for action, n in sorted(c.automatic_actions.items()):
            f.add_metric([action], n)
        yield f
        f = counter("config_reloads", "Configuration reloads, by outcome.", ["outcome"])
        for outcome, n in sorted(c.reloads.items()):
            f.add_metric([outcome], n)
        yield f
        yield _one(
            gauge("store_up", "1 if the last readiness check reached the store."), int(health.store)
        )
        yield _one(
            gauge("bus_up", "1 if the last readiness check reached the bus."), int(health.bus)
        )
        yield self.metrics.fanout_seconds.family(
            f"{PREFIX}_fanout_seconds",
            "Time from the first message of a fan-out batch reaching this process"
            " to its frames being handed to every local recipient.",
        )
        yield _one(
            gauge("start_time_seconds", "When this process started (Unix time)."), server.started
        )


def _one(family: GaugeMetricFamily | CounterMetricFamily, value: float) -> Metric:
    """A family without labels, with its one value."""
    family.add_metric([], value)
    return family


def samples(metrics: Metrics) -> list[StatSample]:
    """Every sample of the registry (what `roost admin stats` shows)."""
    return [
        StatSample(name=s.name, labels=dict(s.labels), value=float(s.value))
        for family in metrics.registry.collect()
        for s in family.samples
    ]
