"""The example scripts run: the ten-line echo server and the client script, as processes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading

from conftest import EXAMPLES_DIR


def test_echo_server_and_client_examples() -> None:
    env = dict(os.environ, PORT="0", PYTHONUNBUFFERED="1")
    env.pop("WS_AUTH_ENABLED", None)
    env.pop("WS_AUTH_ENDPOINT", None)
    server = subprocess.Popen(
        [sys.executable, str(EXAMPLES_DIR / "echo_server.py")],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = None
        lines = []
        # The server logs its URL once it listens (port 0 picks a free one).
        timer = threading.Timer(30, server.kill)
        timer.start()
        try:
            assert server.stderr is not None
            for line in server.stderr:
                lines.append(line)
                match = re.search(r"listening on (ws://\S+)", line)
                if match:
                    url = match.group(1)
                    break
        finally:
            timer.cancel()
        assert url, f"server did not start: {''.join(lines)}"

        client = subprocess.run(
            [sys.executable, str(EXAMPLES_DIR / "chat_client.py"), url, "Hello from the test"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert client.returncode == 0, client.stderr
        out = client.stdout.splitlines()
        assert out[0] == "connected as example-user"
        assert out[-1] == "reply: You said: Hello from the test"
        partials = [line[len("partial: "):] for line in out if line.startswith("partial: ")]
        assert len(partials) >= 2 and all("You said: Hello from the test".startswith(p) for p in partials)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
