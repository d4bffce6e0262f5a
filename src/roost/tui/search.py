"""Search in the full-screen client: /search opens a results view (screens/search.py)."""

from __future__ import annotations

import time

from roost.client.search import parse_search_line
from roost.tui.api import ChatApi
from roost.tui.commands import Arg, Command
from roost.tui.extensions import EXTENSIONS
from roost.tui.screens.search import SearchScreen


async def cmd_search(ctx: ChatApi, args: list[str]) -> None:
    search = parse_search_line(" ".join(args), time.time())
    ctx.background(ctx.ask(SearchScreen(ctx, search)))


EXTENSIONS.commands.add(
    Command(
        "search",
        (Arg("WORDS", "text", rest=True),),
        "search your conversations; from:USER in:ROOM since:DATE until:DATE narrow it",
        cmd_search,
    )
)
