"""Moderation in the full-screen client: slash commands, member-list keys, events.

The server decides who may do what; these only ask (a member gets the
server's ``forbidden`` as an error line). Moderation events, which only
moderators receive, show as warning lines in the conversation on screen.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from roost.client import Moderation
from roost.client.moderation import audit_text, pending_text, result_text, sanction_text
from roost.protocol.durations import split_duration
from roost.protocol.names import check_priority
from roost.tui.api import ChatApi
from roost.tui.commands import Arg, Command
from roost.tui.extensions import EXTENSIONS, MemberAction
from roost.tui.session import ChatSession

USER = Arg("NAME", "user")
DURATION_REASON = Arg("DURATION REASON", "text", optional=True, rest=True)
REASON = Arg("REASON", "text", optional=True, rest=True)


def _rest(args: list[str]) -> list[str]:
    return " ".join(args[1:]).split()


async def cmd_block(ctx: ChatApi, args: list[str]) -> None:
    duration, reason = split_duration(_rest(args))
    ctx.show(result_text(await ctx.session.client.block(args[0], duration, reason)))


async def cmd_unblock(ctx: ChatApi, args: list[str]) -> None:
    ctx.show(result_text(await ctx.session.client.unblock(args[0])))


async def cmd_kick(ctx: ChatApi, args: list[str]) -> None:
    ctx.show(result_text(await ctx.session.client.kick(args[0], " ".join(args[1:]))))


async def cmd_mute(ctx: ChatApi, args: list[str]) -> None:
    duration, reason = split_duration(_rest(args))
    ctx.show(result_text(await ctx.session.client.mute(args[0], duration, reason)))


async def cmd_unmute(ctx: ChatApi, args: list[str]) -> None:
    ctx.show(result_text(await ctx.session.client.unmute(args[0])))


async def cmd_priority(ctx: ChatApi, args: list[str]) -> None:
    level = check_priority(args[1])
    ctx.show(result_text(await ctx.session.client.set_priority(args[0], level)))


async def cmd_blocks(ctx: ChatApi, args: list[str]) -> None:
    found = await ctx.session.client.blocks()
    for s in found:
        ctx.show(sanction_text(s))
    if not found:
        ctx.show("no blocks, mutes or bans")


async def cmd_pending(ctx: ChatApi, args: list[str]) -> None:
    waiting = await ctx.session.client.pending()
    for p in waiting:
        ctx.show(pending_text(p))
    if not waiting:
        ctx.show("nobody waits for admission")


async def cmd_admit(ctx: ChatApi, args: list[str]) -> None:
    level = check_priority(args[1]) if len(args) > 1 else None
    ctx.show(result_text(await ctx.session.client.admit(args[0], level)))


async def cmd_refuse(ctx: ChatApi, args: list[str]) -> None:
    ctx.show(result_text(await ctx.session.client.refuse(args[0], " ".join(args[1:]))))


async def cmd_ban(ctx: ChatApi, args: list[str]) -> None:
    duration, reason = split_duration(_rest(args))
    ctx.show(result_text(await ctx.session.client.ban_address(args[0], duration, reason)))


async def cmd_unban(ctx: ChatApi, args: list[str]) -> None:
    ctx.show(result_text(await ctx.session.client.unban_address(args[0])))


async def cmd_audit(ctx: ChatApi, args: list[str]) -> None:
    count = int(args[0]) if args and args[0].isdigit() else 20
    for entry in await ctx.session.client.audit(count):
        ctx.show(audit_text(entry))


ADDRESS = Arg("ADDRESS", "text")
MODERATION_COMMANDS = (
    Command(
        "block",
        (USER, DURATION_REASON),
        "block NAME, for DURATION (e.g. 2h) if given; it ends their sessions",
        cmd_block,
    ),
    Command("unblock", (USER,), "lift the block of NAME", cmd_unblock),
    Command("kick", (USER, REASON), "end every session of NAME", cmd_kick),
    Command("mute", (USER, DURATION_REASON), "stop NAME sending, for DURATION if given", cmd_mute),
    Command("unmute", (USER,), "let NAME send again", cmd_unmute),
    Command(
        "priority",
        (USER, Arg("LEVEL", "text")),
        "set NAME's priority: urgent, high, normal, low (admins)",
        cmd_priority,
    ),
    Command("blocks", (), "list blocks, mutes and bans in force", cmd_blocks),
    Command("pending", (), "list newcomers waiting for admission", cmd_pending),
    Command(
        "admit",
        (USER, Arg("LEVEL", "text", optional=True)),
        "admit a waiting newcomer",
        cmd_admit,
    ),
    Command("refuse", (USER, REASON), "refuse a waiting newcomer", cmd_refuse),
    Command("ban", (ADDRESS, DURATION_REASON), "ban an address or CIDR network", cmd_ban),
    Command("unban", (ADDRESS,), "lift an address ban", cmd_unban),
    Command(
        "audit", (Arg("N", "text", optional=True),), "the last N moderation actions", cmd_audit
    ),
)


def _staff_on_other(session: ChatSession, user: str) -> bool:
    return session.role in ("moderator", "admin") and user != session.me


def _acting(verb: str) -> Callable[[ChatApi, str], Coroutine[Any, Any, None]]:
    async def run(api: ChatApi, user: str) -> None:
        api.show(result_text(await getattr(api.session.client, verb)(user)))

    return run


def _on_moderation(session: ChatSession, ev: Moderation) -> None:
    session.info(f"[mod] {ev.entry.text}", level="warning")


def install() -> None:
    for command in MODERATION_COMMANDS:
        EXTENSIONS.commands.add(command)
    for key, verb, what in (
        ("b", "block", "block the member until unblocked (moderators)"),
        ("k", "kick", "end the member's sessions (moderators)"),
        ("u", "mute", "mute the member until unmuted (moderators)"),
    ):
        EXTENSIONS.add_member_action(MemberAction(key, verb, what, _acting(verb), _staff_on_other))
    EXTENSIONS.on_session(lambda session: session.on(Moderation, _on_moderation))


install()
