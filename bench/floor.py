"""The floor: the least a translating Python proxy can do, measured next to ours in the same run.

aiohttp server + aiohttp client (uvloop), one pooled session: decode the request body with orjson,
encode it again, POST it upstream and hand the answer back. A complete answer is passed through as
it came. A stream is translated as little as a translating proxy can: each upstream SSE event is
split off, its JSON decoded with orjson, and one Anthropic `content_block_delta` event (a
`text_delta` with the chunk's content, empty for the role, finish and usage chunks) encoded and
written for it, one write per upstream read; `data: [DONE]` gets none. No message_start/stop,
validation, routing, logging, usage records or metrics: what is left is the server, the client, one
JSON round trip per request and one per stream event, the cost every proxy of this kind pays. The
issue's targets sit within about 1.5x of it.

    python bench/floor.py --port 8090 --upstream http://127.0.0.1:9000/v1/chat/completions
"""

from __future__ import annotations

import argparse
import asyncio

import orjson
from aiohttp import ClientSession, TCPConnector, web

DELTA_EVENT = b"event: content_block_delta\ndata: "


def deltas(events: list[bytes]) -> bytes:
    """One Anthropic content_block_delta event per upstream `data: {...}` event, joined for one write."""
    out = []
    for event in events:
        if not event.startswith(b"data:"):
            continue
        payload = event[5:].lstrip()
        if not payload.startswith(b"{"):  # data: [DONE]
            continue
        choices = orjson.loads(payload).get("choices") or ({},)
        text = (choices[0].get("delta") or {}).get("content") or ""
        delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}
        out.append(DELTA_EVENT + orjson.dumps(delta) + b"\n\n")
    return b"".join(out)


def build(upstream: str) -> web.Application:
    app = web.Application()
    headers = {"Content-Type": "application/json", "Authorization": "Bearer sk-bench-upstream-key"}

    async def start(app: web.Application) -> None:
        app["session"] = ClientSession(connector=TCPConnector(limit=0))

    async def stop(app: web.Application) -> None:
        await app["session"].close()

    async def messages(request: web.Request) -> web.StreamResponse:
        data = orjson.loads(await request.read())
        session: ClientSession = request.app["session"]
        async with session.post(upstream, data=orjson.dumps(data), headers=headers) as answer:
            if not data.get("stream"):
                body = await answer.read()
                return web.Response(body=body, status=answer.status, content_type="application/json")
            response = web.StreamResponse(status=answer.status, headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            pending = b""  # an event split across reads waits here for its end
            async for chunk in answer.content.iter_any():
                *events, pending = (pending + chunk).split(b"\n\n")
                if out := deltas(events):
                    await response.write(out)
            if out := deltas([pending.strip()]):
                await response.write(out)
            await response.write_eof()
            return response

    app.router.add_post("/v1/messages", messages)
    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    return app


async def serve(port: int, upstream: str) -> None:
    runner = web.AppRunner(build(upstream), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(args.port, args.upstream))
    else:
        uvloop.run(serve(args.port, args.upstream))


if __name__ == "__main__":
    main()
