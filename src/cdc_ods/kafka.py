"""Kafka client helpers shared by every stage (confluent-kafka / librdkafka everywhere)."""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable, Mapping

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    ResourceType,
)

from cdc_ods.errors import CdcError, TransientError

# librdkafka logs every failed connection attempt to stderr; callers report failures
# themselves, so its log goes to Python logging (silent unless configured, e.g. --debug).
_librdkafka_log = logging.getLogger("cdc_ods.librdkafka")
_librdkafka_log.addHandler(logging.NullHandler())
_librdkafka_log.propagate = False


_security: Callable[[], Mapping[str, object]] = dict


def use_security(settings: Callable[[], Mapping[str, object]]) -> None:
    """How this process's clients authenticate (`cdc_ods.kafka_security.client_settings`): set
    once at start, from cdc.yaml; called at the first client, so a command that never talks to
    Kafka needs no Kafka password."""
    global _security
    _security = functools.cache(settings)


def client_config(bootstrap: str, **settings: object) -> dict[str, object]:
    """Base settings for every producer, consumer and admin client of the project: the
    process's security (`use_security`), then `settings`."""
    return {"bootstrap.servers": bootstrap, "logger": _librdkafka_log, **_security(), **settings}


_UNASSIGNED = -1  # librdkafka's RD_KAFKA_PARTITION_UA: the partitioner chooses


class Unacknowledged(TransientError):
    """Records Kafka has not acknowledged yet and none it refused: they stay queued in the
    producer, and flushing again waits for them (Kafka down: the stage waits)."""


class DeliveryFailed(CdcError):
    """Records Kafka refused or that timed out: they are gone from the producer, so flushing
    again cannot bring them back; the input offsets they stand for stay uncommitted and the
    stage stops (its records are processed again after the restart)."""


