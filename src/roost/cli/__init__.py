"""The `roost` command: server, account tools and scriptable client commands."""

from __future__ import annotations

import click

from roost import __version__
from roost.cli.account_cmds import passwd, sessions
from roost.cli.activity_cmds import mark_read, mentions, unread
from roost.cli.admin import admin
from roost.cli.client_cmds import chat, history, listen, send
from roost.cli.db_cmds import db
from roost.cli.edit_cmds import delete, edit, react
from roost.cli.file_cmds import download, upload
from roost.cli.ops_cmds import backup, restore
from roost.cli.room_admin_cmds import room
from roost.cli.room_cmds import join, leave, rooms
from roost.cli.search_cmds import search
from roost.cli.server_cmds import serve, user
from roost.cli.usage import RoostGroup


@click.group(cls=RoostGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="roost")
def main() -> None:
    """Roost: a self-hosted chat server and client.

    A usage error (a missing argument, a bad option) prints one line and
    exits with status 2; any other failure prints one line and exits with 1.
    """


main.add_command(serve)
main.add_command(user)
main.add_command(send)
main.add_command(listen)
main.add_command(history)
main.add_command(edit)
main.add_command(delete)
main.add_command(react)
main.add_command(search)
main.add_command(join)
main.add_command(leave)
main.add_command(rooms)
main.add_command(room)
main.add_command(chat)
main.add_command(upload)
main.add_command(download)
main.add_command(admin)
main.add_command(passwd)
main.add_command(sessions)
main.add_command(mentions)
main.add_command(unread)
main.add_command(mark_read)
main.add_command(backup)
main.add_command(restore)

main.add_command(db)
