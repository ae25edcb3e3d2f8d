"""Look at a report as a person would: render it in headless Chromium and save a PNG.

    .venv/bin/python bench/screenshot_report.py bench/results/eval_digits_class_3.html [--out shot.png]

Needs a Chromium or Chrome binary (Debian: `apt-get install chromium`); it is not a
dependency of obliviate and the test suite does not need it (tests/test_report.py
checks that every report is self-contained and has every plot). Chromium runs with
networking features off and a throw-away profile, so a report that tried to fetch
anything would render broken here too. Open the PNG and check: the tables are
readable, every plot has its axes, labels and legend, nothing overlaps.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def screenshot(report: Path, out: Path, width: int = 1200, height: int = 3000) -> Path:
    browser = next((b for b in BROWSERS if shutil.which(b)), None)
    if browser is None:
        raise SystemExit(f"no Chromium found (looked for {', '.join(BROWSERS)}); Debian: apt-get install chromium")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        f"--user-data-dir={profile}", f"--window-size={width},{height}",
                        f"--screenshot={out.resolve()}", report.resolve().as_uri()],
                       check=True, capture_output=True, timeout=120)
    if not out.exists() or out.stat().st_size == 0:
        raise SystemExit(f"Chromium wrote no screenshot for {report}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("report", type=Path)
    parser.add_argument("--out", type=Path, help="PNG to write (default: the report's name with .png)")
    parser.add_argument("--height", type=int, default=3000, help="page height in pixels (default 3000)")
    args = parser.parse_args()
    out = screenshot(args.report, args.out or args.report.with_suffix(".png"), height=args.height)
    print(f"screenshot written to {out}")


if __name__ == "__main__":
    main()
