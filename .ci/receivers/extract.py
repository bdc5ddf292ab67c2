"""Writes the receiver examples of docs/signing.md to files, so that the code
tested is the code on the page.

A block is marked by an HTML comment on the line before its fence (invisible
once rendered):

    <!-- tested by .ci/receivers/run as receiver.py -->
    ```python
    ...
    ```

Usage: extract.py PAGE NAME=PATH [NAME=PATH ...]

Each NAME must be marked exactly once, and every marked block must be asked
for: a renamed, duplicated or forgotten marker fails the run instead of
silently testing nothing.
"""

import re
import sys
from pathlib import Path

MARKER = re.compile(r"^<!-- tested by \.ci/receivers/run as (\S+) -->$")
FENCE = re.compile(r"^(`{3,})[A-Za-z]+$")


def blocks(page):
    """Yields (name, code, line number of the marker) for each marked block."""
    lines = page.read_text(encoding="utf-8").splitlines()
    for index, line in enumerate(lines):
        marker = MARKER.match(line.strip())
        if not marker:
            continue
        name, number = marker.group(1), index + 1
        fence = FENCE.match(lines[index + 1]) if index + 1 < len(lines) else None
        if not fence:
            raise SystemExit(
                f"{page}:{number}: the marker for {name} must be followed at once by an"
                " opening fence with a language, e.g. ```python"
            )
        try:
            end = lines.index(fence.group(1), index + 2)
        except ValueError:
            raise SystemExit(
                f"{page}:{number}: the block for {name} has no closing {fence.group(1)}"
            ) from None
        yield name, "\n".join(lines[index + 2 : end]) + "\n", number


def main(argv):
    if len(argv) < 3 or not all("=" in arg for arg in argv[2:]):
        raise SystemExit(__doc__)
    page = Path(argv[1])
    wanted = dict(arg.split("=", 1) for arg in argv[2:])
    found = {}
    for name, code, number in blocks(page):
        if name in found:
            raise SystemExit(f"{page}:{number}: {name} is marked twice (first at line {found[name][1]})")
        found[name] = (code, number)
    unexpected = sorted(set(found) - set(wanted))
    missing = sorted(set(wanted) - set(found))
    if unexpected or missing:
        raise SystemExit(
            f"{page}: marked blocks {sorted(found)} do not match the expected {sorted(wanted)}"
            f" (missing: {missing}, unexpected: {unexpected})"
        )
    for name, path in wanted.items():
        code, number = found[name]
        Path(path).write_text(code, encoding="utf-8")
        print(f"extracted {name} ({code.count(chr(10))} lines, from {page}:{number + 2}) to {path}")


if __name__ == "__main__":
    main(sys.argv)
