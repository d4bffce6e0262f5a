"""Who hears of a room's deletion: invitees too, and in a cluster the members
and invitees the deleting node has not heard of yet."""

from __future__ import annotations

from typing import Any

import pytest

from cluster_helpers import behind_their_back
from helpers import logged_in, next_event, unique
from modhelpers import staff
from roost.client import RoomDeleted, RoostError


async def test_those_invited_into_a_deleted_room_are_told(any_server: Any) -> None:
    srv = any_server
    room = unique("doomed")
    boss = await staff(srv, "boss")
    try:
        async with logged_in(srv) as carol, logged_in(srv) as dave:
            await carol.join(room, private=True)
            await carol.invite(room, dave.user or "")
            await boss.delete_room(room, "gone")
            for client in (carol, dave):
                ev = await next_event(client, RoomDeleted, room=room)
                assert (ev.by, ev.reason) == (boss.user, "gone")
            with pytest.raises(RoostError) as err:
                await dave.join(room)
            assert err.value.code in {"no_such_room", "name_taken"}
    finally:
        await boss.close()


async def test_members_this_node_has_not_heard_of_yet_are_told_of_the_deletion(
    cluster: Any, pg_dsn: str
) -> None:
    """Node a deletes a room before it has applied another node's news of a join
    or an invitation (the bus's change is still in flight, or Redis lost it):
    those users are told from what the store held before the deletion, not only
    from a's memory; their node drops them from the room on the bus's change,
    without a word of its own. (The rename had this flaw, seen once in four
    runs; tests/test_room_rename_races.py.)"""
    a, b = cluster(2)
    room = unique("doomed")
    boss = await staff(a, "boss")
    alice, dave = unique("alice"), unique("dave")
    try:
        async with logged_in(a) as carol:
            await carol.join(room)
            for user in (alice, dave):
                async with logged_in(b, user):
                    pass
            # A join and an invitation that node a has not heard of: written to the
            # store behind its back, then node b reads them at its start.
            await behind_their_back(pg_dsn, room, (alice,), {dave: carol.user})
            b.restart()
            async with (
                logged_in(b, alice, register=False) as on_b,
                logged_in(b, dave, register=False) as invitee,
            ):
                assert on_b.session is not None and room in on_b.session.rooms
                result = await boss.delete_room(room, "spam")
                assert result.action == "delete_room"
                for client in (carol, on_b, invitee):
                    ev = await next_event(client, RoomDeleted, room=room)
                    assert (ev.by, ev.reason) == (boss.user, "spam")
                with pytest.raises(RoostError) as err:
                    await on_b.send(room, "anyone here?")
                assert err.value.code == "no_such_room"
    finally:
        await boss.close()
