"""librdkafka's built-in mock Kafka cluster, started through ctypes from the confluent-kafka wheel.

There is no Apache Kafka on these machines. The ``confluent-kafka`` wheel bundles
``librdkafka``, whose mock cluster speaks the Kafka protocol on localhost; the
Kafka driver is tested against it. Known limits of the mock: no CreateTopics (so
every topic is created here up front); with aiokafka, groups of two or more
members need the leader-sync delay of ``bus.kafka.KafkaBus``; and no static
membership: a member that rejoins under a known ``group.instance.id`` (a restarted
worker) is added as a new member, so its group rebalances only after the old
member's session has timed out (``KAFKA_SESSION_TIMEOUT_MS``), about two session
timeouts after the kill, where a real broker hands the partitions back at once.

    with MockCluster() as cluster:
        bus = KafkaBus(bootstrap=cluster.bootstrap)
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.util
import socket
import threading
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

from bus.topics import ALL_TOPICS, DEFAULT_PARTITIONS

_RD_KAFKA_PRODUCER = 0


class MockClusterError(RuntimeError):
    """The mock cluster could not be started (library missing or refused)."""


def find_librdkafka() -> Path:
    """Path of the librdkafka bundled with confluent-kafka (or a system copy)."""
    spec = importlib.util.find_spec("confluent_kafka")
    candidates: list[Path] = []
    if spec is not None and spec.submodule_search_locations:
        package_dir = Path(next(iter(spec.submodule_search_locations)))
        for libs in (package_dir.parent / "confluent_kafka.libs", package_dir / ".libs", package_dir):
            candidates.extend(sorted(libs.glob("librdkafka*.so*")) + sorted(libs.glob("librdkafka*.dylib")))
    if candidates:
        return candidates[0]
    system = ctypes.util.find_library("rdkafka")
    if system:
        return Path(system)
    raise MockClusterError("librdkafka not found: install confluent-kafka (its wheel bundles it)")


def _load(path: Path) -> ctypes.CDLL:
    lib = ctypes.CDLL(str(path))
    vp, cp, c_int, c_size = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_size_t
    signatures: dict[str, tuple[list[type], type | None]] = {
        "rd_kafka_conf_new": ([], vp),
        "rd_kafka_conf_set": ([vp, cp, cp, cp, c_size], c_int),
        "rd_kafka_new": ([c_int, vp, cp, c_size], vp),
        "rd_kafka_destroy": ([vp], None),
        "rd_kafka_mock_cluster_new": ([vp, c_int], vp),
        "rd_kafka_mock_cluster_destroy": ([vp], None),
        "rd_kafka_mock_cluster_bootstraps": ([vp], cp),
        "rd_kafka_mock_topic_create": ([vp, cp, c_int, c_int], c_int),
        "rd_kafka_mock_group_initial_rebalance_delay_ms": ([vp, c_int], None),
    }
    for name, (argtypes, restype) in signatures.items():
        fn = getattr(lib, name)
        fn.argtypes = argtypes
        fn.restype = restype
    return lib


class _Nudger:
    """Connects to the mock brokers in a loop while set-up operations are pending.

    The mock's thread serves control operations (topic creation, settings) after
    each poll of its sockets, but its wake-up for them is sometimes missed and it
    then sleeps out a 1 s poll per operation. Socket activity ends the poll at
    once, so a short-lived connection every few milliseconds keeps start-up fast.
    """

    def __init__(self, bootstrap: str, interval_s: float = 0.005) -> None:
        host, _, port = bootstrap.split(",")[0].rpartition(":")
        self._address = (host, int(port))
        self._interval_s = interval_s
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mock-kafka-nudger", daemon=True)

    def _run(self) -> None:
        while not self._done.wait(self._interval_s):
            try:
                with socket.create_connection(self._address, timeout=1.0):
                    pass
            except OSError:
                return

    def __enter__(self) -> _Nudger:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()


class MockCluster:
    """A running mock cluster with ``topics`` pre-created; use as a context manager.

    ``initial_rebalance_delay_ms`` is how long a new group waits for more members
    before its first assignment (a real broker's ``group.initial.rebalance.delay.ms``).
    """

    def __init__(
        self,
        *,
        brokers: int = 1,
        topics: Iterable[str] = ALL_TOPICS,
        partitions: int = DEFAULT_PARTITIONS,
        initial_rebalance_delay_ms: int = 100,
    ) -> None:
        self.brokers = brokers
        self.topics = tuple(topics)
        self.partitions = partitions
        self.initial_rebalance_delay_ms = initial_rebalance_delay_ms
        self._lib: ctypes.CDLL | None = None
        self._rk: int | None = None
        self._cluster: int | None = None
        self.bootstrap = ""

    def start(self) -> str:
        """Start the cluster and return its bootstrap address (``host:port[,...]``)."""
        if self._cluster is not None:
            return self.bootstrap
        lib = _load(find_librdkafka())
        errbuf = ctypes.create_string_buffer(512)
        conf = lib.rd_kafka_conf_new()
        # Only errors from the handle that hosts the mock (it is never used as a producer).
        lib.rd_kafka_conf_set(conf, b"log_level", b"3", errbuf, len(errbuf))
        rk = lib.rd_kafka_new(_RD_KAFKA_PRODUCER, conf, errbuf, len(errbuf))
        if not rk:
            raise MockClusterError(f"rd_kafka_new failed: {errbuf.value.decode(errors='replace')}")
        cluster = lib.rd_kafka_mock_cluster_new(rk, self.brokers)
        if not cluster:
            lib.rd_kafka_destroy(rk)
            raise MockClusterError("rd_kafka_mock_cluster_new failed")
        self._lib, self._rk, self._cluster = lib, rk, cluster
        self.bootstrap = lib.rd_kafka_mock_cluster_bootstraps(cluster).decode()
        with _Nudger(self.bootstrap):
            lib.rd_kafka_mock_group_initial_rebalance_delay_ms(cluster, self.initial_rebalance_delay_ms)
            for topic in self.topics:
                self.create_topic(topic, self.partitions)
        return self.bootstrap

    def create_topic(self, name: str, partitions: int | None = None) -> None:
        if self._lib is None or self._cluster is None:
            raise MockClusterError("mock cluster is not running")
        err = self._lib.rd_kafka_mock_topic_create(
            self._cluster, name.encode(), partitions or self.partitions, 1
        )
        if err:
            raise MockClusterError(f"creating topic {name!r} failed with librdkafka error {err}")

    def stop(self) -> None:
        lib, rk, cluster = self._lib, self._rk, self._cluster
        self._lib = self._rk = self._cluster = None
        if lib is not None and cluster is not None:
            lib.rd_kafka_mock_cluster_destroy(cluster)
        if lib is not None and rk is not None:
            lib.rd_kafka_destroy(rk)

    def __enter__(self) -> MockCluster:
        self.start()
        return self

    def __exit__(
        self, _type: type[BaseException] | None, _exc: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.stop()
