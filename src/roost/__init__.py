"""Roost: a self-hosted chat server and client."""

__version__ = "0.1.0"
