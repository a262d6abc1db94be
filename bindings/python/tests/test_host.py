"""The asyncio host over real sockets on 127.0.0.1, driven by a real WebSocket client."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

import clawsocket
from clawsocket import AgentError, start_server

from helpers import (
    AuthService,
    GatedAgent,
    MemoryAgent,
    eventually,
    is_final,
    no_auth,
    open_ws,
    recv,
    recv_until,
    run,
)


async def chat(ws, frame: dict) -> list[dict]:
    """Sends a frame, returns everything up to and including the final reply or error."""
    await ws.send(json.dumps(frame))
    return await recv_until(ws, is_final)


def assert_seed_reply(frames: list[dict], text: str) -> None:
    """typing first, cumulative streams that grow towards the text, then the final response."""
    assert frames[0]["type"] == "chat.typing"
    streams = [f for f in frames if f["type"] == "chat.stream"]
    assert streams, frames
    for s in streams:
        assert s["done"] is False and text.startswith(s["content"])
    final = frames[-1]
    assert final["type"] == "chat.response" and final["done"] is True
    assert final["content"] == text
    assert len({f["messageId"] for f in frames}) == 1


def test_seed_readme_cases() -> None:
    """Every test case of the seed README's quick start, over one seed (v1) connection."""

    async def body() -> None:
        agent = MemoryAgent()
        async with await start_server(agent, "127.0.0.1", 0, no_auth()) as server:
            ws = await open_ws(server.url, "senderId=user1&senderName=John")
            ready = await recv(ws)
            assert ready["type"] == "chat.ready" and ready["senderId"] == "user1"

            assert_seed_reply(await chat(ws, {"type": "chat.send", "content": "Hello!"}), "You said: Hello!")
            assert agent.contexts[-1]["body"] == "John: Hello!"

            frames = await chat(
                ws, {"type": "chat.send", "content": "Hi there!", "senderId": "user_123", "senderName": "Alice"}
            )
            assert_seed_reply(frames, "You said: Hi there!")
            assert agent.contexts[-1]["senderId"] == "user_123"
            assert agent.contexts[-1]["body"] == "Alice: Hi there!"

            await chat(ws, {"type": "chat.send", "content": "My name is John"})
            frames = await chat(ws, {"type": "chat.send", "content": "What is my name?"})
            assert_seed_reply(frames, "Your name is John.")

            frames = await chat(
                ws, {"type": "chat.send", "content": "I agree", "replyToBody": "Let's use Python for this project"}
            )
            assert_seed_reply(frames, "You said: I agree")
            assert agent.contexts[-1]["body"] == '[Replying to: "Let\'s use Python for this project"]\n\nJohn: I agree'

            frames = await chat(
                ws,
                {
                    "type": "chat.send",
                    "content": "Hello everyone!",
                    "chatType": "group",
                    "groupId": "dev-team",
                    "groupSubject": "Dev Team",
                },
            )
            assert_seed_reply(frames, "You said: Hello everyone!")
            group = agent.contexts[-1]
            assert group["chatType"] == "group" and group["groupId"] == "dev-team"
            assert group["groupSubject"] == "Dev Team" and group["sessionKey"].endswith("group:dev-team")

            frames = await chat(
                ws, {"type": "chat.send", "content": "Process this", "customData": {"priority": "high", "source": "api"}}
            )
            assert_seed_reply(frames, "You said: Process this")
            assert agent.contexts[-1]["customData"] == {"priority": "high", "source": "api"}

            long = (
                "Please write a Python function that calculates the factorial of a number recursively and "
                "iteratively, then compare their performance."
            )
            assert_seed_reply(await chat(ws, {"type": "chat.send", "content": long}), f"You said: {long}")
            await ws.close()

            # Different users, separate sessions (the README's quick test script).
            keys = []
            for user in ("alice", "bob"):
                ws = await open_ws(server.url, f"senderId={user}")
                await recv(ws)
                frames = await chat(ws, {"type": "chat.send", "content": f"I am {user}"})
                assert_seed_reply(frames, f"You said: I am {user}")
                keys.append(agent.contexts[-1]["sessionKey"])
                await ws.close()
            assert keys[0] != keys[1]

    run(body())


