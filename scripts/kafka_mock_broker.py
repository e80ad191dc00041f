"""Run librdkafka's mock Kafka cluster with every Beamline topic pre-created.

    .venv/bin/python scripts/kafka_mock_broker.py [--partitions N] [--brokers N]

Prints the bootstrap address on the first line of stdout (export it as
KAFKA_BOOTSTRAP), then runs until SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bus.kafka_mock import MockCluster  # noqa: E402
from bus.topics import ALL_TOPICS, DEFAULT_PARTITIONS  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partitions", type=int, default=DEFAULT_PARTITIONS, help="partitions per topic")
    parser.add_argument("--brokers", type=int, default=1, help="mock brokers")
    parser.add_argument("--topic", action="append", default=[], help="extra topic to create (repeatable)")
    args = parser.parse_args(argv)

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    topics = tuple(ALL_TOPICS) + tuple(args.topic)
    with MockCluster(brokers=args.brokers, topics=topics, partitions=args.partitions) as cluster:
        print(cluster.bootstrap, flush=True)
        print(f"mock Kafka cluster up: {len(topics)} topics x {args.partitions} partitions; "
              f"export KAFKA_BOOTSTRAP={cluster.bootstrap}", file=sys.stderr, flush=True)
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
