"""Sends one message and prints the reply as it streams in.

    python chat_client.py [ws://127.0.0.1:18800/ws] [message]
"""

import asyncio
import sys

import clawsocket


async def main(url: str, text: str) -> None:
    async with await clawsocket.connect(url, sender_id="example-user", sender_name="Example") as chat:
        print(f"connected as {chat.ready.sender_id if chat.ready else '?'}")
        async for event in chat.stream(text):
            if isinstance(event, clawsocket.Reply):
                print(f"reply: {event.text}")
            else:
                print(f"partial: {event.text}")


if __name__ == "__main__":
    url = sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:18800/ws"
    text = sys.argv[2] if len(sys.argv) > 2 else "Hello!"
    asyncio.run(main(url, text))