def test_bad_frames_get_errors_and_the_connection_stays_usable() -> None:
    async def body() -> None:
        async with await start_server(MemoryAgent(), "127.0.0.1", 0, no_auth()) as server:
            ws = await open_ws(server.url, "senderId=u1")
            await recv(ws)
            await ws.send("this is not json")
            err = await recv(ws)
            assert err == {"type": "chat.error", "error": "Failed to parse message", "code": "invalid_json"}
            await ws.send(json.dumps({"type": "chat.send", "content": ""}))
            err = await recv(ws)
            assert err["type"] == "chat.error" and err["code"] == "empty_content"
            assert err["error"] == "Invalid message format. Expected: { type: 'chat.send', content: '...' }"
            await ws.send(b"\x00\x01binary")
            err = await recv(ws)
            assert err["type"] == "chat.error" and err["code"] == "binary_frame"
            assert_seed_reply(await chat(ws, {"type": "chat.send", "content": "still here?"}), "You said: still here?")
            await ws.close()

    run(body())


def test_disconnect_mid_reply_is_not_a_cancel_and_resume_replays() -> None:
    async def body() -> None:
        agent = GatedAgent()
        finished: list = []

        def on_event(event: object) -> None:
            if isinstance(event, clawsocket.TurnFinished):
                finished.append(event)

        async with await start_server(agent, "127.0.0.1", 0, no_auth(), on_event=on_event) as server:
            ws = await open_ws(server.url, "senderId=u1&protocol=2")
            ready = await recv(ws)
            await ws.send(json.dumps({"type": "chat.send", "content": "Tell me a story", "messageId": "s1"}))
            frames = await recv_until(ws, lambda f: f["type"] == "chat.stream")
            last_seq = frames[-1]["seq"]
            assert frames[-1]["content"] == "Once "
            await ws.close()
            await eventually(lambda: server.core.connection_count() == 0, "the disconnect")

            agent.gate.set()
            await eventually(lambda: bool(finished), "the turn to finish")
            assert finished[0].outcome == "completed" and finished[0].text == "Once upon a time"
            assert agent.finished and not agent.cancelled

            ws = await open_ws(server.url, "senderId=u1&protocol=2")
            await recv(ws)
            await ws.send(json.dumps({"type": "chat.resume", "sessionKey": ready["sessionKey"], "lastSeq": last_seq}))
            frames = await recv_until(ws, lambda f: f["type"] == "chat.resumed")
            final = [f for f in frames if f["type"] == "chat.response"]
            assert final and final[0]["content"] == "Once upon a time" and final[0]["messageId"] == "s1"
            assert [f["seq"] for f in frames[:-1]] == list(range(last_seq + 1, last_seq + len(frames)))
            await ws.close()

    run(body())


def test_cancel_stops_the_agent_task() -> None:
    async def body() -> None:
        agent = GatedAgent()
        async with await start_server(agent, "127.0.0.1", 0, no_auth()) as server:
            ws = await open_ws(server.url, "senderId=u1&protocol=2")
            await recv(ws)
            await ws.send(json.dumps({"type": "chat.send", "content": "long essay", "messageId": "e1"}))
            await recv_until(ws, lambda f: f["type"] == "chat.stream")
            await ws.send(json.dumps({"type": "chat.cancel", "messageId": "e1"}))
            final = (await recv_until(ws, is_final))[-1]
            assert final["cancelled"] is True and final["content"] == "Once "
            await eventually(lambda: agent.cancelled, "the agent task to be cancelled")
            assert not agent.finished
            await ws.close()

    run(body())


def test_agent_errors_reach_the_client_without_leaking_internals() -> None:
    async def agent(turn: dict):
        if turn["content"] == "user error":
            raise AgentError("I cannot do that")
        raise RuntimeError("database password is hunter2")
        yield ""  # pragma: no cover - makes this an async generator

    async def body() -> None:
        async with await start_server(agent, "127.0.0.1", 0, no_auth()) as server:
            ws = await open_ws(server.url, "senderId=u1")
            await recv(ws)
            err = (await chat(ws, {"type": "chat.send", "content": "user error"}))[-1]
            assert err["code"] == "agent_error" and err["error"] == "I cannot do that"
            err = (await chat(ws, {"type": "chat.send", "content": "crash"}))[-1]
            assert err["code"] == "agent_error" and "hunter2" not in err["error"]
            await ws.close()

    run(body())


