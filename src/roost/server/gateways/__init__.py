"""Other front doors onto the same server (docs/web.md): they carry the same requests."""
