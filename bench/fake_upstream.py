"""A fast fake OpenAI Chat Completions upstream for benchmarks: asyncio, keep-alive, no framework.

POST .../chat/completions answers a fixed completion, or with `"stream": true` a stream of CHUNKS
content chunks (optionally DELAY_MS apart), a finish chunk, a usage chunk and `data: [DONE]`.
Every path ending in /chat/completions is served, so any proxy's base URL works. GET .../models
lists one model (some proxies probe it).

The shape of the stream can be changed while the server runs, so one upstream serves a whole
benchmark run: `POST /_bench/mode` with `{"chunks": 100, "delay_ms": 1.0}`.

    python bench/fake_upstream.py --port 9100 [--chunks 100] [--delay-ms 0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

COMPLETION = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1,
        "model": "bench-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello from the benchmark upstream."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19},
    }
).encode()
MODELS = json.dumps(
    {"object": "list", "data": [{"id": "bench-model", "object": "model", "owned_by": "bench"}]}
).encode()
HEAD_SSE = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"


def _json_head(body: bytes, status: str = "200 OK") -> bytes:
    return b"HTTP/1.1 %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % (status.encode(), len(body))


def _frame(obj: dict[str, Any]) -> bytes:
    data = b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(data), data)


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    return _frame(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "bench-model",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
    )


FIRST = _chunk({"role": "assistant", "content": ""})
TOKEN = _chunk({"content": "tok "})
LAST = _chunk({}, "stop")
DONE = b"e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n"


def _usage(chunks: int) -> bytes:
    return _frame(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "bench-model",
            "choices": [],
            "usage": {"prompt_tokens": 12, "completion_tokens": chunks, "total_tokens": 12 + chunks},
        }
    )


class Mode:
    """What a streamed answer looks like; changed at run time through /_bench/mode."""

    def __init__(self, chunks: int, delay_ms: float) -> None:
        self.set(chunks, delay_ms)

    def set(self, chunks: int, delay_ms: float) -> None:
        self.chunks = chunks
        self.delay = delay_ms / 1000
        self.burst = HEAD_SSE + FIRST + TOKEN * chunks + LAST + _usage(chunks) + DONE
        self.tail = LAST + _usage(chunks) + DONE


async def _read_body(reader: asyncio.StreamReader, head: bytes) -> bytes:
    length = 0
    chunked = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if not chunked:
        return await reader.readexactly(length) if length else b""
    parts = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


async def _stream(writer: asyncio.StreamWriter, mode: Mode) -> None:
    if not mode.delay:
        writer.write(mode.burst)
        return
    writer.write(HEAD_SSE + FIRST)
    for _ in range(mode.chunks):
        await writer.drain()
        await asyncio.sleep(mode.delay)
        writer.write(TOKEN)
    writer.write(mode.tail)


def make_handler(mode: Mode) -> Any:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                body = await _read_body(reader, head)
                target = head.split(b" ", 2)[1]
                if target.startswith(b"/_bench/mode"):
                    wanted = json.loads(body or b"{}")
                    mode.set(int(wanted.get("chunks", mode.chunks)), float(wanted.get("delay_ms", mode.delay * 1000)))
                    answer = json.dumps({"chunks": mode.chunks, "delay_ms": mode.delay * 1000}).encode()
                    writer.write(_json_head(answer) + answer)
                elif target.split(b"?")[0].endswith(b"/models"):
                    writer.write(_json_head(MODELS) + MODELS)
                elif b'"stream":true' in body or b'"stream": true' in body:
                    await _stream(writer, mode)
                else:
                    writer.write(_json_head(COMPLETION) + COMPLETION)
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()

    return handle


async def serve(port: int, mode: Mode, ready: asyncio.Event | None = None) -> None:
    server = await asyncio.start_server(make_handler(mode), "127.0.0.1", port, backlog=4096, limit=1 << 20)
    async with server:
        if ready is not None:
            ready.set()
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--chunks", type=int, default=100)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    args = parser.parse_args()
    try:
        import uvloop

        factory = uvloop.new_event_loop
    except ImportError:
        factory = asyncio.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(serve(args.port, Mode(args.chunks, args.delay_ms)))


if __name__ == "__main__":
    main()