class AckedProducer:
    """A producer whose records count only once Kafka acknowledged them: `flush` raises
    `Unacknowledged` or `DeliveryFailed` naming `what` if any was not, and the caller leaves
    the input offsets they stand for uncommitted."""

    def __init__(self, bootstrap: str, what: str, **settings: object) -> None:
        self.what = what
        self._errors: list[str] = []
        self._producer = Producer(client_config(bootstrap, **settings))

    def _delivered(self, err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            self._errors.append(str(err))

    def produce(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        headers: list[tuple[str, bytes]] | dict[str, bytes] | None = None,
        partition: int | None = None,
    ) -> None:
        """Queue one record (`partition` None: the partitioner's choice); a full local queue
        waits for deliveries to drain."""
        target = _UNASSIGNED if partition is None else partition
        while True:
            try:
                self._producer.produce(
                    topic, value, key=key, headers=headers, on_delivery=self._delivered, partition=target
                )
                break
            except BufferError:
                self._producer.poll(0.1)
        self._producer.poll(0)

    def flush(self, timeout_s: float = 60.0) -> None:
        """Wait until every record is acknowledged; raise if any was not (see the errors)."""
        remaining = self._producer.flush(timeout_s)
        if self._errors:
            errors, self._errors = self._errors[:3], []
            raise DeliveryFailed(f"{self.what}: records refused or timed out: {errors}")
        if remaining:
            raise Unacknowledged(f"{self.what}: {remaining} records not acknowledged yet")

    def purge(self) -> None:
        """Drop the records not yet sent (their input offsets will not be committed either)."""
        self._producer.purge(in_queue=True, in_flight=False)
        self._producer.poll(0)
        self._errors = []


def fetch_available(consumer: Consumer, max_messages: int, wait_s: float) -> list[Message]:
    """Up to `max_messages` records: waits at most `wait_s` for the first, then takes only what
    has already arrived. (`consume(n, t)` waits until it has n records or t has passed, which
    holds a lone change back for the whole of t.)"""
    first = consumer.poll(wait_s)
    if first is None:
        return []
    return [first, *consumer.consume(max_messages - 1, 0)] if max_messages > 1 else [first]


def admin_client(bootstrap: str, **settings: object) -> AdminClient:
    return AdminClient(client_config(bootstrap, **{"socket.timeout.ms": 5000, **settings}))


def topic_partitions(bootstrap: str, timeout_s: float = 10.0) -> dict[str, list[int]]:
    """Every topic of the cluster, with its partitions (sorted)."""
    return _listed(admin_client(bootstrap), bootstrap, timeout_s)


def _listed(admin: AdminClient, bootstrap: str, timeout_s: float) -> dict[str, list[int]]:
    try:
        metadata = admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        raise TransientError(f"kafka at {bootstrap}: {exc.args[0]}") from None
    return {name: sorted(t.partitions) for name, t in metadata.topics.items() if t.error is None}


def group_members(bootstrap: str, group: str, timeout_s: float = 10.0) -> list[str]:
    """The hosts of the consumers now in `group` (none for a group without members or unknown)."""
    admin = admin_client(bootstrap)
    try:
        description = admin.describe_consumer_groups([group], request_timeout=timeout_s)[group].result()
    except KafkaException as exc:
        if exc.args[0].code() == KafkaError.GROUP_ID_NOT_FOUND:
            return []
        raise TransientError(f"kafka at {bootstrap}: cannot describe group {group}: {exc.args[0]}") from None
    return [m.host for m in description.members]


def ensure_topic(
    bootstrap: str,
    topic: str,
    partitions: int = 1,
    timeout_s: float = 10.0,
    config: dict[str, str] | None = None,
    existing: Mapping[str, list[int]] | None = None,
    **settings: object,
) -> None:
    """Create `topic` if it does not exist (idempotent); `config` is set on it either way.
    `existing`: the cluster's topics when the caller has just listed them; `settings`: the
    client's own (another user's login)."""
    admin = admin_client(bootstrap, **settings)
    if topic not in (existing if existing is not None else _listed(admin, bootstrap, timeout_s)):
        new = NewTopic(topic, num_partitions=partitions, replication_factor=1, config=config or {})
        try:
            admin.create_topics([new])[topic].result(timeout=timeout_s)
            return
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise TransientError(f"kafka at {bootstrap}: cannot create {topic}: {exc.args[0]}") from None
    if config:  # a topic created before (or by another client): brought to the same settings
        entries = [ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in config.items()]
        resource = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=entries)
        try:
            admin.incremental_alter_configs([resource])[resource].result(timeout=timeout_s)
        except KafkaException as exc:
            raise TransientError(f"kafka at {bootstrap}: cannot configure {topic}: {exc.args[0]}") from None


def round_trip(bootstrap: str, topic: str, timeout_s: float = 10.0, **settings: object) -> None:
    """Produce one record and read it back: the broker accepts writes and serves reads.
    `settings`: the clients' own (another user's login)."""
    ensure_topic(bootstrap, topic, timeout_s=timeout_s, **settings)
    token = uuid.uuid4().hex.encode()
    delivered: list = []
    producer = Producer(client_config(bootstrap, **{"message.timeout.ms": int(timeout_s * 1000), **settings}))
    producer.produce(topic, token, on_delivery=lambda err, msg: delivered.append((err, msg)))
    producer.flush(timeout_s)
    if not delivered or delivered[0][0] is not None:
        reason = delivered[0][0] if delivered else "no delivery report"
        raise TransientError(f"kafka at {bootstrap}: produce failed: {reason}")
    msg = delivered[0][1]
    consumer = Consumer(
        client_config(
            bootstrap, **{"group.id": f"cdc-health-{token.decode()}", "enable.auto.commit": False, **settings}
        )
    )
    try:
        consumer.assign([TopicPartition(topic, msg.partition(), msg.offset())])
        got = consumer.poll(timeout_s)
    finally:
        consumer.close()
    if got is None or got.error() or got.value() != token:
        raise TransientError(f"kafka at {bootstrap}: the record produced to {topic} was not read back")
