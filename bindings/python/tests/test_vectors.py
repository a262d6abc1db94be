"""Every shared vector in tests/vectors/ through the Python binding, compared byte for byte
(format: tests/vectors/README.md; reference runner: core/tests/vectors.rs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import pytest

import clawsocket
from clawsocket import Config, HistoryMessage, HistoryPage, Server, UsageError

from conftest import VECTORS_DIR

INPUTS = {
    "connect", "send", "text", "textHex", "binary", "authResponse", "authUnavailable", "agentDelta",
    "agentText", "agentFinal", "agentError", "disconnect", "timeout", "shutdown", "approvePairing",
    "allowSender", "restoreDynamicAgent", "history",
}


def compact(value: Any) -> str:
    """The expectation as the README says: compact, keys in file order, UTF-8 kept."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def render(t: clawsocket.Transmit) -> str:
    if t.text is not None:
        return f'{{"to":{t.connection},"frame":{t.text}}}'
    reason = json.dumps(t.close_reason, ensure_ascii=False)
    return f'{{"to":{t.connection},"close":{{"code":{t.close_code},"reason":{reason}}}}}'


def history_page(page: dict) -> HistoryPage:
    messages = [
        HistoryMessage(
            m["messageId"], m["role"], m["content"], m["at"],
            sender_id=m.get("senderId"), sender_name=m.get("senderName"),
        )
        for m in page["messages"]
    ]
    return HistoryPage(messages, page.get("nextCursor"))


def expects_timeout(step: dict) -> bool:
    """`timeout` is an input when it is `{}`, an expectation when a number or null."""
    return "timeout" in step and not isinstance(step["timeout"], dict)


def step_input(step: dict) -> str:
    inputs = [k for k in step if k in INPUTS and not (k == "timeout" and expects_timeout(step))]
    assert len(inputs) == 1, f"step needs exactly one input: {step}"
    return inputs[0]


def apply(server: Server, name: str, arg: Any, now: int) -> Optional[str]:
    """Feeds one input; returns its result as the vectors write it."""
    if name == "connect":
        return str(server.handle_connect(now, arg))
    if name == "send":
        server.handle_text(now, arg["conn"], json.dumps(arg["frame"], ensure_ascii=False).encode())
    elif name == "text":
        server.handle_text(now, arg["conn"], arg["data"].encode())
    elif name == "textHex":
        server.handle_text(now, arg["conn"], bytes.fromhex(arg["hex"]))
    elif name == "binary":
        server.handle_binary(now, arg["conn"], bytes.fromhex(arg["hex"]))
    elif name == "authResponse":
        server.handle_auth_response(now, arg["conn"], arg["status"], arg["body"].encode())
    elif name == "authUnavailable":
        server.handle_auth_unavailable(now, arg["conn"])
    elif name == "agentDelta":
        server.handle_agent_delta(now, arg["turn"], arg["text"])
    elif name == "agentText":
        server.handle_agent_text(now, arg["turn"], arg["text"])
    elif name == "agentFinal":
        server.handle_agent_final(now, arg["turn"], arg.get("text"))
    elif name == "agentError":
        server.handle_agent_error(now, arg["turn"], arg["error"])
    elif name == "disconnect":
        server.handle_disconnect(now, arg["conn"])
    elif name == "timeout":
        server.handle_timeout(now)
    elif name == "shutdown":
        server.handle_shutdown(now)
    elif name == "approvePairing":
        return server.approve_pairing(now, arg["code"])
    elif name == "allowSender":
        server.allow_sender(arg)
    elif name == "restoreDynamicAgent":
        server.restore_dynamic_agent(arg)
    elif name == "history":
        if "error" in arg:
            server.handle_history(now, arg["request"], error=arg["error"])
        else:
            server.handle_history(now, arg["request"], history_page(arg["page"]))
    else:  # pragma: no cover - step_input only returns known inputs
        raise AssertionError(name)
    return None


def run_vector(path: Path) -> None:
    spec = json.loads(path.read_text(encoding="utf-8"))
    config = Config.from_json(json.dumps(spec["config"])) if "config" in spec else Config()
    server = Server(config)
    for index, step in enumerate(spec["steps"]):
        now = step.get("at", 0)
        name = step_input(step)
        try:
            result = apply(server, name, step[name], now)
        except UsageError as err:
            result = f"error:{err.code}"
        where = f"{path.name} step {index} ({name} at {now})"
        frames = [render(t) for t in server.poll_transmits()]
        events = [e.to_json() for e in server.poll_events()]
        assert frames == [compact(f) for f in step.get("frames", [])], f"{where}: frames differ"
        assert events == [compact(e) for e in step.get("events", [])], f"{where}: events differ"
        if expects_timeout(step):
            assert server.poll_timeout() == step["timeout"], f"{where}: poll_timeout differs"
        # The vectors write the next deadline as `nextTimeout` (`timeout` is also an input).
        if "nextTimeout" in step:
            assert server.poll_timeout() == step["nextTimeout"], f"{where}: poll_timeout differs"
        if "result" in step:
            want = step["result"]
            want = want if isinstance(want, str) else compact(want)
            assert result == want, f"{where}: result differs"
        else:
            assert not (result or "").startswith("error:"), f"{where}: unexpected {result}"


VECTORS = sorted(VECTORS_DIR.glob("*.json"))


def test_vectors_exist() -> None:
    assert VECTORS, f"no vectors in {VECTORS_DIR}"


@pytest.mark.parametrize("path", VECTORS, ids=[p.stem for p in VECTORS])
def test_vector(path: Path) -> None:
    run_vector(path)
