"""`/metrics` for Prometheus: the supervisor's own registry, fed by what its workers publish.

Workers are separate processes; rather than prometheus_client's multiprocess mode (files per
process, gauges that need a mode each), they report events over the supervisor's telemetry
channel (`voicebot.telemetry`) and the supervisor counts them here. Metric names (the Grafana
dashboard in deploy/grafana/voicebot.json queries these):

    voicebot_calls_active{direction}                  calls in progress now
    voicebot_calls_ended_total{outcome}               completed, caller_hangup, transferred,
                                                      not_answered, failed
    voicebot_turn_latency_seconds                     end of the caller's speech to the bot's reply
    voicebot_recognition_seconds                      a final recognition, asked to answered
    voicebot_amd_decisions_total{answered_by}         human | machine (outbound calls)
    voicebot_sip_responses_total{code}                final status of placed INVITEs; refusals
    voicebot_worker_restarts_total{worker}            workers started again after dying
    voicebot_workers_alive                            workers running now
    voicebot_campaign_contacts{campaign,disposition}  contacts by disposition (pending included)
    voicebot_campaign_done_ratio{campaign}            share of a campaign's rows that are done
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from voicebot import telemetry

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0, float("inf"))
RECOGNITION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 4.0, float("inf"))
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _Now(Collector):
    """Gauges read when scraped: calls in progress, workers alive, campaign progress."""

    def __init__(
        self,
        active: Callable[[], dict[str, int]],
        alive: Callable[[], int],
        campaigns: Callable[[], Iterable[Any]],
    ):
        self.active, self.alive, self.campaigns = active, alive, campaigns

    def collect(self) -> Iterable[Metric]:
        calls = GaugeMetricFamily(
            "voicebot_calls_active", "calls in progress", labels=["direction"]
        )
        for direction, n in sorted(self.active().items()):
            calls.add_metric([direction], n)
        yield calls
        yield GaugeMetricFamily("voicebot_workers_alive", "workers running", value=self.alive())
        contacts = GaugeMetricFamily(
            "voicebot_campaign_contacts",
            "campaign contacts by disposition",
            labels=["campaign", "disposition"],
        )
        done = GaugeMetricFamily(
            "voicebot_campaign_done_ratio", "share of a campaign's rows done", labels=["campaign"]
        )
        try:
            summaries = list(self.campaigns())
        except Exception:  # a locked or missing database must not fail the scrape
            log.warning("campaign progress not read for /metrics", exc_info=True)
            summaries = []
        for s in summaries:
            for disposition, n in sorted(s.counts.items()):
                contacts.add_metric([s.name, disposition], n)
            done.add_metric([s.name], s.done / s.total if s.total else 1.0)
        yield contacts
        yield done


class Metrics:
    def __init__(
        self,
        *,
        active: Callable[[], dict[str, int]],
        alive: Callable[[], int] = lambda: 0,
        campaigns: Callable[[], Iterable[Any]] = lambda: (),
    ):
        self.registry = CollectorRegistry()
        r = self.registry
        self.ended = Counter(
            "voicebot_calls_ended", "calls ended, by outcome", ["outcome"], registry=r
        )
        self.turn_latency = Histogram(
            "voicebot_turn_latency_seconds",
            "end of the caller's speech to the bot's first audio",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.recognition = Histogram(
            "voicebot_recognition_seconds",
            "a final recognition, from asked to answered",
            buckets=RECOGNITION_BUCKETS,
            registry=r,
        )
        self.amd = Counter(
            "voicebot_amd_decisions", "answering-machine detection", ["answered_by"], registry=r
        )
        self.sip = Counter(
            "voicebot_sip_responses", "SIP final responses by code", ["code"], registry=r
        )
        self.restarts = Counter(
            "voicebot_worker_restarts", "workers started again after dying", ["worker"], registry=r
        )
        r.register(_Now(active, alive, campaigns))

    def apply(self, event: telemetry.Event) -> None:
        match event:
            case telemetry.CallFinished():
                self.ended.labels(event.outcome).inc()
            case telemetry.TurnTaken(who="bot", latency_ms=float() as ms):
                self.turn_latency.observe(ms / 1000.0)
            case telemetry.Recognised():
                self.recognition.observe(event.seconds)
            case telemetry.AmdDecided():
                self.amd.labels(event.answered_by or "unknown").inc()
            case telemetry.SipResponse():
                self.sip.labels(str(event.code)).inc()

    def worker_restarted(self, worker: str) -> None:
        self.restarts.labels(worker).inc()

    def text(self) -> bytes:
        return generate_latest(self.registry)
