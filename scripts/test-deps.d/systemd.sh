# systemd-analyze checks contrib/roost.service (tests/test_ops_contrib.py)
DEB_PACKAGES="systemd"
