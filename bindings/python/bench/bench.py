"""Frames per second through the binding against a pure-Python implementation of the same
seed behaviour, measured in the same run.

One message is: a ``chat.send`` frame in; ``chat.typing``, one ``chat.stream`` and the final
``chat.response`` out (4 frames). The pure-Python side parses and validates the frame with
``json`` and dicts, builds the agent body and the three frames. The binding side does the
same through ``clawsocket.Server`` (which additionally does session routing, sequence
numbers, the replay buffer and rate limiting), including the Python objects for every event.

    python bench/bench.py [--messages N] [--quick]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from typing import Callable, Optional

import clawsocket

FRAMES_PER_MESSAGE = 4
INVALID_FORMAT = "Invalid message format. Expected: { type: 'chat.send', content: '...' }"
SEND = json.dumps({"type": "chat.send", "content": "Hello there, agent!", "senderName": "John"}).encode()
DELTA = "Hi John, nice to meet you."


class PurePythonSeed:
    """The seed plugin's per-message work, written the obvious way in Python."""

    def __init__(self) -> None:
        self.next_message = 0

    def _error(self, text: str, message_id: Optional[str] = None) -> str:
        frame = {"type": "chat.error", "error": text}
        if message_id is not None:
            frame["messageId"] = message_id
        return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))

    def handle_text(self, data: bytes, sender_id: str, sender_name: Optional[str]) -> tuple[list[str], Optional[dict]]:
        try:
            frame = json.loads(data)
        except ValueError:
            return [self._error("Failed to parse message")], None
        content = frame.get("content") if isinstance(frame, dict) else None
        if frame.get("type") != "chat.send" or not isinstance(content, str) or not content.strip():
            return [self._error(INVALID_FORMAT)], None
        for key in ("messageId", "senderId", "senderName", "groupId", "groupSubject", "replyToBody", "chatType"):
            value = frame.get(key)
            if value is not None and not isinstance(value, str):
                return [self._error(INVALID_FORMAT)], None
        message_id = frame.get("messageId")
        if not message_id:
            self.next_message += 1
            message_id = f"msg-{self.next_message}"
        name = frame.get("senderName") or sender_name or frame.get("senderId") or sender_id
        body = f"{name}: {content}"
        reply_to = frame.get("replyToBody")
        if reply_to:
            body = f'[Replying to: "{reply_to}"]\n\n{body}'
        turn = {
            "messageId": message_id,
            "senderId": frame.get("senderId") or sender_id,
            "senderName": name,
            "sessionKey": f"agent:main:websocket:direct:{sender_id}",
            "body": body,
            "content": content,
            "customData": frame.get("customData"),
            "text": "",
        }
        typing = json.dumps({"type": "chat.typing", "messageId": message_id}, ensure_ascii=False, separators=(",", ":"))
        return [typing], turn

    def agent_delta(self, turn: dict, delta: str) -> str:
        turn["text"] += delta
        frame = {"type": "chat.stream", "messageId": turn["messageId"], "content": turn["text"], "done": False}
        return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))

    def agent_final(self, turn: dict) -> str:
        frame = {"type": "chat.response", "messageId": turn["messageId"], "content": turn["text"], "done": True}
        return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))


def run_pure_python(messages: int) -> int:
    seed = PurePythonSeed()
    frames = 0
    for _ in range(messages):
        out, turn = seed.handle_text(SEND, "user1", "John")
        assert turn is not None
        out.append(seed.agent_delta(turn, DELTA))
        out.append(seed.agent_final(turn))
        frames += 1 + len(out)
    return frames


def binding_server() -> tuple[clawsocket.Server, int]:
    # No rate limit: the benchmark sends far more than a person would.
    config = json.dumps({"auth": {"enabled": False}, "limits": {"messagesPerMinute": 0}})
    server = clawsocket.Server(config)
    conn = server.handle_connect(0, "senderId=user1&senderName=John")
    server.poll_transmits()
    return server, conn


def run_binding(messages: int) -> int:
    server, conn = binding_server()
    frames = 0
    for now in range(1, messages + 1):
        server.handle_text(now, conn, SEND)
        out = server.poll_transmits()
        (run_turn,) = server.poll_events()
        turn = run_turn.turn.id  # type: ignore[union-attr]
        server.handle_agent_delta(now, turn, DELTA)
        server.handle_agent_final(now, turn)
        out += server.poll_transmits()
        server.poll_events()  # turn_finished
        frames += 1 + len(out)
    return frames


def check_same_output() -> None:
    """Both sides produce the same three seed frames for the benchmark message."""
    seed = PurePythonSeed()
    out, turn = seed.handle_text(SEND, "user1", "John")
    assert turn is not None
    expected = out + [seed.agent_delta(turn, DELTA), seed.agent_final(turn)]
    server, conn = binding_server()
    server.handle_text(1, conn, SEND)
    (run_turn,) = server.poll_events()
    assert run_turn.turn.body == turn["body"]  # type: ignore[union-attr]
    server.handle_agent_delta(2, run_turn.turn.id, DELTA)  # type: ignore[union-attr]
    server.handle_agent_final(3, run_turn.turn.id)  # type: ignore[union-attr]
    actual = [t.text for t in server.poll_transmits()]
    assert actual == expected, (actual, expected)


def measure(run: Callable[[int], int], messages: int, repeats: int) -> float:
    """Best-of-``repeats`` frames per second."""
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        frames = run(messages)
        elapsed = time.perf_counter() - start
        best = max(best, frames / elapsed)
    return best


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.messages, args.repeats = 2_000, 1
    check_same_output()
    python_fps = measure(run_pure_python, args.messages, args.repeats)
    binding_fps = measure(run_binding, args.messages, args.repeats)
    print(f"python {platform.python_version()} on {platform.machine()}, {args.messages} messages x {FRAMES_PER_MESSAGE} frames, best of {args.repeats}")
    print(f"pure Python (json + dicts): {python_fps:12,.0f} frames/s")
    print(f"clawsocket binding:         {binding_fps:12,.0f} frames/s")
    print(f"ratio binding / pure Python: {binding_fps / python_fps:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
