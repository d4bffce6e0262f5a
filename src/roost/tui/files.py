"""Files in the full-screen client: /send and /get, like the line client's.

Transfers run in the background (the chat goes on); their outcome is a line
in the conversation. Offers are drawn by :func:`roost.tui.render.message_text`.
"""

from __future__ import annotations

from pathlib import Path

from roost.protocol.errors import ErrorCode, RoostError
from roost.protocol.sizes import human_size
from roost.tui.api import ChatApi
from roost.tui.commands import COMMANDS, Arg, Command


async def cmd_send(ctx: ChatApi, args: list[str]) -> None:
    key = ctx.current
    if key is None:
        raise RoostError(ErrorCode.BAD_REQUEST, "no conversation open; /join a room first")
    path = Path(args[0]).expanduser()
    if not path.is_file():
        raise RoostError(ErrorCode.BAD_REQUEST, f"no file {str(path)!r}")
    ctx.show(f"sending {path.name} ({human_size(path.stat().st_size)})")

    async def run() -> None:
        result = await ctx.session.client.upload(path, key)
        ctx.show(f"sent {result.file.name} as {result.file.id}")

    ctx.background(run())


async def cmd_get(ctx: ChatApi, args: list[str]) -> None:
    file_id = args[0]
    folder = Path(args[1]).expanduser() if len(args) > 1 else Path.cwd()
    ctx.show(f"fetching {file_id} into {folder}")

    async def run() -> None:
        saved = await ctx.session.client.download(file_id, folder)
        ctx.show(f"saved {file_id} to {saved}")

    ctx.background(run())


COMMANDS.add(
    Command(
        "send",
        (Arg("PATH", "text", rest=True),),
        "send the file at PATH to this conversation",
        cmd_send,
    )
)
COMMANDS.add(
    Command(
        "get",
        (Arg("FILE_ID", "text"), Arg("FOLDER", "text", optional=True)),
        "download an offered file (into the current folder by default)",
        cmd_get,
    )
)
