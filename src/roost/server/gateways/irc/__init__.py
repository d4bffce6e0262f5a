"""The IRC gateway: IRC clients (WeeChat, irssi, HexChat, bouncers) on the same rooms and DMs.

``lines`` reads and writes IRC lines, ``render`` turns server events into
lines (encoded once per message and variant), ``session`` is the sans-I/O
state machine of one IRC client, and ``listener`` runs it on sockets.
"""
