"""DiscordServer: the loopback FakeDiscord REST API plus what these tests also need of Discord's servers:
the gateway (a websocket speaking Discord's JSON protocol: HELLO, IDENTIFY -> READY, RESUME -> RESUMED,
heartbeats, RECONNECT, dispatches), PATCH /channels/{id} (thread titles), and raw (non-JSON) replies."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import WSMsgType, web

from tests.support.fakes_platforms import FakeDiscord


def _json(body: Any, status: int = 200) -> web.Response:
    """As Discord answers: exactly `application/json` (discord.py parses nothing else)."""
    return web.Response(body=json.dumps(body).encode(), status=status, headers={"Content-Type": "application/json"})


HTML_ERROR = "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"


class DiscordServer(FakeDiscord):
    def __init__(self) -> None:
        super().__init__()
        self.ready_gate = asyncio.Event()  # READY is sent only once this is set (tests may hold it)
        self.ready_gate.set()
        self.resume_url = "ws://127.0.0.1:9/not-this-one"  # what READY names as resume_gateway_url
        self.close_on_identify: int | None = None  # e.g. 4004: Discord's "Authentication failed"
        self.raw_replies: dict[str, list[tuple[int, str, str]]] = {}  # method -> (status, type, body)
        self.sockets: list[web.WebSocketResponse] = []
        self._seq = 0

    # ---------------------------------------------------------------- REST additions
    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    def routes(self) -> list[web.RouteDef]:
        return [
            *super().routes(),
            web.patch("/api/v10/channels/{channel}", self.edit_channel),
            web.get("/gateway", self.gateway),
        ]

    def reply_raw(self, method: str, body: str, status: int = 200, content_type: str = "text/html") -> None:
        """The next `method` call is answered with `body` as it is (a proxy's page, broken JSON)."""
        self.raw_replies.setdefault(method, []).append((status, content_type, body))

    async def injected(self, method: str, args: dict[str, Any]) -> web.Response | None:
        queue = self.raw_replies.get(method)
        if queue:
            status, content_type, body = queue.pop(0)
            await self.record(method, args, status)
            return web.Response(body=body.encode(), status=status, headers={"Content-Type": content_type})
        return await super().injected(method, args)

    async def me(self, request: web.Request) -> web.Response:
        failed = await self.injected("me", {})
        return failed if failed is not None else await super().me(request)

    async def interaction_callback(self, request: web.Request) -> web.Response:
        failed = await self.injected("interaction_callback", {"interaction": request.match_info["id"]})
        return failed if failed is not None else await super().interaction_callback(request)

    async def edit_channel(self, request: web.Request) -> web.Response:
        channel = request.match_info["channel"]
        body = await request.json()
        thread = self.threads.get(channel)
        if thread is None:
            await self.record("edit_channel", {"channel": channel, **body}, 404)
            return _json({"message": "Unknown Channel", "code": 10003}, status=404)
        thread.update({k: v for k, v in body.items() if k == "name"})
        await self.record("edit_channel", {"channel": channel, **body})
        return _json(thread)

    # ---------------------------------------------------------------- the gateway
    async def gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)
        await self.record("gateway_connect", {"query": dict(request.query)})
        await ws.send_json({"op": 10, "d": {"heartbeat_interval": 45000}})
        try:
            async for frame in ws:
                if frame.type != WSMsgType.TEXT:
                    continue
                payload = json.loads(frame.data)
                op = payload.get("op")
                if op == 1:
                    await ws.send_json({"op": 11})
                elif op == 2:
                    await self.record("identify", payload["d"])
                    if self.close_on_identify is not None:
                        await ws.close(code=self.close_on_identify, message=b"Authentication failed.")
                        break
                    await self.ready_gate.wait()
                    await self._send(ws, "READY", self._ready())
                elif op == 6:
                    await self.record("resume", payload["d"])
                    await self._send(ws, "RESUMED", {})
        finally:
            self.sockets.remove(ws)
        return ws

    def _ready(self) -> dict[str, Any]:
        return {
            "v": 10,
            "user": self.user(),
            "guilds": [],
            "session_id": "fake-session",
            "resume_gateway_url": self.resume_url,
            "application": {"id": self.APP_ID, "flags": 0},
            "private_channels": [],
            "relationships": [],
        }

    async def _send(self, ws: web.WebSocketResponse, event: str, data: dict[str, Any]) -> None:
        self._seq += 1
        await ws.send_json({"op": 0, "t": event, "s": self._seq, "d": data})

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send one dispatch (t, d) down the newest gateway connection."""
        await self._send(self.sockets[-1], event, data)

    async def reconnect(self) -> None:
        """Ask the connected client to reconnect (op 7), as Discord does before it moves a session."""
        await self.sockets[-1].send_json({"op": 7, "d": None})

    async def close_gateway(self, code: int) -> None:
        """Close the newest gateway connection with `code` (4004: the token is no longer valid)."""
        await self.sockets[-1].close(code=code, message=b"Authentication failed.")

    async def stop(self) -> None:
        for ws in list(self.sockets):
            await ws.close()
        await super().stop()
