"""Slack's Socket Mode servers, on loopback: FakeSlack's Web API plus `apps.connections.open`, which hands
out ws://127.0.0.1:PORT/socket, and that WebSocket: it says hello, carries the envelopes a test pushes,
and records each ack (`ack` calls, in order with the Web API calls, so a test can say which came first).
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

from aiohttp import WSMsgType, web

from tests.support.fakes_platforms import FakeSlack


class FakeSlackSocket(FakeSlack):
    def __init__(self) -> None:
        super().__init__()
        self.sockets: list[web.WebSocketResponse] = []
        self.pushed: dict[str, float] = {}  # envelope_id -> monotonic time it was sent
        self.acked: dict[str, float] = {}  # envelope_id -> monotonic time its ack arrived
        self.disconnects = 0  # this many apps.connections.open requests get the connection cut
        self._ids = itertools.count(1)

    def routes(self) -> list[web.RouteDef]:
        return [*super().routes(), web.get("/socket", self.socket)]

    async def api(self, request: web.Request) -> web.Response:
        if request.match_info["method"] == "apps.connections.open" and self.disconnects > 0:
            self.disconnects -= 1
            await self.record("apps.connections.open", {}, 0)
            assert request.transport is not None
            request.transport.close()  # a network error, for the client
            return web.Response(status=500)
        return await super().api(request)

    def m_apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket?ticket=t{len(self.sockets) + 1}"}

    @property
    def open_sockets(self) -> list[web.WebSocketResponse]:
        return [ws for ws in self.sockets if not ws.closed]

    async def socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.sockets.append(ws)
        await ws.send_json({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A1"}})
        await self.record("socket.open", {})
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            envelope_id = str(data.get("envelope_id") or "")
            if envelope_id:
                self.acked.setdefault(envelope_id, time.monotonic())
                await self.record("ack", data)
        await self.record("socket.closed", {})
        return ws

    async def push(self, payload: dict[str, Any], kind: str = "events_api") -> str:
        """Send one envelope on the newest open socket; returns its envelope_id."""
        envelope_id = f"env-{next(self._ids)}"
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "accepts_response_payload": kind != "events_api",
            "retry_attempt": 0,
            "retry_reason": "",
            "payload": payload,
        }
        self.pushed[envelope_id] = time.monotonic()
        await self.open_sockets[-1].send_json(envelope)
        return envelope_id

    async def drop(self) -> None:
        """Close every socket, as Slack does before a reconnect (or when it goes away)."""
        for ws in self.open_sockets:
            await ws.close()

    def index(self, method: str, predicate: Any = None) -> int:
        """Position of the first recorded call to `method` (any status) matching predicate(args); -1: none."""
        for i, call in enumerate(self.calls):
            if call.method == method and (predicate is None or predicate(call.args)):
                return i
        return -1
