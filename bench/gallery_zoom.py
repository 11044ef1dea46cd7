"""Data gallery: time of each zoom step and scroll, through the app, headless at 80x24.

    nice flock /tmp/cpu.lock python bench/gallery_zoom.py --data PATH [--repeat 5] [--profile F]

Each step is a key press in the Data pane (``-``, ``+``, ``+`` through the three zoom levels: 8x8,
16x16, full 32x32 images; ``f`` full screen, ``pagedown`` three times, ``-`` and ``+`` there,
``f`` back), timed from the key press to the last screen update before the app is idle again;
each update is turned into the terminal's escape sequences as a real driver does. Prints p50 /
max in ms of each step over ``--repeat`` rounds. ``--profile FILE`` writes a cProfile of the
rounds (``python -m pstats FILE``).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pane_switch import record_frames  # noqa: E402

from cifar_tui.app import CifarApp  # noqa: E402
from cifar_tui.data import Cifar10, load_cifar10  # noqa: E402

STEPS = [("-", "zoom 8x8"), ("+", "zoom 16x16"), ("+", "zoom 32x32"), ("f", "full screen"),
         ("pagedown", "page down"), ("pagedown", "page down"), ("pagedown", "page down"),
         ("minus", "full, zoom 16x16"), ("plus", "full, zoom 32x32"), ("f", "back")]


async def measure(data: Cifar10, repeat: int, profile: cProfile.Profile | None
                  ) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as root:
        app = CifarApp(runs_root=root, loader=lambda source, stop=None: data)
        async with app.run_test(size=(80, 24)) as pilot:
            while app.dataset is None:
                await pilot.pause(0.05)
            await pilot.pause(0.5)
            frames = record_frames(app)
            for _ in range(repeat):
                for i, (key, name) in enumerate(STEPS):
                    await pilot.pause(0.2)
                    frames.clear()
                    if profile:
                        profile.enable()
                    t = time.perf_counter()
                    await pilot.press(key)
                    await pilot.pause()
                    if profile:
                        profile.disable()
                    times.setdefault(f"{i:>2} {key:<8} {name}", []).append(
                        (max(frames, default=t) - t) * 1000)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help="CIFAR-10 source (default: generated images)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--profile", help="write a cProfile of the timed key presses here")
    args = ap.parse_args()
    if args.data:
        data = load_cifar10(args.data)
    else:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from conftest import make_arrays

        data = Cifar10(*make_arrays(per_class=50, test_per_class=10), source="generated")
    profile = cProfile.Profile() if args.profile else None
    times = asyncio.run(measure(data, args.repeat, profile))
    for name, ms in times.items():
        print(f"{name:<34} p50 {statistics.median(ms):7.1f} ms   max {max(ms):7.1f} ms")
    if profile:
        profile.dump_stats(args.profile)


if __name__ == "__main__":
    main()
