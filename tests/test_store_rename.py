"""Renaming a room in the Store, held by both backends alike."""

from __future__ import annotations

import time

import pytest

from roost.protocol.errors import RoostError
from roost.store.base import RoomUser, Store
from test_store_search import put


async def test_everything_of_a_room_moves_and_the_old_name_takes_nothing(store: Store) -> None:
    now = time.time()
    assert await store.create_room("old", "ann", now)
    await store.add_member("old", "ann")
    await store.save_room_user("old", "bob", RoomUser(role="moderator"))
    for i in range(3):
        await put(store, "old", "ann", f"heron number {i}", now + i)
    await store.set_read("ann", "old", 2)
    await store.add_mentions("old", 3, ["bob"])
    await store.create_room("taken", "ann", now)
    with pytest.raises(RoostError) as err:
        await store.rename_room("old", "taken")
    assert err.value.code == "name_taken"

    await store.rename_room("old", "new")
    rec = await store.get_room("new")
    assert rec is not None and rec.members == {"ann"} and rec.people["bob"].role == "moderator"
    gone = await store.get_room("old")
    assert gone is not None and gone.deleted and gone.renamed_to == "new"
    assert [m.seq for m in await store.history("new", 0, 0, 10)] == [1, 2, 3]
    assert await store.history("old", 0, 0, 10) == []
    assert await store.last_seq("new") == 3 and await store.last_seq("old") == 0
    assert (await store.read_markers("ann")).get("new") == 2
    assert (await store.mention_counts("bob")).get("new") == 1
    assert not await store.create_room("old", "eve", now)  # the old name stays taken
    assert (await put(store, "new", "ann", "heron number 3", now + 4)).seq == 4
    with pytest.raises(RoostError) as err:
        # A node that has not heard of the rename yet: refused, never a room at seq 1.
        await put(store, "old", "ann", "a late heron", now + 5)
    assert err.value.code == "no_such_room"
    assert await store.history("old", 0, 0, 10) == []

    await store.rename_room("new", "newer")
    assert await store.room_renames() == {"old": "newer", "new": "newer"}
    assert [m.seq for m in await store.history("newer", 0, 0, 10)] == [1, 2, 3, 4]


async def test_room_writes_under_an_old_name_land_under_the_new_one(store: Store) -> None:
    # A caller (on PostgreSQL: another node) that looked the room up before the rename:
    # a leave, a read marker, mentions follow the rename; a join or invitation fails.
    now = time.time()
    assert await store.create_room("before", "ann", now)
    await store.add_member("before", "ann")
    await store.add_member("before", "eve")
    for i in range(3):
        await put(store, "before", "ann", f"wren {i}", now + i)
    await store.rename_room("before", "after")
    await store.remove_member("before", "eve")
    assert await store.set_read("cat", "before", 2) == 2
    await store.add_mentions("before", 3, ["cat"])
    # A join, invitation or role under the old name is refused, not moved: the
    # rename told whom it moved, and this one would never hear of it.
    with pytest.raises(RoostError) as err:
        await store.add_member("before", "cat")
    assert err.value.code == "no_such_room" and "renamed to #after" in err.value.message
    with pytest.raises(RoostError) as err:
        await store.save_room_user("before", "dan", RoomUser(role="moderator"))
    assert err.value.code == "no_such_room"
    rec = await store.get_room("after")
    assert rec is not None and rec.members == {"ann"} and "dan" not in rec.people
    assert (await store.read_markers("cat")) == {"after": 2}
    assert (await store.mention_counts("cat")) == {"after": 1}
    gone = await store.get_room("before")
    assert gone is not None and not gone.members and not gone.people
    # A rename of a name that is gone, or to a name in use, changes nothing.
    with pytest.raises(RoostError) as err:
        await store.rename_room("before", "elsewhere")
    assert err.value.code == "no_such_room"
    assert await store.get_room("elsewhere") is None
    await store.create_room("busy", "ann", now)
    with pytest.raises(RoostError) as err:
        await store.rename_room("after", "busy")
    assert err.value.code == "name_taken"
    assert [m.text for m in await store.history("after", 0, 0, 10)] == [
        f"wren {i}" for i in range(3)
    ]
    assert (await put(store, "after", "ann", "wren 3", now + 4)).seq == 4
