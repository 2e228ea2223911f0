"""Stored call documents: compressed with a preset dictionary, and every record stays readable."""

from __future__ import annotations

import json
import zlib

import boto3
import pytest
from moto import mock_aws

from aiflow import Call, FakeClock, hangup, speak
from aiflow.store.compression import (
    COMPRESS_FROM,
    DICTIONARIES,
    KEYS_V1,
    compress,
    decompress,
)
from aiflow.store.dynamodb import DynamoDBStore, item_doc

# The checksum of the first preset dictionary, as records in live tables name it. Changing
# KEYS_V1 would make those records unreadable: add a new dictionary instead.
KEYS_V1_ADLER32 = zlib.adler32(KEYS_V1)


def long_call() -> dict[str, object]:
    """A call of twelve questions and answers with a goodbye held back, as stored."""
    call = Call("7d1f3c9e-0c8e-4a57-9f0e-2b8d7c5a1e42", clock=FakeClock())
    call.caller, call.called, call.direction = "+4917612345678", "+4921198765400", "inbound"
    for turn in range(12):
        call.remember("caller", f"Wann haben Sie geöffnet? Frage {turn}", at=1_796_000_000_000)
        call.remember("assistant", f"Montag bis Freitag von 8 bis 12 Uhr. ({turn})", at=1)
    goodbye = speak("Auf Wiederhören.")
    call.hold([hangup()], after=[goodbye])
    return call.to_doc()


def encoded(doc: dict[str, object]) -> bytes:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def test_a_compressed_document_reads_back_exactly() -> None:
    data = encoded(long_call())
    assert len(data) >= COMPRESS_FROM

    assert decompress(compress(data)) == data


def test_the_dictionary_makes_a_call_record_smaller_than_plain_zlib() -> None:
    data = encoded(long_call())

    assert len(compress(data)) < len(zlib.compress(data, 9)) - 80


def test_records_written_before_the_dictionary_are_still_read() -> None:
    data = encoded(long_call())

    assert decompress(zlib.compress(data, 6)) == data
    assert item_doc({"docz": {"B": zlib.compress(data, 6)}}) == long_call()


def test_a_record_names_its_dictionary_by_checksum_and_that_dictionary_never_changes() -> None:
    stream = compress(b"{}" * 600)

    assert stream[1] & 0x20, "FDICT set: the stream names its preset dictionary"
    assert int.from_bytes(stream[2:6], "big") == KEYS_V1_ADLER32
    assert DICTIONARIES[KEYS_V1_ADLER32] == KEYS_V1


def test_a_record_naming_an_unknown_dictionary_is_refused_not_misread() -> None:
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS, 9, zlib.Z_DEFAULT_STRATEGY, b"?")
    stream = packer.compress(b'{"a":1}') + packer.flush()

    with pytest.raises(zlib.error, match="preset dictionary"):
        decompress(stream)


@mock_aws
def test_the_store_writes_long_documents_compressed_and_short_ones_as_json(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    client = boto3.client("dynamodb")
    client.create_table(
        TableName="calls",
        AttributeDefinitions=[{"AttributeName": "session_id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "session_id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    store = DynamoDBStore("calls", client=client)

    store.save("short", {"status": "active"}, version=0)
    store.save("long", long_call(), version=0)

    short = client.get_item(TableName="calls", Key={"session_id": {"S": "short"}})["Item"]
    long = client.get_item(TableName="calls", Key={"session_id": {"S": "long"}})["Item"]
    assert "doc" in short and "docz" not in short
    assert "docz" in long and "doc" not in long
    loaded = store.load("long")
    assert loaded is not None and loaded.doc == long_call()
