"""The floor translates a stream as little as a translating proxy can: one content_block_delta per upstream event."""

from __future__ import annotations

import json

import orjson

from bench import bodies, floor, loadgen, servers


def test_one_text_delta_per_upstream_json_event_and_none_for_done() -> None:
    events = [
        b'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}',
        b'data:{"choices":[{"index":0,"delta":{"content":"tok "}}]}',
        b'data: {"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1}}',
        b"data: [DONE]",
        b": keep-alive comment",
    ]
    out = floor.deltas(events).split(b"\n\n")
    assert out[-1] == b""
    texts = []
    for event in out[:-1]:
        name, data = event.split(b"\n")
        assert name == b"event: content_block_delta"
        payload = orjson.loads(data.removeprefix(b"data: "))
        assert payload["type"] == "content_block_delta" and payload["delta"]["type"] == "text_delta"
        texts.append(payload["delta"]["text"])
    assert texts == ["", "tok ", ""]


def test_the_floor_writes_a_delta_for_every_event_coalesced_or_paced() -> None:
    upstream = servers.start_upstream(None, chunks=20)
    proxy = servers.start_floor(upstream.port, None)
    assert not isinstance(proxy, tuple), proxy[1]
    try:
        for delay_ms in (0.0, 2.0):  # the whole stream in one read, then one read per event
            mode = json.dumps({"chunks": 20, "delay_ms": delay_ms}).encode()
            setter = loadgen.Target("mode", upstream.port, "/_bench/mode", mode)
            loadgen.run(loadgen.load(setter, concurrency=1, requests=1, seconds=5))
            target = loadgen.Target("floor", proxy.port, proxy.path, json.dumps(bodies.small(stream=True)).encode())
            result = loadgen.run(loadgen.load(target, concurrency=1, requests=1, seconds=10, keep_body=True))
            assert result.ok == 1
            events = [e for e in result.last_body.split(b"\n\n") if e]
            assert len(events) == 23  # role chunk, 20 content chunks, finish chunk, usage chunk; none for [DONE]
            assert sum(b'"text":"tok "' in e for e in events) == 20
    finally:
        proxy.stop()
        upstream.stop()
