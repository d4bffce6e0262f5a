"""Other front doors onto the same server (IRC: docs/irc.md, web: docs/web.md), each turning
its clients' commands into the server's requests and the server's events into its own format."""
