"""Screens of the Textual client: login, chat, help, and the room browser."""
