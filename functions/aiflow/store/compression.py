"""Compression of stored call documents: zlib with a preset dictionary of the document's shape.

A DynamoDB write costs one unit per started KB of the item, so a long call's record is kept
small: a document of :data:`COMPRESS_FROM` bytes or more is stored zlib-compressed. Its JSON
keys and fixed values (``"role":"assistant","text":``, ``"status":"active"``, an action's
``"barge_in":{"strategy":``) would cost every record again; deflate finds them in a preset
dictionary instead (:data:`KEYS_V1`), which saves about 150 bytes per record: at turn 100 of
the benchmark's reference call, 1.78 instead of 1.95 KB, 2 write units per event instead of 3.

A zlib stream names its preset dictionary by checksum (the DICTID of RFC 1950), so every
record says how to read it: records written without a dictionary stay readable, and a
future dictionary is added to :data:`DICTIONARIES`, never changed (records outlive deploys).
"""

from __future__ import annotations

import zlib

COMPRESS_FROM = 1024
"""Documents of this many bytes of JSON or more are compressed (smaller ones gain nothing:
an item under 1 KB costs one write unit either way)."""
LEVEL = 9
"""zlib's best compression: for a document of a few KB it takes well under a millisecond."""

KEYS_V1 = (
    b'{"v":2,"session_id":"","account_id":"","phone_number":"+49","caller":"+49",'
    b'"called":"+49","direction":"outbound","direction":"inbound","status":"transferring",'
    b'"status":"ended","status":"active","started_at":17,"state":{},"slow_turn":null,'
    b'"slow_turn":{"id":"","fillers":0},"pending":null,"pending":{"actions":[{"type":"hangup"'
    b'},{"type":"transfer","target_phone_number":"49","caller_id_name":"","caller_id_number":'
    b'"49","timeout":},{"type":"audio","audio":"UklGR"},{"type":"speak","session_id":"",'
    b'"text":"","ssml":"<speak>","tts":{"provider":"eleven_labs","voice":""},"tts":{"provider'
    b'":"azure","language":"en-US","voice":"en-US-"},"tts":{"provider":"azure","language":'
    b'"de-DE","voice":"de-DE-"},"barge_in":{"strategy":"none"},"barge_in":{"strategy":'
    b'"immediate"},"barge_in":{"strategy":"minimum_characters","minimum_characters":3,'
    b'"allow_after_ms":},"user_input_timeout_seconds":}],"awaiting":[""],"started":1,"ended"'
    b':1,"playing":true,"source":"slow_turn"},"assistant":"","outbound":{"flow_id":"","to":'
    b'"+49","data":{},"dialled_at":17},"transferred_to":"+49","caller_started_at":17,'
    b'"speech_by_text":{},"playback":{"text":"","started_at":17,"duration_ms":},"history":'
    b'[{"role":"caller","text":"","at":17,"interrupted":true},{"role":"caller","text":"",'
    b'"at":17},{"role":"assistant","text":"","at":17},{"role":"assistant","text":"'
)
"""The preset dictionary of version 1: the shape of :meth:`aiflow.Call.to_doc` (keys and
fixed values; the most frequent last, where deflate reaches them with the shortest codes)."""

DICTIONARIES: dict[int, bytes] = {zlib.adler32(KEYS_V1): KEYS_V1}
"""Every preset dictionary records may name, by its Adler-32 checksum (never remove one)."""
CURRENT = KEYS_V1


def compress(data: bytes) -> bytes:
    """``data`` deflated with the current preset dictionary (a zlib stream that names it)."""
    packer = zlib.compressobj(
        LEVEL, zlib.DEFLATED, zlib.MAX_WBITS, 9, zlib.Z_DEFAULT_STRATEGY, CURRENT
    )
    return packer.compress(data) + packer.flush()


def decompress(data: bytes) -> bytes:
    """The bytes of a zlib stream from :func:`compress`, or from plain ``zlib.compress``.

    Raises:
        zlib.error: not a zlib stream, or one that names a dictionary this version lacks.
    """
    if len(data) >= 6 and data[1] & 0x20:  # FDICT: a DICTID follows the two header bytes
        dictionary = DICTIONARIES.get(int.from_bytes(data[2:6], "big"))
        if dictionary is None:
            raise zlib.error("the record names a preset dictionary this version does not know")
        unpacker = zlib.decompressobj(zlib.MAX_WBITS, dictionary)
        return unpacker.decompress(data) + unpacker.flush()
    return zlib.decompress(data)
