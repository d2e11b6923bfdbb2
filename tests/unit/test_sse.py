"""The SSE codec: the incremental decoder follows the event-stream rules; the encoder writes one frame."""

from __future__ import annotations

import time

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from provider_proxy.utils.sse import LineTooLong, ServerSentEvent, SSEDecoder, encode


def decode_all(raw: bytes, sizes: list[int] | None = None, **options: int) -> list[ServerSentEvent]:
    decoder = SSEDecoder(**options)
    events: list[ServerSentEvent] = []
    start = 0
    for size in sizes or []:
        events += decoder.feed(raw[start : start + size])
        start += size
    events += decoder.feed(raw[start:])
    return events + decoder.close()


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_every_line_ending_separates_events(newline: bytes) -> None:
    raw = newline.join([b"data: one", b"", b"data: two", b"", b""])
    assert [e.data for e in decode_all(raw)] == ["one", "two"]


def test_comment_lines_are_skipped() -> None:
    raw = b": OPENROUTER PROCESSING\n\n: keep-alive\n\ndata: x\n\n"
    assert decode_all(raw) == [ServerSentEvent("x")]


def test_data_lines_of_one_event_are_joined_with_newlines() -> None:
    assert decode_all(b"data: a\ndata:b\ndata\n\n") == [ServerSentEvent("a\nb\n")]


def test_the_event_field_names_the_event_and_other_fields_are_ignored() -> None:
    raw = b"id: 7\nretry: 10\nevent: error\nfoo: bar\ndata: {}\n\n"
    assert decode_all(raw) == [ServerSentEvent("{}", event="error")]


def test_an_event_without_data_is_not_dispatched() -> None:
    assert decode_all(b"event: ping\n\ndata: y\n\n") == [ServerSentEvent("y")]


def test_only_one_space_after_the_colon_is_removed() -> None:
    assert decode_all(b"data:  two spaces\n\n") == [ServerSentEvent(" two spaces")]


def test_a_byte_order_mark_at_the_start_is_dropped() -> None:
    assert decode_all("\ufeffdata: x\n\n".encode()) == [ServerSentEvent("x")]


def test_a_crlf_split_between_chunks_is_one_line_ending() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\n\r") == [ServerSentEvent("a")]
    assert decoder.feed(b"\ndata: b\r\n\r\n") == [ServerSentEvent("b")]


def test_a_multibyte_character_split_between_chunks_survives() -> None:
    raw = "data: héllo ✓ 😀\n\n".encode()
    for cut in range(len(raw)):
        assert decode_all(raw, [cut]) == [ServerSentEvent("héllo ✓ 😀")]


def test_an_unterminated_last_event_is_delivered_at_close() -> None:
    assert decode_all(b"data: [DONE]") == [ServerSentEvent("[DONE]")]


def test_line_separators_inside_json_strings_do_not_split_lines() -> None:
    raw = 'data: {"t": "a\u2028b\x85c"}\n\n'.encode()
    assert orjson.loads(decode_all(raw)[0].data) == {"t": "a\u2028b\x85c"}


@given(st.lists(st.integers(min_value=0, max_value=40), max_size=30))
def test_any_split_of_the_bytes_gives_the_same_events(sizes: list[int]) -> None:
    raw = ': c\r\ndata: {"a": "é"}\r\n\r\nevent: x\rdata: 1\rdata: 2\r\r: k\n\ndata: 😀\n\n'.encode()
    assert decode_all(raw, sizes) == [
        ServerSentEvent('{"a": "é"}'),
        ServerSentEvent("1\n2", event="x"),
        ServerSentEvent("😀"),
    ]


def test_encode_writes_one_event_frame() -> None:
    frame = encode("content_block_delta", {"type": "content_block_delta", "text": "a\nb"})
    assert frame == b'event: content_block_delta\ndata: {"type":"content_block_delta","text":"a\\nb"}\n\n'
    assert decode_all(frame) == [ServerSentEvent(frame.split(b"data: ")[1].strip().decode(), "content_block_delta")]


def test_a_long_line_split_over_many_reads_is_scanned_once() -> None:
    # 4 MB in 1 KiB reads: re-scanning the unfinished line on every read took ~8 s; scanning only the
    # new bytes takes milliseconds.
    line = b"data: " + b"x" * 4_000_000
    decoder = SSEDecoder(max_line=5_000_000)
    started = time.process_time()
    for start in range(0, len(line), 1024):
        assert decoder.feed(line[start : start + 1024]) == []
    events = decoder.feed(b"\n\n")
    assert time.process_time() - started < 1.0
    assert [len(event.data) for event in events] == [4_000_000]


@pytest.mark.parametrize("sizes", [[], [700, 700], [1500]])
def test_a_line_longer_than_the_limit_is_refused_naming_it(sizes: list[int]) -> None:
    raw = b"data: " + b"x" * 3000
    with pytest.raises(LineTooLong, match="2000"):
        decode_all(raw + b"\n\n", sizes, max_line=2000)


def test_an_unterminated_line_past_the_limit_is_refused_before_its_end() -> None:
    decoder = SSEDecoder(max_line=2000)
    decoder.feed(b"data: " + b"x" * 1000)
    with pytest.raises(LineTooLong):
        decoder.feed(b"x" * 1000)


def test_lines_up_to_the_limit_pass() -> None:
    raw = b"data: " + b"x" * 1994 + b"\n\n"
    assert [len(e.data) for e in decode_all(raw * 3, [1000, 1000, 1000], max_line=2000)] == [1994] * 3
