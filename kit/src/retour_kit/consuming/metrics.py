"""Prometheus metrics of event consumers, labelled by consumer group and topic.

Register once per service registry (``ConsumerMetrics.register``) and share the instance
between the service's consumers. Alert on ``consumer_lag`` growing, ``consumer_outage``
staying at 1, ``consumer_paused`` at 1 (a systematic failure: see
``consumer_systematic_failures_total``'s code) and any increase of
``consumer_dead_lettered_total``. ``consumer_verdicts_deferred_total`` counts failed records
whose partition waited for more evidence before they were judged (``deferring``).
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass(frozen=True)
class ConsumerMetrics:
    consumed: Counter
    processed: Counter
    duplicates: Counter
    dead_lettered: Counter
    handler_failures: Counter
    outage_retries: Counter
    outage: Gauge
    lag: Gauge
    handler_duration: Histogram
    paused: Gauge
    systematic_failures: Counter
    deferred: Counter

    @classmethod
    def register(cls, registry: CollectorRegistry) -> ConsumerMetrics:
        by_topic = ["group", "topic"]
        return cls(
            consumed=Counter(
                "consumer_records_consumed",
                "Records fetched from Kafka (valid or not, first delivery or not).",
                by_topic,
                registry=registry,
            ),
            processed=Counter(
                "consumer_events_processed",
                "Events applied by the handler and committed with their inbox rows.",
                by_topic,
                registry=registry,
            ),
            duplicates=Counter(
                "consumer_duplicates",
                "Events skipped because the inbox already had them (redelivery, replay).",
                by_topic,
                registry=registry,
            ),
            dead_lettered=Counter(
                "consumer_dead_lettered",
                "Records written to the dead-letter topic, by dlq_code.",
                [*by_topic, "code"],
                registry=registry,
            ),
            handler_failures=Counter(
                "consumer_handler_failures",
                "Handler attempts that raised (each one, before any dead-lettering).",
                by_topic,
                registry=registry,
            ),
            outage_retries=Counter(
                "consumer_outage_retries",
                "Retries of a batch while Postgres or Kafka was unavailable.",
                by_topic,
                registry=registry,
            ),
            outage=Gauge(
                "consumer_outage",
                "1 while the consumer waits for Postgres or Kafka to come back.",
                ["group"],
                registry=registry,
            ),
            lag=Gauge(
                "consumer_lag",
                "Records not yet fetched: partition highwater minus the consumer's position.",
                [*by_topic, "partition"],
                registry=registry,
            ),
            handler_duration=Histogram(
                "consumer_handler_duration_seconds",
                "Time to run the handler over one transaction's events (a batch or one retry).",
                by_topic,
                registry=registry,
            ),
            paused=Gauge(
                "consumer_paused",
                "1 while the consumer is paused on a systematic failure, probing for the fix.",
                ["group"],
                registry=registry,
            ),
            systematic_failures=Counter(
                "consumer_systematic_failures",
                "Pauses on a systematic failure, by its classification (type/code, no message).",
                [*by_topic, "code"],
                registry=registry,
            ),
            deferred=Counter(
                "consumer_verdicts_deferred",
                "Failed records whose partition waited for more evidence before judging them"
                " (poison or systematic), by classification.",
                [*by_topic, "code"],
                registry=registry,
            ),
        )