def test_coroutine_agent_returns_the_whole_reply() -> None:
    async def agent(turn: dict) -> str:
        return f"whole: {turn['content']}"

    async def body() -> None:
        async with await start_server(agent, "127.0.0.1", 0, no_auth()) as server:
            ws = await open_ws(server.url, "senderId=u1")
            await recv(ws)
            frames = await chat(ws, {"type": "chat.send", "content": "hi"})
            assert frames[0]["type"] == "chat.typing"
            assert frames[-1]["content"] == "whole: hi" and frames[-1]["done"] is True
            await ws.close()

    run(body())


def test_auth_via_the_seed_http_contract() -> None:
    async def body() -> None:
        with AuthService({"good": {"userId": "u-42", "username": "Ann", "plan": "pro"}}) as auth:
            config = {"auth": {"enabled": True, "endpoint": auth.endpoint, "timeout": 3000, "required": True}}
            agent = MemoryAgent()
            async with await start_server(agent, "127.0.0.1", 0, config, apply_env=False) as server:
                ws = await open_ws(server.url, "token=good&senderName=Mallory")
                ready = await recv(ws)
                assert ready["senderId"] == "u-42" and ready["authenticated"] is True
                assert auth.requests[-1]["token"] == "good" and auth.requests[-1]["tokenType"] == "local"
                frames = await chat(ws, {"type": "chat.send", "content": "hi"})
                assert frames[-1]["content"] == "You said: hi"
                assert agent.contexts[-1]["senderId"] == "u-42" and agent.contexts[-1]["auth"]["plan"] == "pro"
                # Authenticated identity wins over a frame's senderId.
                err = (await chat(ws, {"type": "chat.send", "content": "x", "senderId": "someone-else"}))[-1]
                assert err["code"] == "identity_mismatch"
                await ws.close()

                for query, code, text in [
                    ("token=bad", "auth_failed", "Authentication failed: invalid_token"),
                    ("senderId=x", "auth_required", "Token required. Connect with ?token=YOUR_TOKEN"),
                ]:
                    ws = await open_ws(server.url, query)
                    err = await recv(ws)
                    assert err["code"] == code and err["error"] == text
                    with pytest.raises(ConnectionClosed):
                        await recv(ws)
                    assert ws.close_code == 4401

        # The service is gone now: unavailable, still the seed's text and 4401.
        config = {"auth": {"enabled": True, "endpoint": auth.endpoint, "timeout": 3000}}
        async with await start_server(MemoryAgent(), "127.0.0.1", 0, config, apply_env=False) as server:
            ws = await open_ws(server.url, "token=good")
            err = await recv(ws)
            assert err["code"] == "auth_unavailable" and err["error"] == "Authentication failed: service_unavailable"
            with pytest.raises(ConnectionClosed):
                await recv(ws)
            assert ws.close_code == 4401

    run(body())


def test_timers_come_from_poll_timeout() -> None:
    """The agent timeout cancels the silent agent; the idle timeout closes a quiet v1 socket."""

    async def body() -> None:
        agent = GatedAgent()
        config = no_auth({"timing": {"agentTimeoutMs": 300, "idleTimeoutMs": 800, "keepaliveMs": 100}})
        async with await start_server(agent, "127.0.0.1", 0, config) as server:
            ws = await open_ws(server.url, "senderId=u1")
            await recv(ws)
            await ws.send(json.dumps({"type": "chat.send", "content": "think"}))
            frames = await recv_until(ws, is_final)
            assert frames[-1]["code"] == "agent_timeout"
            await eventually(lambda: agent.cancelled, "the timed-out agent to be cancelled")
            with pytest.raises(ConnectionClosed):
                await recv_until(ws, lambda f: False)
            assert ws.close_code == 4408

    run(body())


def test_shutdown_cancels_replies_and_closes_1001() -> None:
    async def body() -> None:
        agent = GatedAgent()
        server = await start_server(agent, "127.0.0.1", 0, no_auth())
        ws = await open_ws(server.url, "senderId=u1")
        await recv(ws)
        await ws.send(json.dumps({"type": "chat.send", "content": "story"}))
        await recv_until(ws, lambda f: f["type"] == "chat.stream")
        await server.close()
        final = await recv(ws)
        assert final["type"] == "chat.response" and final.get("cancelled") is True
        with pytest.raises(ConnectionClosed):
            await recv(ws)
        assert ws.close_code == 1001
        await eventually(lambda: agent.cancelled, "the agent to be cancelled")

    run(body())


