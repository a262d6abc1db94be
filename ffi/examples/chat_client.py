#!/usr/bin/env python3
"""A WebSocket chat client using only the Python standard library, for the C example server.

Does what a seed client does (connect with a token, send chat.send, read typing, stream and
the final response) and checks every step; then checks that a wrong token gets the seed's
`Authentication failed` error and close 4401. Exits non-zero on any mismatch.

    python3 chat_client.py <port>
"""

import base64
import hashlib
import json
import os
import socket
import struct
import sys

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class WebSocket:
    def __init__(self, port, query):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET /ws?{query} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise AssertionError("connection closed during the handshake")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        assert lines[0].startswith("HTTP/1.1 101"), lines[0]
        headers = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in lines[1:]}
        expected = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        assert headers.get("sec-websocket-accept") == expected, headers

    def send_text(self, text):
        payload = text.encode()
        mask = os.urandom(4)
        head = bytes([0x81])
        if len(payload) < 126:
            head += bytes([0x80 | len(payload)])
        elif len(payload) < 65536:
            head += bytes([0x80 | 126]) + struct.pack("!H", len(payload))
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", len(payload))
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(head + mask + masked)

    def close(self, code=1000):
        payload = struct.pack("!H", code)
        mask = os.urandom(4)
        self.sock.sendall(bytes([0x88, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise AssertionError("connection closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv(self):
        """Returns ("text", str) or ("close", code, reason)."""
        b0, b1 = self._read(2)
        assert b1 & 0x80 == 0, "server frames must not be masked"
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", self._read(2))
        elif n == 127:
            (n,) = struct.unpack("!Q", self._read(8))
        payload = self._read(n)
        opcode = b0 & 0x0F
        if opcode == 1:
            return ("text", payload.decode())
        if opcode == 8:
            code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
            return ("close", code, payload[2:].decode())
        raise AssertionError(f"unexpected opcode {opcode}")

    def recv_json(self):
        kind, *rest = self.recv()
        assert kind == "text", (kind, rest)
        frame = json.loads(rest[0])
        print("  <-", rest[0])
        return frame


def chat_turn(port):
    ws = WebSocket(port, "token=demo-token&senderName=Ignored")
    ready = ws.recv_json()
    assert ready["type"] == "chat.ready", ready
    assert ready["senderId"] == "demo-user" and ready["authenticated"] is True, ready
    ws.send_text(json.dumps({"type": "chat.send", "content": "Hello!"}))
    print("  -> chat.send Hello!")
    typing = ws.recv_json()
    assert typing["type"] == "chat.typing", typing
    streamed = []
    while True:
        frame = ws.recv_json()
        if frame["type"] == "chat.stream":
            assert frame["done"] is False
            streamed.append(frame["content"])
            continue
        assert frame["type"] == "chat.response", frame
        assert frame["done"] is True and frame["content"] == "You said: Hello!", frame
        assert frame["messageId"] == typing["messageId"]
        break
    # Seed (v1) streaming is cumulative: each chunk carries the whole text so far.
    assert streamed == ["You said: ", "You said: Hello!"], streamed
    ws.send_text("not json")
    error = ws.recv_json()
    assert error["type"] == "chat.error" and error["error"] == "Failed to parse message", error
    ws.close()
    kind, *rest = ws.recv()
    assert kind == "close" and rest[0] == 1000, (kind, rest)
    ws.sock.close()


def wrong_token(port):
    ws = WebSocket(port, "token=wrong")
    error = ws.recv_json()
    assert error["type"] == "chat.error", error
    assert error["error"] == "Authentication failed: auth_failed", error
    kind, *rest = ws.recv()
    assert kind == "close" and rest[0] == 4401, (kind, rest)
    print(f"  <- close {rest[0]} {rest[1]!r}")
    ws.sock.close()


def main():
    port = int(sys.argv[1])
    print("chat turn with a valid token:")
    chat_turn(port)
    print("wrong token:")
    wrong_token(port)
    print("chat client: ok")


if __name__ == "__main__":
    main()
