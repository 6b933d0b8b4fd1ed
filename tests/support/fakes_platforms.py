"""Loopback stand-ins for Slack's and Discord's servers (aiohttp on 127.0.0.1:0), recording every call.

They keep just enough state (messages, threads, channels) for the adapters' flows; tests wait on
`wait_for(predicate)` (an asyncio.Condition, never a sleep). Injected failures: `rate_limit(...)`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    status: int = 200


class _Server:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.cond = asyncio.Condition()
        self.runner: web.AppRunner | None = None
        self.port = 0
        self.failures: dict[str, list[tuple[int, dict[str, str], Any]]] = {}

    def routes(self) -> list[web.RouteDef]:
        raise NotImplementedError

    async def start(self) -> None:
        app = web.Application(client_max_size=16 << 20)
        app.add_routes(self.routes())
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self.runner.addresses[0][1])

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def record(self, method: str, args: dict[str, Any], status: int = 200) -> None:
        async with self.cond:
            self.calls.append(Call(method, args, status))
            self.cond.notify_all()

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Until predicate() is truthy (re-checked on every recorded call); returns its value."""

        async def until() -> Any:
            async with self.cond:
                while not (value := predicate()):
                    await self.cond.wait()
                return value

        return await asyncio.wait_for(until(), timeout)

    def called(self, method: str, status: int | None = 200) -> list[dict[str, Any]]:
        return [c.args for c in self.calls if c.method == method and (status is None or c.status == status)]

    def fail_next(self, method: str, status: int, headers: dict[str, str], body: Any, times: int = 1) -> None:
        self.failures.setdefault(method, []).extend([(status, headers, body)] * times)

    async def injected(self, method: str, args: dict[str, Any]) -> web.Response | None:
        queue = self.failures.get(method)
        if not queue:
            return None
        status, headers, body = queue.pop(0)
        await self.record(method, args, status)
        return web.Response(
            body=json.dumps(body).encode(), status=status, headers={"Content-Type": "application/json", **headers}
        )


