"""The Store interface, held by both backends alike: SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest

from roost.protocol.errors import ErrorCode, RoostError
from roost.store.base import (
    Account,
    AuditRecord,
    FileRecord,
    RoomPeople,
    RoomUser,
    Sanction,
    Store,
)
from store_helpers import append


def _file(fid: str, owner: str = "ann", size: int = 10, expires: float = 1e12) -> FileRecord:
    return FileRecord(fid, "ab" * 32, f"{fid}.txt", size, "text/plain", owner, "r", 1.0, expires)


async def test_accounts(store: Store) -> None:
    assert await store.create_account(Account("ann", "h1", created=5.0))
    assert not await store.create_account(Account("ann", "other"))
    await store.update_account("ann", role="moderator", priority=1)
    acc = await store.get_account("ann")
    assert acc == Account("ann", "h1", "moderator", 1, "active", 5.0)
    assert await store.create_account(Account("bob", "h2", status="pending", created=6.0))
    assert [a.name for a in await store.list_accounts()] == ["ann", "bob"]
    with pytest.raises(ValueError):
        await store.update_account("ann", created=1.0)
    await store.create_room("r", "ann", 1.0)
    await store.add_member("r", "bob")
    await store.save_token("t", "bob", 1e12)
    assert await store.delete_account("bob")
    assert not await store.delete_account("bob")
    assert await store.get_account("bob") is None
    assert await store.token_user("t", 0.0) is None
    assert (await store.load_rooms())[0].members == set()


async def test_sanctions_replace_and_lift(store: Store) -> None:
    await store.put_sanction(Sanction("block", "bob", "spam", "ann", 1.0))
    await store.put_sanction(Sanction("block", "bob", "more spam", "ann", 2.0, 99.0))
    await store.put_sanction(Sanction("ban", "10.0.0.7/32", "flood", "", 3.0))
    got = await store.list_sanctions()
    assert got == [
        Sanction("block", "bob", "more spam", "ann", 2.0, 99.0),
        Sanction("ban", "10.0.0.7/32", "flood", "", 3.0),
    ]
    assert await store.delete_sanction("block", "bob")
    assert not await store.delete_sanction("block", "bob")
    assert [s.kind for s in await store.list_sanctions()] == ["ban"]


async def test_audit_pages_newest_first_bounded(store: Store) -> None:
    ids = [
        await store.append_audit(AuditRecord(float(i), "ann", "kick", "bob" if i % 2 else "cy"))
        for i in range(6)
    ]
    assert ids == sorted(ids) and len(set(ids)) == 6
    page = await store.audit_log(2)
    assert [r.ts for r in page] == [4.0, 5.0]
    older = await store.audit_log(2, before=page[0].id)
    assert [r.ts for r in older] == [2.0, 3.0]
    assert [r.ts for r in await store.audit_log(10, target="bob")] == [1.0, 3.0, 5.0]


async def test_tokens_expire(store: Store) -> None:
    await store.save_token("t1", "ann", 100.0)
    assert await store.token_user("t1", 99.0) == "ann"
    assert await store.token_user("t1", 100.0) is None
    assert await store.token_user("nope", 0.0) is None


async def test_tokens_listed_and_revoked_per_user(store: Store) -> None:
    await store.save_token("a2", "ann", 300.0)
    await store.save_token("a1", "ann", 200.0)
    await store.save_token("old", "ann", 50.0)
    await store.save_token("b1", "bob", 300.0)
    listed = await store.list_tokens("ann", 100.0)
    assert [(t.token_hash, t.user, t.expires) for t in listed] == [
        ("a1", "ann", 200.0),
        ("a2", "ann", 300.0),
    ]
    assert await store.revoke_tokens("ann") == 3  # the expired one goes too
    assert await store.list_tokens("ann", 0.0) == []
    assert await store.token_user("a1", 100.0) is None
    assert await store.token_user("b1", 100.0) == "bob"
    assert await store.revoke_tokens("nobody") == 0


async def test_one_token_is_revoked_alone(store: Store) -> None:
    await store.save_token("t1", "ann", 500.0)
    await store.save_token("t2", "ann", 500.0)
    assert await store.revoke_token("t1")
    assert not await store.revoke_token("t1")  # gone already
    assert await store.token_user("t1", 100.0) is None
    assert await store.token_user("t2", 100.0) == "ann"


async def test_last_seen_keeps_the_latest_time(store: Store) -> None:
    assert await store.last_seen() == {}
    await store.save_last_seen("ann", 200.0)
    await store.save_last_seen("ann", 150.0)  # an older end (another node) does not win
    await store.save_last_seen("bob", 50.0)
    assert await store.last_seen() == {"ann": 200.0, "bob": 50.0}


async def test_account_status_and_password_change_persist(store: Store) -> None:
    assert await store.create_account(Account("cat", "h1"))
    await store.update_account("cat", status="disabled", password_hash="h2")
    got = await store.get_account("cat")
    assert got is not None and (got.status, got.password_hash) == ("disabled", "h2")
    await store.update_account("cat", status="deleted", password_hash="")
    assert not await store.create_account(Account("cat", "h3"))  # the name stays taken


async def test_rooms_and_members(store: Store) -> None:
    assert await store.create_room("r", "ann", 1.0)
    assert not await store.create_room("r", "bob", 2.0)
    await store.add_member("r", "ann")
    await store.add_member("r", "ann")
    await store.add_member("r", "bob")
    await store.remove_member("r", "bob")
    rooms = await store.load_rooms()
    assert [(r.name, r.creator, r.members) for r in rooms] == [("r", "ann", {"ann"})]
    one = await store.get_room("r")
    assert one is not None and (one.name, one.created, one.members) == ("r", 1.0, {"ann"})
    assert await store.get_room("none") is None


async def test_room_settings_people_and_deletion(store: Store) -> None:
    assert await store.create_room("r", "ann", 1.0, private=True)
    await store.add_member("r", "ann")
    rec = await store.get_room("r")
    assert rec is not None and rec.private and rec.topic == "" and rec.people == {}
    rec.topic, rec.topic_by, rec.topic_ts = "plans", "ann", 7.5
    await store.save_room(rec)
    await store.save_room_user("r", "ann", RoomUser(role="owner"))
    await store.save_room_user("r", "bob", RoomUser(invited_by="ann"))
    await store.save_room_user(
        "r", "cat", RoomUser(mute_expires=0.0, mute_reason="x", mute_by="ann")
    )
    await store.save_room_user(
        "r", "cat", RoomUser(mute_expires=99.0, mute_reason="y", mute_by="ann")
    )
    [loaded] = await store.load_rooms()
    assert (loaded.topic, loaded.topic_by, loaded.topic_ts, loaded.private) == (
        "plans",
        "ann",
        7.5,
        True,
    )
    assert loaded.people == {
        "ann": RoomUser(role="owner"),
        "bob": RoomUser(invited_by="ann"),
        "cat": RoomUser(mute_expires=99.0, mute_reason="y", mute_by="ann"),
    }
    await store.save_room_user("r", "bob", RoomUser())  # all-default: gone
    got = await store.get_room("r")
    assert got is not None and set(got.people) == {"ann", "cat"}
    _, fut = append(store, "r", "soon gone")
    await fut
    await store.save_room_user("r", "dan", RoomUser(invited_by="ann"))
    # What it removed: the members and the invitees (not cat, muted but neither).
    assert await store.delete_room("r") == RoomPeople({"ann"}, {"dan"})
    assert await store.load_rooms() == []
    gone = await store.get_room("r")
    assert gone is not None and gone.deleted and gone.members == set() and gone.people == {}
    assert await store.history("r", 0, 0, 10) == []
    assert not await store.create_room("r", "bob", 2.0)  # the name stays taken


async def test_messages_numbered_in_order_acked_in_order(store: Store) -> None:
    order: list[int] = []
    batches = 0

    def after() -> None:
        nonlocal batches
        batches += 1

    store.after_stored = after
    futs = []
    for i in range(50):
        _, fut = append(store, "r", f"m{i}")
        fut.add_done_callback(lambda f: order.append(f.result().seq))
        futs.append(fut)
    _, other = append(store, "@ann+bob", "dm")
    recs = await asyncio.gather(*futs, other)
    assert [r.seq for r in recs[:50]] == list(range(1, 51))
    assert order == list(range(1, 51))
    assert recs[50].seq == 1
    assert batches >= 1
    assert await store.last_seq("r") == 50
    assert await store.last_seq("nowhere") == 0
    assert await store.conversations_of("bob", {"r", "empty"}) == {
        "r": 50,
        "empty": 0,
        "@ann+bob": 1,
    }
    assert await store.last_seqs(["r", "@ann+bob", "empty"]) == {"r": 50, "@ann+bob": 1}
    assert await store.all_last_seqs() == {"r": 50, "@ann+bob": 1}
    page = await store.history("r", 10, 0, 5)
    assert [m.seq for m in page] == [11, 12, 13, 14, 15]
    assert [m.text for m in page] == ["m10", "m11", "m12", "m13", "m14"]
    assert [m.seq for m in await store.history("r", 0, 4, 100)] == [1, 2, 3]


async def test_file_offer_stored_with_its_message(store: Store) -> None:
    _, fut = append(store, "r", "here", file=_file("f1", size=300))
    rec = await fut
    assert rec.seq == 1
    got = await store.get_file("f1")
    assert got is not None and got.size == 300 and not got.expired
    (msg,) = await store.history("r", 0, 0, 10)
    assert msg.file == got
    assert await store.file_usage("ann") == 300
    assert await store.live_blobs() == {"ab" * 32}


async def test_a_bad_row_fails_alone_and_takes_no_number(store: Store) -> None:
    await append(store, "r", "first", file=_file("dup"))[1]
    _, ok1 = append(store, "r", "ok one")
    _, bad = append(store, "r", "again", file=_file("dup"))  # the file id is taken
    _, ok2 = append(store, "r", "ok two")
    assert (await ok1).text == "ok one"
    with pytest.raises(RoostError) as err:
        await bad
    assert err.value.code is ErrorCode.STORAGE
    await ok2
    texts = [m.text for m in await store.history("r", 0, 0, 10)]
    assert texts == ["first", "ok one", "ok two"]


async def test_expire_files_reports_unused_blobs(store: Store) -> None:
    for fid, expires in (("old", 5.0), ("new", 1e12)):
        await append(store, "r", fid, file=_file(fid, expires=expires))[1]
    other = FileRecord("x", "cd" * 32, "x", 7, "text/plain", "bob", "r", 1.0, 5.0)
    await append(store, "r", "x", file=other)[1]
    gone, unused = await store.expire_files(10.0)
    assert sorted(f.id for f in gone) == ["old", "x"]
    assert unused == ["cd" * 32]  # "ab..." is still used by "new"
    assert (await store.get_file("old")).expired  # type: ignore[union-attr]
    assert await store.file_usage("ann") == 10
    assert await store.expire_files(10.0) == ([], [])


async def test_events_about_a_message_are_stored_with_kind_ref_and_reply_to(store: Store) -> None:
    done: list[asyncio.Future[None]] = []

    def put(text: str, sender: str = "ann", **kw: object) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        store.append_message(
            "r", sender, text, 2, 1.0, lambda exc: fut.set_result(None), None, **kw
        )  # type: ignore[arg-type]
        done.append(fut)

    put("hello")
    put("hi!", "bob", reply_to=1)
    put("hello, all", kind="edit", ref=1)
    put("\U0001f44d", "bob", kind="react", ref=1)
    put("\U0001f44d", "bob", kind="react", ref=2)
    await asyncio.gather(*done)
    first = await store.get_message("r", 1)
    assert first is not None and (first.text, first.kind, first.ref) == ("hello", "text", 0)
    reply = await store.get_message("r", 2)
    assert reply is not None and reply.reply_to == 1
    assert await store.get_message("r", 9) is None
    assert await store.get_message("other", 1) is None
    refs = await store.refs_to("r", 1)
    assert [(m.seq, m.kind, m.sender, m.text) for m in refs] == [
        (3, "edit", "ann", "hello, all"),
        (4, "react", "bob", "\U0001f44d"),
    ]
    assert [m.seq for m in await store.refs_to("r", 2)] == [5]
    assert await store.refs_to("r", 0) == []
    hist = await store.history("r", 0, 0, 10)
    assert [(m.kind, m.ref, m.reply_to) for m in hist] == [
        ("text", 0, 0),
        ("text", 0, 1),
        ("edit", 1, 0),
        ("react", 1, 0),
        ("react", 2, 0),
    ]


async def test_a_deleted_room_takes_no_members(store: Store) -> None:
    assert await store.create_room("gone", "ann", 1.0)
    await store.add_member("gone", "ann")
    await store.delete_room("gone")
    with pytest.raises(RoostError) as err:
        await store.add_member("gone", "bob")
    assert err.value.code == "no_such_room"
    rec = await store.get_room("gone")
    assert rec is not None and rec.deleted and rec.members == set()


async def test_a_deleted_or_renamed_room_takes_no_invitations_nor_joins(store: Store) -> None:
    """No room-user row (an invitation, a role, a mute) nor member row is written
    under the name of a deleted or renamed room: the delete or rename took the
    room's people and told them, and the one invited or joined after would
    never hear of it. A removal still does no harm: nothing, or the new name."""
    for name in ("gone", "old"):
        assert await store.create_room(name, "ann", 1.0)
        await store.add_member(name, "ann")
        await store.save_room_user(name, "bob", RoomUser(invited_by="ann"))
    assert await store.delete_room("gone") == RoomPeople({"ann"}, {"bob"})
    assert await store.rename_room("old", "new") == RoomPeople({"ann"}, {"bob"})
    for name, said in (("gone", "was deleted"), ("old", "was renamed to #new")):
        for entry in (RoomUser(invited_by="ann"), RoomUser(role="moderator")):
            with pytest.raises(RoostError) as err:
                await store.save_room_user(name, "cat", entry)
            assert (err.value.code, said in err.value.message) == ("no_such_room", True), name
        with pytest.raises(RoostError) as err:
            await store.add_member(name, "cat")
        assert (err.value.code, said in err.value.message) == ("no_such_room", True), name
        await store.save_room_user(name, "bob", RoomUser())  # a removal: no error
    gone = await store.get_room("gone")
    assert gone is not None and gone.people == {} and gone.members == set()
    old = await store.get_room("old")
    assert old is not None and old.people == {} and old.members == set()
    rec = await store.get_room("new")
    # bob's invitation, moved by the rename, went with the removal under the old name.
    assert rec is not None and rec.members == {"ann"} and rec.people == {}
    await store.save_room_user("new", "cat", RoomUser(invited_by="ann"))
    rec = await store.get_room("new")
    assert rec is not None and set(rec.people) == {"cat"}


async def test_a_deleted_or_renamed_room_cannot_be_deleted(store: Store) -> None:
    """A second delete (another node's, say) finds the room gone: no_such_room,
    with nobody to tell; a name never made, or a renamed room's old name, too."""
    for name in ("once", "old"):
        assert await store.create_room(name, "ann", 1.0)
        await store.add_member(name, "ann")
    await store.rename_room("old", "new")
    assert await store.delete_room("once") == RoomPeople({"ann"}, set())
    for name in ("once", "old", "never"):
        with pytest.raises(RoostError) as err:
            await store.delete_room(name)
        assert err.value.code == "no_such_room", name
    # A name refused so is not taken: it can be made and joined later.
    assert await store.create_room("never", "bob", 2.0)
    await store.add_member("never", "bob")
    rec = await store.get_room("new")
    assert rec is not None and rec.members == {"ann"} and not rec.deleted
