"""The Kafka producer's partitioner: the partition Kafka's default (murmur2) partitioner picks."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given
from hypothesis import strategies as st

from bus.kafka import key_partitioner


@given(key=st.binary(max_size=64), partitions=st.integers(min_value=1, max_value=64))
def test_a_keyed_record_goes_where_the_default_partitioner_sends_it(key: bytes, partitions: int) -> None:
    all_partitions = list(range(partitions))
    expected = DefaultPartitioner()(key, all_partitions, all_partitions)
    assert key_partitioner(key, all_partitions, all_partitions) == expected
    assert key_partitioner(key, all_partitions, all_partitions) == expected  # remembered hash, same answer


def test_eid_keys_spread_over_partitions_and_keyless_records_go_to_an_available_one() -> None:
    partitions = list(range(8))
    chosen = {key_partitioner(f"eid::run::c{i}".encode(), partitions, partitions) for i in range(200)}
    assert len(chosen) == 8
    assert key_partitioner(None, partitions, [3]) == 3