def test_wrong_path_is_refused() -> None:
    async def body() -> None:
        async with await start_server(MemoryAgent(), "127.0.0.1", 0, no_auth()) as server:
            with pytest.raises(InvalidStatus):
                await open_ws(server.url.replace("/ws", "/other"))

    run(body())


def test_asyncio_client_streams_and_asks() -> None:
    async def body() -> None:
        async with await start_server(MemoryAgent(), "127.0.0.1", 0, no_auth()) as server:
            async with await clawsocket.connect(server.url, sender_id="carol") as client:
                assert client.ready is not None and client.ready.sender_id == "carol"
                events = [e async for e in client.stream("Hello!")]
                partials = [e.text for e in events if isinstance(e, clawsocket.Partial)]
                assert partials and all("You said: Hello!".startswith(p) for p in partials)
                assert isinstance(events[-1], clawsocket.Reply) and events[-1].text == "You said: Hello!"
                assert await client.ask("My name is Carol") == "You said: My name is Carol"
                assert await client.ask("What is my name?") == "Your name is Carol."
                with pytest.raises(clawsocket.ClientError) as info:
                    await client.ask("   ")
                assert info.value.code == "empty_content"
            # Seed protocol (v1) works the same from the caller's side.
            async with await clawsocket.connect(server.url, sender_id="dave", protocol=1) as client:
                assert await client.ask("Hi") == "You said: Hi"

    run(body())


def test_asyncio_client_reports_refused_auth() -> None:
    async def body() -> None:
        with AuthService({}) as auth:
            config = {"auth": {"enabled": True, "endpoint": auth.endpoint}}
            async with await start_server(MemoryAgent(), "127.0.0.1", 0, config, apply_env=False) as server:
                with pytest.raises(clawsocket.ChatError) as info:
                    await clawsocket.connect(server.url, token="nope")
                assert info.value.code == "auth_failed"

    run(body())


def test_port_zero_binds_a_free_port() -> None:
    async def body() -> None:
        async with await start_server(MemoryAgent(), "127.0.0.1", 0, no_auth()) as server:
            with socket.create_connection(("127.0.0.1", server.port), timeout=5):
                pass

    run(body())


def test_history_store_answers_chat_history() -> None:
    def store(session_key: str, limit: int, cursor):
        assert session_key.endswith(":u1") and limit == 2 and cursor is None
        return clawsocket.HistoryPage([clawsocket.HistoryMessage("m1", "user", "earlier", 5, sender_id="u1")], "older")

    async def body() -> None:
        async with await start_server(MemoryAgent(), "127.0.0.1", 0, no_auth(), history=store) as server:
            ws = await open_ws(server.url, "senderId=u1&protocol=2")
            await recv(ws)
            await ws.send(json.dumps({"type": "chat.history", "limit": 2}))
            page = await recv(ws)
            assert page["type"] == "chat.history" and page["nextCursor"] == "older"
            assert [m["content"] for m in page["messages"]] == ["earlier"]
            await ws.close()
        async with await start_server(MemoryAgent(), "127.0.0.1", 0, no_auth()) as server:
            ws = await open_ws(server.url, "senderId=u1&protocol=2")
            await recv(ws)
            await ws.send(json.dumps({"type": "chat.history"}))
            err = await recv(ws)
            assert err["type"] == "chat.error" and err["code"] == "history_unavailable"
            await ws.close()

    run(body())


def test_pairing_is_approved_through_the_host() -> None:
    async def body() -> None:
        requested: list = []

        def on_event(event: object) -> None:
            if isinstance(event, clawsocket.PairingRequested):
                requested.append(event)

        config = no_auth({"dmPolicy": "pairing", "pairingSeed": "test-seed"})
        async with await start_server(MemoryAgent(), "127.0.0.1", 0, config, on_event=on_event) as server:
            ws = await open_ws(server.url, "senderId=newcomer")
            await recv(ws)
            err = (await chat(ws, {"type": "chat.send", "content": "let me in"}))[-1]
            assert err["code"] == "pairing_required"
            await eventually(lambda: bool(requested), "the pairing request")
            assert server.approve_pairing(requested[0].code) == "newcomer"
            frames = await chat(ws, {"type": "chat.send", "content": "thanks"})
            assert frames[-1]["content"] == "You said: thanks"
            await ws.close()

    run(body())
