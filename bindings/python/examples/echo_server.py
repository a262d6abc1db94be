"""A complete agent server: streams every message back word by word. PORT picks the port."""
import asyncio, logging, os
import clawsocket

async def echo(turn):
    for i, word in enumerate(f"You said: {turn['content']}".split(" ")):
        await asyncio.sleep(0.02)  # pretend to think
        yield word if i == 0 else " " + word

logging.basicConfig(level=logging.INFO)
asyncio.run(clawsocket.serve(echo, host="127.0.0.1", port=int(os.environ.get("PORT", 18800)), config={"auth": {"enabled": False}}))
