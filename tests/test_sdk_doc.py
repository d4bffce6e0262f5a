"""The echo bot of docs/sdk.md, run exactly as documented, against a real server."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from conftest import roost_env
from helpers import logged_in, next_event
from roost.client import Message

DOC = Path(__file__).resolve().parent.parent / "docs" / "sdk.md"


def echo_bot_source() -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    bot = [b for b in blocks if "echobot" in b]
    assert len(bot) == 1, "docs/sdk.md must hold exactly one echo bot"
    return bot[0]


async def test_echo_bot_from_the_docs_answers(server, tmp_path) -> None:
    script = tmp_path / "echo_bot.py"
    script.write_text(echo_bot_source())
    env = roost_env(ROOST_SERVER=server.address, ECHO_LIMIT="2", ECHO_SECONDS="30")
    bot = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert bot.stdout is not None
        assert bot.stdout.readline().strip() == "ready"
        async with logged_in(server) as user:
            await user.send("general", "!echo first")
            reply = await next_event(user, Message, sender="echobot", timeout=10)
            assert reply.text == "first"
            await user.send("general", "not a command")
            await user.send("general", "!echo second")
            reply = await next_event(user, Message, sender="echobot", timeout=10)
            assert reply.text == "second"
        assert bot.wait(15) == 0, bot.stderr.read() if bot.stderr else ""
    finally:
        if bot.poll() is None:
            bot.kill()
            bot.wait()
