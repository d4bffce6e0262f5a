"""Write docs/img/tui.svg: the chat client at 80x24, against a real server.

Starts `roost serve` on a free loopback port with a throw-away data folder,
builds the same fixed scene as the snapshot tests (tests/tui_scene.py), runs
the app headless with its pilot and saves Textual's SVG screenshot.

Usage: python scripts/tui_screenshot.py [OUTPUT.svg]
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from conftest import RunningServer  # noqa: E402
from test_tui_snapshots import SIZE, scene_app, scene_ready  # noqa: E402
from tui_scene import build_scene, stop  # noqa: E402


async def shoot(server: RunningServer, workdir: Path, output: Path) -> None:
    app = scene_app(server, workdir)
    async with app.run_test(size=SIZE) as pilot:
        await scene_ready(pilot)
        app.save_screenshot(output.name, path=str(output.parent))


def main() -> None:
    output = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "docs" / "img" / "tui.svg")
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        server = RunningServer(workdir / "data").start()
        online: list[subprocess.Popen[str]] = []
        try:
            online = build_scene(server, workdir / "config")
            asyncio.run(shoot(server, workdir, output))
        finally:
            stop(online)
            server.stop()
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
