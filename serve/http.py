"""Operations endpoints on the serve port: /healthz (JSON, 503 when not healthy) and /metrics."""

from __future__ import annotations

from aiohttp import web

from bot.core import Bot


def ops_routes(bot: Bot) -> list[web.RouteDef]:
    async def healthz(request: web.Request) -> web.Response:
        health = bot.health()
        return web.json_response(health, status=200 if health["ok"] else 503)

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(
            text=bot.metrics.registry.render(),
            content_type="text/plain",
            headers={"X-Content-Type-Options": "nosniff"},
            charset="utf-8",
        )

    return [web.get("/healthz", healthz), web.get("/metrics", metrics)]