# ====================================================================== Slack
@dataclass
class SlackMessage:
    channel: str
    ts: str
    text: str
    user: str = ""
    bot_id: str = ""
    thread_ts: str = ""
    blocks: list[dict[str, Any]] = field(default_factory=list)

    def to_api(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": "message", "ts": self.ts, "text": self.text}
        if self.user:
            d["user"] = self.user
        if self.bot_id:
            d["bot_id"] = self.bot_id
        if self.thread_ts:
            d["thread_ts"] = self.thread_ts
        if self.blocks:
            d["blocks"] = self.blocks
        return d


class FakeSlack(_Server):
    """The Slack Web API at {base}/api/<method>, response_url hooks at {base}/respond/<id>."""

    BOT_USER = "UBOT"
    BOT_ID = "BBOT"

    def __init__(self, channels: dict[str, str] | None = None) -> None:
        super().__init__()
        self.channels = {"hr-review": "CHR", "legal-review": "CLEGAL", "compliance-review": "CCOMP"}
        self.channels.update(channels or {})
        self.messages: list[SlackMessage] = []
        self.responses: list[dict[str, Any]] = []  # posts to response_url
        self.uploads: list[bytes] = []

    @property
    def api_url(self) -> str:
        return f"{self.base}/api/"

    def response_url(self, name: str = "r1") -> str:
        return f"{self.base}/respond/{name}"

    def routes(self) -> list[web.RouteDef]:
        return [
            web.route("*", "/api/{method}", self.api),
            web.post("/respond/{name}", self.respond),
            web.post("/upload/{file}", self.upload),
        ]

    def _channel(self, name: str) -> str:
        name = name.lstrip("#")
        return self.channels.get(name, name)

    def thread(self, channel: str, ts: str) -> list[SlackMessage]:
        return [m for m in self.messages if m.channel == channel and (m.ts == ts or m.thread_ts == ts)]

    def bot_messages(self, channel: str | None = None, thread_ts: str | None = None) -> list[SlackMessage]:
        return [
            m
            for m in self.messages
            if m.bot_id
            and (channel is None or m.channel == self._channel(channel))
            and (thread_ts is None or m.thread_ts == thread_ts)
        ]

    def add_user_message(self, channel: str, ts: str, text: str, user: str, thread_ts: str = "") -> None:
        self.messages.append(SlackMessage(channel, ts, text, user=user, thread_ts=thread_ts))

    async def _args(self, request: web.Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query)
        raw = await request.read()
        if not raw:
            return args
        if request.content_type == "application/json":
            args.update(json.loads(raw))
        else:
            args.update(dict(urllib.parse.parse_qsl(raw.decode())))
        for key in ("blocks", "view", "files"):
            if isinstance(args.get(key), str):
                args[key] = json.loads(args[key])
        return args

    async def api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await self._args(request)
        failed = await self.injected(method, args)
        if failed is not None:
            return failed
        handler = getattr(self, "m_" + method.replace(".", "_"), None)
        if handler is None:
            await self.record(method, args, 404)
            return web.json_response({"ok": False, "error": "unknown_method"}, status=404)
        body = handler(args)
        await self.record(method, args)
        return web.json_response(body)

    def m_auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "user_id": self.BOT_USER, "bot_id": self.BOT_ID, "team_id": "T1", "user": "so8t"}

    def m_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(str(args["channel"]))
        ts = self._next_ts()
        msg = SlackMessage(
            channel, ts, str(args.get("text", "")), user=self.BOT_USER, bot_id=self.BOT_ID,
            thread_ts=str(args.get("thread_ts") or ""), blocks=list(args.get("blocks") or []),
        )
        self.messages.append(msg)
        return {"ok": True, "channel": channel, "ts": ts, "message": msg.to_api()}

    def m_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(args["channel"]), str(args["ts"])
        for m in self.messages:
            if m.channel == channel and m.ts == ts:
                m.text = str(args.get("text", m.text))
                if "blocks" in args:
                    m.blocks = list(args["blocks"] or [])
                return {"ok": True, "channel": channel, "ts": ts}
        return {"ok": False, "error": "message_not_found"}

    def m_chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "message_ts": self._next_ts()}

    def _next_ts(self) -> str:
        """Just after the latest message, like Slack's clock would be."""
        latest = max((float(m.ts) for m in self.messages), default=1700000000.0)
        return f"{latest + 0.000001:.6f}"

    def m_conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        msgs = sorted(self.thread(str(args["channel"]), str(args["ts"])), key=lambda m: float(m.ts))
        return {"ok": True, "messages": [m.to_api() for m in msgs], "has_more": False}

    def m_conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "channel": {"id": "D" + str(args.get("users", ""))}}

    def m_views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "view": {"id": "V1", **(args.get("view") or {})}}

    def m_files_getUploadURLExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "upload_url": f"{self.base}/upload/F1", "file_id": "F1"}

    def m_files_completeUploadExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "files": [{"id": "F1", "title": "report"}]}

    async def respond(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.responses.append(body)
        await self.record("response_url", body)
        return web.Response(text="ok")

    async def upload(self, request: web.Request) -> web.Response:
        self.uploads.append(await request.read())
        await self.record("upload", {"file": request.match_info["file"]})
        return web.Response(text="OK")


# ====================================================================== Discord
def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """discord.py reads JSON only when the content type is exactly application/json (no charset)."""
    return web.Response(
        body=json.dumps(body).encode(), status=status, headers={"Content-Type": "application/json", **(headers or {})}
    )


class FakeDiscord(_Server):
    """Discord's REST API at {base}/api/v10 (discord.py's Route.BASE points here)."""

    BOT_ID = "900000000000000001"
    APP_ID = "900000000000000002"

    def __init__(self) -> None:
        super().__init__()
        self.messages: dict[str, dict[str, Any]] = {}  # id -> message payload
        self.threads: dict[str, dict[str, Any]] = {}  # thread id -> channel payload
        self.no_threads: set[str] = set()  # channels where starting a thread is forbidden
        self.interaction_responses: list[dict[str, Any]] = []
        self.followups: list[dict[str, Any]] = []
        self._ids = itertools.count(910000000000000000)

    @property
    def api_url(self) -> str:
        return f"{self.base}/api/v10"

    def next_id(self) -> str:
        return str(next(self._ids))

    def routes(self) -> list[web.RouteDef]:
        p = "/api/v10"
        return [
            web.get(p + "/users/@me", self.me),
            web.get(p + "/oauth2/applications/@me", self.application),
            web.put(p + "/applications/{app}/commands", self.sync_commands),
            web.put(p + "/applications/{app}/guilds/{guild}/commands", self.sync_commands),
            web.post(p + "/users/@me/channels", self.open_dm),
            web.post(p + "/channels/{channel}/messages", self.create_message),
            web.get(p + "/channels/{channel}/messages", self.history),
            web.patch(p + "/channels/{channel}/messages/{message}", self.edit_message),
            web.post(p + "/channels/{channel}/messages/{message}/threads", self.start_thread),
            web.post(p + "/interactions/{id}/{token}/callback", self.interaction_callback),
            web.post(p + "/webhooks/{app}/{token}", self.followup),
            web.patch(p + "/webhooks/{app}/{token}/messages/{message}", self.edit_followup),
        ]

    def user(self) -> dict[str, Any]:
        return {"id": self.BOT_ID, "username": "so8t", "discriminator": "0", "avatar": None, "bot": True}

    async def me(self, request: web.Request) -> web.Response:
        await self.record("me", {})
        return _json(self.user())

    async def application(self, request: web.Request) -> web.Response:
        await self.record("application", {})
        return _json(
            {
                "id": self.APP_ID, "name": "so8t", "icon": None, "description": "", "summary": "",
                "bot_public": True, "bot_require_code_grant": False, "verify_key": "00", "flags": 0,
                "owner": {"id": "1", "username": "owner", "discriminator": "0", "avatar": None},
                "team": None, "interactions_endpoint_url": None,
            }
        )

    async def sync_commands(self, request: web.Request) -> web.Response:
        body = await request.json()
        await self.record("sync_commands", {"commands": body})
        out = [{**c, "id": self.next_id(), "application_id": self.APP_ID, "version": "1"} for c in body]
        return _json(out)

    async def open_dm(self, request: web.Request) -> web.Response:
        body = await request.json()
        await self.record("open_dm", body)
        uid = str(body["recipient_id"])
        return _json({"id": "7" + uid[1:], "type": 1, "recipients": [{"id": uid, "username": "u",
                                                                                  "discriminator": "0",
                                                                                  "avatar": None}]})

    async def _body(self, request: web.Request) -> tuple[dict[str, Any], list[tuple[str, bytes]]]:
        if request.content_type.startswith("multipart/"):
            payload: dict[str, Any] = {}
            files: list[tuple[str, bytes]] = []
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                if part.name == "payload_json":  # type: ignore[union-attr]
                    payload = json.loads(await part.text())  # type: ignore[union-attr]
                else:
                    files.append((part.filename or "", await part.read()))  # type: ignore[union-attr]
            return payload, files
        raw = await request.read()
        return (json.loads(raw) if raw else {}), []

    def _message(self, channel: str, body: dict[str, Any], author: dict[str, Any] | None = None) -> dict[str, Any]:
        msg = {
            "id": self.next_id(), "channel_id": channel, "author": author or self.user(),
            "content": body.get("content") or "", "timestamp": "2026-01-01T00:00:00+00:00",
            "edited_timestamp": None, "tts": False, "mention_everyone": False, "mentions": [],
            "mention_roles": [], "attachments": [], "embeds": [], "pinned": False, "type": 0, "flags": 0,
            "components": body.get("components") or [],
        }
        if body.get("message_reference"):
            msg["message_reference"] = body["message_reference"]
        return msg

    def add_user_message(self, channel: str, content: str, user_id: str, guild: str | None = "1") -> dict[str, Any]:
        author = {"id": user_id, "username": f"user{user_id[-3:]}", "discriminator": "0", "avatar": None}
        msg = self._message(channel, {"content": content}, author)
        if guild:
            msg["guild_id"] = guild
        self.messages[msg["id"]] = msg
        return msg

    async def create_message(self, request: web.Request) -> web.Response:
        channel = request.match_info["channel"]
        body, files = await self._body(request)
        failed = await self.injected("create_message", {"channel": channel, **body})
        if failed is not None:
            return failed
        msg = self._message(channel, body)
        self.messages[msg["id"]] = msg
        await self.record("create_message", {"channel": channel, "files": files, **body, "id": msg["id"]})
        return _json(msg)

    async def edit_message(self, request: web.Request) -> web.Response:
        channel, mid = request.match_info["channel"], request.match_info["message"]
        body, _ = await self._body(request)
        msg = self.messages.get(mid)
        if msg is None or msg["channel_id"] != channel:
            await self.record("edit_message", {"channel": channel, "id": mid, **body}, 404)
            return _json({"message": "Unknown Message", "code": 10008}, status=404)
        if "content" in body:
            msg["content"] = body["content"]
        if "components" in body:
            msg["components"] = body["components"] or []
        await self.record("edit_message", {"channel": channel, "id": mid, **body})
        return _json(msg)

    async def history(self, request: web.Request) -> web.Response:
        channel = request.match_info["channel"]
        before = int(request.query.get("before", "0") or 0)
        limit = int(request.query.get("limit", "50"))
        rows = [
            m for m in self.messages.values()
            if m["channel_id"] == channel and (not before or int(m["id"]) < before)
        ]
        rows.sort(key=lambda m: int(m["id"]), reverse=True)
        await self.record("history", {"channel": channel, "before": before, "limit": limit})
        return _json(rows[:limit])

    async def start_thread(self, request: web.Request) -> web.Response:
        channel, mid = request.match_info["channel"], request.match_info["message"]
        body, _ = await self._body(request)
        if channel in self.no_threads:
            await self.record("start_thread", {"channel": channel, "message": mid, **body}, 403)
            return _json({"message": "Missing Permissions", "code": 50013}, status=403)
        if mid in self.threads:
            await self.record("start_thread", {"channel": channel, "message": mid, **body}, 400)
            return _json(
                {"message": "A thread has already been created for this message", "code": 160004}, status=400
            )
        thread = {"id": mid, "type": 11, "guild_id": "1", "parent_id": channel, "name": body.get("name", ""),
                  "owner_id": self.BOT_ID, "thread_metadata": {"archived": False, "auto_archive_duration": 1440,
                                                               "archive_timestamp": "2026-01-01T00:00:00+00:00",
                                                               "locked": False}}
        self.threads[mid] = thread
        await self.record("start_thread", {"channel": channel, "message": mid, **body})
        return _json(thread)

    async def interaction_callback(self, request: web.Request) -> web.Response:
        body, files = await self._body(request)
        body = {**body, "interaction": request.match_info["id"], "files": files}
        self.interaction_responses.append(body)
        await self.record("interaction_callback", body)
        flags = int((body.get("data") or {}).get("flags") or 0)
        return _json({
            "interaction": {"id": request.match_info["id"], "type": 0,
                            "response_message_loading": body.get("type") == 5,
                            "response_message_ephemeral": bool(flags & 64)},
            "resource": {"type": body.get("type", 1)},
        })

    async def followup(self, request: web.Request) -> web.Response:
        body, files = await self._body(request)
        msg = self._message("0", body)
        self.followups.append({**body, "files": files})
        await self.record("followup", {**body, "files": files})
        return _json(msg)

    async def edit_followup(self, request: web.Request) -> web.Response:
        body, files = await self._body(request)
        self.followups.append({**body, "files": files, "edit": request.match_info["message"]})
        await self.record("followup", {**body, "files": files, "edit": request.match_info["message"]})
        return _json(self._message("0", body))
