"""Files in the full-screen client: /send, /get, /save and /open, and the transfers screen.

Transfers run in the background (the chat goes on) and are listed on the
transfers screen (F3) with their progress; their outcome is also a line in
the conversation. Offers are drawn by :func:`roost.tui.render.message_text`.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from pathlib import Path

from roost.protocol.errors import ErrorCode, RoostError
from roost.protocol.sizes import human_size
from roost.tui.api import ChatApi
from roost.tui.commands import COMMANDS, Arg, Command
from roost.tui.extensions import EXTENSIONS, ScreenEntry
from roost.tui.screens.transfers import TransfersScreen
from roost.tui.transfers import transfers_of


def downloads_dir() -> Path:
    """Where /save and /open put files: ``$ROOST_DOWNLOADS``, else ``~/Downloads/roost``."""
    explicit = os.environ.get("ROOST_DOWNLOADS")
    return Path(explicit).expanduser() if explicit else Path.home() / "Downloads" / "roost"


def opener() -> list[str] | None:
    """The system's command that opens a file with its usual program, if there is one."""
    name = "open" if sys.platform == "darwin" else "xdg-open"
    found = shutil.which(name)
    return [found] if found else None


async def cmd_send(ctx: ChatApi, args: list[str]) -> None:
    key = ctx.current
    if key is None:
        raise RoostError(ErrorCode.BAD_REQUEST, "no conversation open; /join a room first")
    path = Path(args[0]).expanduser()
    if not path.is_file():
        raise RoostError(ErrorCode.BAD_REQUEST, f"no file {str(path)!r}")
    size = path.stat().st_size
    ctx.show(f"sending {path.name} ({human_size(size)}); F3 shows transfers")
    registry = transfers_of(ctx.session)
    t = registry.start("upload", path.name, size)

    async def run() -> None:
        client = ctx.session.client
        result = await registry.track(t, lambda p: client.upload(path, key, progress=p))
        if result is None:
            ctx.show(f"cancelled sending {path.name}")
            return
        t.detail = f"sent as {result.file.id}"
        ctx.show(f"sent {result.file.name} as {result.file.id}")

    ctx.background(run())


def _fetch(ctx: ChatApi, file_id: str, folder: Path, then_open: bool = False) -> None:
    """Download in the background into ``folder``, listed on the transfers screen."""
    ctx.show(f"fetching {file_id} into {folder}")
    registry = transfers_of(ctx.session)

    async def run() -> None:
        client = ctx.session.client
        info = (await client.file_info(file_id)).file
        if not folder.is_dir():
            folder.mkdir(parents=True, exist_ok=True)
        t = registry.start("download", info.name, info.size)
        saved = await registry.track(t, lambda p: client.download(info.id, folder, progress=p))
        if saved is None:
            ctx.show(f"cancelled fetching {file_id}")
            return
        t.detail = f"saved to {saved}"
        ctx.show(f"saved {file_id} to {saved}")
        if then_open:
            await _open(ctx, saved)

    ctx.background(run())


async def _open(ctx: ChatApi, path: Path) -> None:
    command = opener()
    if command is None:
        ctx.show(f"no program to open files here (xdg-open not found); the file is {path}")
        return
    proc = await asyncio.create_subprocess_exec(
        *command,
        str(path),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    status = await proc.wait()
    if status:
        ctx.show(f"{Path(command[0]).name} could not open {path} (exit status {status})", "error")
    else:
        ctx.show(f"opened {path}")


async def cmd_get(ctx: ChatApi, args: list[str]) -> None:
    folder = Path(args[1]).expanduser() if len(args) > 1 else Path.cwd()
    _fetch(ctx, args[0], folder)


async def cmd_save(ctx: ChatApi, args: list[str]) -> None:
    _fetch(ctx, args[0], downloads_dir())


async def cmd_open(ctx: ChatApi, args: list[str]) -> None:
    _fetch(ctx, args[0], downloads_dir(), then_open=True)


_FILE_ID = Arg("FILE_ID", "text")
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
        (_FILE_ID, Arg("FOLDER", "text", optional=True)),
        "download an offered file (into the current folder by default)",
        cmd_get,
    )
)
COMMANDS.add(
    Command("save", (_FILE_ID,), "download an offered file into the downloads folder", cmd_save)
)
COMMANDS.add(Command("open", (_FILE_ID,), "download an offered file, then open it", cmd_open))
EXTENSIONS.add_screen(
    ScreenEntry("f3", "transfers", "uploads and downloads; C cancels one", TransfersScreen)
)
