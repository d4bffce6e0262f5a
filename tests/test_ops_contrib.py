"""The service files in contrib/: the systemd unit verifies, the container's config loads."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from roost.server.config import load_config

CONTRIB = Path(__file__).resolve().parent.parent / "contrib"


def unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in (CONTRIB / "roost.service").read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def test_systemd_unit_is_hardened_and_verifies(tmp_path) -> None:
    s = unit_settings()
    assert s["NoNewPrivileges"] == ["yes"]
    assert s["ProtectSystem"] == ["strict"]
    assert s["ReadWritePaths"] == ["/var/lib/roost"]
    assert s["CapabilityBoundingSet"] == [""]
    assert s["User"] == ["roost"] and s["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    for key in ("ProtectHome", "PrivateTmp", "PrivateDevices", "RestrictSUIDSGID"):
        assert s[key] == ["yes"], key
    assert "--data-dir /var/lib/roost" in s["ExecStart"][0]
    # systemd's own check, with ExecStart pointing at an executable that exists here.
    analyze = shutil.which("systemd-analyze")
    assert analyze is not None, "systemd-analyze is missing (scripts/test-deps.d/systemd.sh)"
    unit = tmp_path / "roost.service"
    unit.write_text(
        (CONTRIB / "roost.service").read_text().replace("/usr/local/bin/roost", sys.executable)
    )
    res = subprocess.run(
        [analyze, "verify", "--man=no", str(unit)], capture_output=True, text=True, timeout=60
    )
    problems = [
        line
        for line in (res.stdout + res.stderr).splitlines()
        # Without a running systemd (a container) these say nothing about the unit.
        if line.strip()
        and "Failed to connect to bus" not in line
        and "System has not been booted" not in line
    ]
    assert res.returncode == 0 and not problems, res.stdout + res.stderr


def test_container_config_loads_and_listens_where_published(tmp_path) -> None:
    text = (CONTRIB / "Containerfile").read_text()
    lines = re.findall(r"^\s+'(.+?)' \\$", text, re.MULTILINE)
    assert lines, "no config lines found in the Containerfile"
    cfg_path = tmp_path / "roost.toml"
    cfg_path.write_text("\n".join(lines) + "\n")
    cfg = load_config(cfg_path)
    assert (cfg.host, cfg.port, str(cfg.data_dir)) == ("0.0.0.0", 7878, "/data")
    assert (cfg.metrics_port, cfg.log_format) == (9878, "json")
    assert "EXPOSE 7878 9878" in text and "USER roost" in text
    assert "/healthz" in text
