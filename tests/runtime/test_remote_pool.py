"""ServerPool and OpenAIAnswerer against small stand-in HTTP servers on 127.0.0.1 (no model, no llama-server):
balancing, a server failing mid-request retried on another, a dead one back after its health check, every
server down -> PoolExhausted, the answers' server-sent events. The real llama-server: tests/runtime/test_remote.py."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from bot.config import ConfigError, parse_config
from runtime.remote import OpenAIAnswerer, PoolExhausted, RequestError, ServerPool, free_port
from runtime.settings import ModelSettings


class _Stub:
    """One stand-in server: /health, /embedding (echoes a vector), /v1/chat/completions (SSE)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.mode = "ok"  # ok | drop (close the connection without a reply) | 500 | 400 | unhealthy
        self.hits = 0
        self.model_path = "/models/model.gguf"  # what its /props says it serves
        self.loras: list[dict[str, object]] = []  # what its /lora-adapters lists
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def _reply(self, code: int, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if self.path == "/props":
                    self._reply(200, {"model_path": stub.model_path})
                    return
                if self.path == "/lora-adapters":
                    self._reply(200, stub.loras)
                    return
                ok = stub.mode != "unhealthy"
                self._reply(200 if ok else 503, {"status": "ok" if ok else "loading model"})

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                stub.hits += 1
                if stub.mode == "drop":
                    self.close_connection = True
                    self.connection.close()  # what a killed server looks like: no reply at all
                    return
                if stub.mode in ("500", "400"):
                    self._reply(int(stub.mode), {"error": stub.mode})
                    return
                if self.path == "/embedding":
                    self._reply(200, [{"index": 0, "embedding": [[1.0, 2.0, 3.0]], "server": stub.name}])
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for piece in ("Hello", " from ", stub.name):
                    event = {"choices": [{"delta": {"content": piece}, "finish_reason": None}]}
                    self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                done = {"choices": [{"delta": {}, "finish_reason": "stop"}]}
                self.wfile.write(f"data: {json.dumps(done)}\n\ndata: [DONE]\n\n".encode())

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stubs() -> Iterator[list[_Stub]]:
    servers = [_Stub("a"), _Stub("b")]
    yield servers
    for s in servers:
        s.close()


def test_requests_are_spread_over_the_healthy_servers(stubs: list[_Stub]) -> None:
    pool = ServerPool([s.url for s in stubs])
    for _ in range(10):
        assert pool.post("/embedding", {"content": [1]})[0]["embedding"] == [[1.0, 2.0, 3.0]]
    assert [s.hits for s in stubs] == [5, 5]


def test_a_server_that_drops_the_request_is_retried_on_another(stubs: list[_Stub]) -> None:
    stubs[0].mode = "drop"
    pool = ServerPool([s.url for s in stubs], recheck_after=60, start=0)
    replies = [pool.post("/embedding", {"content": [1]})[0]["server"] for _ in range(4)]
    assert replies == ["b"] * 4
    assert stubs[0].hits == 1  # tried once, then marked down and left out of the rotation
    state = pool.servers[0]
    assert not state.healthy and state.failures == 1 and "RemoteDisconnected" in state.last_error


def test_a_5xx_is_retried_but_a_4xx_is_the_requests_own_fault(stubs: list[_Stub]) -> None:
    stubs[0].mode = "500"
    pool = ServerPool([s.url for s in stubs], recheck_after=60)
    assert pool.post("/embedding", {"content": [1]})[0]["server"] == "b"
    stubs[1].mode = "400"
    with pytest.raises(RequestError, match="HTTP 400"):
        pool.post("/embedding", {"content": [1]})


def test_a_down_server_comes_back_once_its_health_check_passes(stubs: list[_Stub]) -> None:
    stubs[0].mode = "drop"
    pool = ServerPool([s.url for s in stubs], recheck_after=0.05, start=0)
    pool.post("/embedding", {"content": [1]})
    assert not pool.servers[0].healthy
    stubs[0].mode = "unhealthy"  # restarted, still loading: its /health says 503
    time.sleep(0.3)
    assert not pool.servers[0].healthy
    assert {pool.post("/embedding", {"content": [1]})[0]["server"] for _ in range(3)} == {"b"}
    stubs[0].mode = "ok"
    deadline = time.monotonic() + 5
    while not pool.servers[0].healthy and time.monotonic() < deadline:
        time.sleep(0.05)
    servers = {pool.post("/embedding", {"content": [1]})[0]["server"] for _ in range(4)}
    assert servers == {"a", "b"} and pool.servers[0].healthy


def test_a_server_that_serves_another_model_is_never_used(stubs: list[_Stub]) -> None:
    checked: list[str] = []

    def verify(url: str) -> str | None:
        checked.append(url)
        return "it serves other.gguf, not model.gguf" if url == stubs[0].url else None

    pool = ServerPool([s.url for s in stubs], recheck_after=60, start=0, verify=verify)
    assert {pool.post("/embedding", {"content": [1]})[0]["server"] for _ in range(4)} == {"b"}
    assert stubs[0].hits == 0 and checked == [stubs[0].url, stubs[1].url]  # each checked once, before use
    assert not pool.servers[0].healthy and pool.servers[0].last_error.startswith("wrong model: it serves other")


def test_no_server_left_raises_pool_exhausted_naming_each_error() -> None:
    dead = [f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"]
    pool = ServerPool(dead, recheck_after=60)
    with pytest.raises(PoolExhausted) as info:
        pool.post("/embedding", {"content": [1]})
    assert info.value.fail_reason == "model_unavailable"
    assert all(url in str(info.value) for url in dead)
    assert [s["healthy"] for s in pool.health()] == [False, False]


def test_answers_stream_from_an_openai_compatible_server(stubs: list[_Stub]) -> None:
    answerer = OpenAIAnswerer(ModelSettings(answer_server=stubs[0].url, answer_server_model="qwen"))
    assert "".join(answerer.answer([], "How do I reverse a list?", max_tokens=16)) == "Hello from a"
    assert answerer.last_finish_reason == "stop" and answerer.model == "qwen"


def test_an_answer_server_that_fails_before_the_first_piece_fails_over(stubs: list[_Stub]) -> None:
    stubs[0].mode = "drop"
    pool = ServerPool([s.url for s in stubs], health_path="/v1/models", start=0)
    answerer = OpenAIAnswerer(ModelSettings(answer_server=stubs[0].url), pool=pool)
    assert "".join(answerer.answer([], "hi")) == "Hello from b"


def test_model_servers_in_the_config_and_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = parse_config({"model": {"servers": ["http://a:8080/", "http://b:8080"], "answer_server": "http://c:1"}})
    assert cfg.model.servers == ("http://a:8080", "http://b:8080") and cfg.model.answer_server == "http://c:1"
    assert parse_config({}).model.servers == ()
    with pytest.raises(ConfigError, match="http://"):
        parse_config({"model": {"servers": ["a:8080"]}})
    with pytest.raises(ConfigError, match="twice"):
        parse_config({"model": {"servers": ["http://a:1", "http://a:1"]}})
    monkeypatch.setenv("SO8T_MODEL_SERVERS", "http://x:1, http://y:2")
    monkeypatch.setenv("SO8T_ANSWER_SERVER", "http://z:3")
    cfg = parse_config({})
    assert cfg.model.servers == ("http://x:1", "http://y:2") and cfg.model.answer_server == "http://z:3"


def test_so8t_status_probes_the_model_servers(
    stubs: list[_Stub], monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from click.testing import CliRunner

    from cli.main import main

    dead = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("SO8T_MODEL_SERVERS", f"{stubs[0].url},{dead}")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["status", "--db", str(tmp_path / "so8t.db")])
    assert result.exit_code == 0, result.output
    assert f"Model server: {stubs[0].url} healthy" in result.output
    assert f"Model server: {dead} DOWN" in result.output
