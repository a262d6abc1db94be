"""The extension module's API: errors with stable codes, conversions, both state machines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import clawsocket
from clawsocket import Client, Config, ConfigError, HistoryMessage, HistoryPage, Server, UsageError

from test_vectors import run_vector


def open_server(**block: object) -> Server:
    return Server(json.dumps({"channels": {"websocket": {"auth": {"enabled": False}, **block}}}))


def test_config_errors_name_the_key() -> None:
    with pytest.raises(ConfigError) as info:
        Server('{"auth":{"enabled":true,"timeout":"5s"}}')
    assert info.value.code == "invalid_config"
    assert info.value.key == "auth.timeout"
    assert isinstance(info.value, clawsocket.ClawsocketError)
    with pytest.raises(ConfigError) as info:
        Config.from_json('{"dmPolicy":"closed"}')
    assert info.value.key == "dmPolicy"
    with pytest.raises(ConfigError):
        Config.from_json("not json")
    # Host keys are skipped only when named.
    with pytest.raises(ConfigError):
        Config.from_json('{"agent":{"kind":"x"}}')
    assert Config.from_json('{"agent":{"kind":"x"}}', ["agent"]).port == 18800


def test_config_env_overrides() -> None:
    config = Config()
    assert config.auth_enabled and config.auth_required and config.path == "/ws"
    config.apply_env("0", "http://auth:3000/verify")
    assert not config.auth_enabled and config.auth_endpoint == "http://auth:3000/verify"
    with pytest.raises(ConfigError) as info:
        config.apply_env("maybe")
    assert info.value.key == "WS_AUTH_ENABLED"


def test_usage_errors_carry_the_core_code() -> None:
    server = open_server()
    with pytest.raises(UsageError) as info:
        server.handle_text(0, 42, b"{}")
    assert info.value.code == "unknown_connection"
    with pytest.raises(UsageError) as info:
        server.handle_agent_final(0, 7)
    assert info.value.code == "unknown_turn"
    with pytest.raises(UsageError) as info:
        server.approve_pairing(0, "NOPE1234")
    assert info.value.code == "unknown_pairing_code"
    with pytest.raises(UsageError) as info:
        server.handle_history(0, 1, error="x")
    assert info.value.code == "unknown_request"
    with pytest.raises(UsageError) as info:
        server.restore_sessions(0, "garbage")
    assert info.value.code == "invalid_state"
    with pytest.raises(TypeError):
        server.handle_text(0, 1, 12345)  # type: ignore[arg-type]


def test_frames_in_as_bytes_or_str_and_one_turn_end_to_end() -> None:
    server = open_server()
    conn = server.handle_connect(0, "senderId=u1&senderName=Ann")
    ready = server.poll_transmit()
    assert ready is not None and ready.connection == conn and not ready.is_close
    assert json.loads(ready.text or "")["type"] == "chat.ready"
    server.handle_text(1, conn, '{"type":"chat.send","content":"Grüße","customData":{"n":[1,2.5,true,null]}}')
    assert [json.loads(t.text or "")["type"] for t in server.poll_transmits()] == ["chat.typing"]
    (event,) = server.poll_events()
    assert isinstance(event, clawsocket.RunTurn) and event.kind == "run_turn"
    turn = event.turn
    assert turn.body == "Ann: Grüße" and turn.custom_data == {"n": [1, 2.5, True, None]}
    assert json.loads(event.to_json())["turn"] == json.loads(turn.to_json())
    server.handle_agent_delta(2, turn.id, "Hallo")
    server.handle_agent_final(3, turn.id, "Hallo Ann")
    frames = [json.loads(t.text or "") for t in server.poll_transmits()]
    assert frames[-1] == {"type": "chat.response", "messageId": turn.message_id, "content": "Hallo Ann", "done": True}
    (finished,) = server.poll_events()
    assert isinstance(finished, clawsocket.TurnFinished) and finished.outcome == "completed"
    assert server.turn_count() == 0 and server.connection_count() == 1
    exported = server.export_sessions()
    open_server().restore_sessions(0, exported)


def test_closes_and_redacted_tokens() -> None:
    server = Server('{"auth":{"enabled":true,"endpoint":"http://127.0.0.1:9/verify"}}')
    conn = server.handle_connect(0, "token=s3cret-token")
    (verify,) = server.poll_events()
    assert isinstance(verify, clawsocket.VerifyToken) and verify.connection == conn
    assert json.loads(verify.request) == {"token": "s3cret-token", "tokenType": "local"}
    assert "s3cret" not in repr(verify)
    server.handle_auth_unavailable(1, conn)
    error, close = server.poll_transmits()
    assert json.loads(error.text or "")["code"] == "auth_unavailable"
    assert close.is_close and close.close_code == clawsocket.CLOSE_AUTH and close.text is None


def test_history_answers() -> None:
    server = open_server()
    conn = server.handle_connect(0, "senderId=u1&protocol=2")
    server.poll_transmits()
    server.handle_text(1, conn, '{"type":"chat.history","limit":2}')
    (fetch,) = server.poll_events()
    assert isinstance(fetch, clawsocket.FetchHistory) and fetch.limit == 2
    page = HistoryPage([HistoryMessage("m1", "user", "hi", 5, sender_id="u1")], next_cursor="c1")
    server.handle_history(2, fetch.request, page)
    (frame,) = server.poll_transmits()
    body = json.loads(frame.text or "")
    assert body["type"] == "chat.history" and body["messages"][0]["content"] == "hi" and body["nextCursor"] == "c1"
    with pytest.raises(ValueError):
        server.handle_history(3, fetch.request)


def test_client_state_machine() -> None:
    client = Client(sender_id="u 1", token="t&k", message_id_prefix="dev")
    assert client.connect_query() == "senderId=u%201&token=t%26k&protocol=2&stream=delta"
    (reconnect,) = client.poll_events()
    assert isinstance(reconnect, clawsocket.Reconnect) and reconnect.attempt == 0
    message_id = client.send(0, "hello", custom_data={"k": [1, "x"]}, media=[("https://x/y.png", "image/png")])
    assert message_id == "dev-1"
    assert client.poll_transmit() is None  # socket is down: frames wait
    client.handle_open(1)
    (frame,) = client.poll_transmits()
    sent = json.loads(frame)
    assert sent["content"] == "hello" and sent["customData"] == {"k": [1, "x"]} and sent["mediaPaths"] == ["https://x/y.png"]
    key = "agent:main:websocket:direct:u 1"
    client.handle_frame(2, json.dumps({"type": "chat.stream", "messageId": "dev-1", "content": "Hel", "done": False, "sessionKey": key, "seq": 1}))
    client.handle_frame(3, json.dumps({"type": "chat.stream", "messageId": "dev-1", "content": "lo", "done": False, "sessionKey": key, "seq": 2}))
    client.handle_frame(4, json.dumps({"type": "chat.response", "messageId": "dev-1", "content": "Hello", "done": True, "sessionKey": key, "seq": 3}))
    partial1, partial2, reply = client.poll_events()
    assert isinstance(partial2, clawsocket.Partial) and partial2.text == "Hello"
    assert isinstance(reply, clawsocket.Reply) and reply.text == "Hello" and not reply.cancelled
    # Each event names its session, so a client following several can route it.
    assert partial1.session_key == key and reply.session_key == key
    assert client.last_seqs() == [(key, 3)]
    client.handle_frame(5, json.dumps({"type": "chat.error", "error": "slow down", "code": "rate_limited", "retryable": True}))
    (err,) = client.poll_events()
    assert isinstance(err, clawsocket.ErrorEvent) and err.code == "rate_limited" and err.known_code and err.retryable
    assert err.session_key is None
    with pytest.raises(clawsocket.ClientError) as info:
        client.handle_frame(6, "[]")
    assert info.value.code == "invalid_frame"
    client.handle_close(7, 1006)
    (closed,) = client.poll_events()
    assert isinstance(closed, clawsocket.Closed) and closed.reconnecting
    assert client.poll_timeout() is not None
    with pytest.raises(ValueError):
        Client(stream="sideways")  # type: ignore[arg-type]


def test_error_codes_exported() -> None:
    assert "invalid_json" in clawsocket.ERROR_CODES and "agent_error" in clawsocket.ERROR_CODES
    assert clawsocket.PROTOCOL_VERSION >= 2


def test_vector_runner_detects_a_mismatch(tmp_path: Path) -> None:
    """The runner is not vacuous: a wrong expectation fails."""
    vector = {
        "name": "tampered",
        "config": {"auth": {"enabled": False}},
        "steps": [
            {"at": 0, "connect": "senderId=u1", "result": "1", "frames": []},
        ],
    }
    path = tmp_path / "tampered.json"
    path.write_text(json.dumps(vector))
    with pytest.raises(AssertionError, match="frames differ"):
        run_vector(path)
