# Real engines for the cluster tests (tests/engines.py): PostgreSQL and Redis.
DEB_PACKAGES="postgresql redis-server"
