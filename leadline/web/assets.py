"""The dashboard's vendored browser libraries: copied from npm packages pinned in
``vendor/package.json`` by ``make web-assets``, and checked offline by ``make web-assets-check``.

``vendor/VENDORED`` records, for every copied file, its package, the version it came from and
its SHA-256. The check fails when a pin in package.json, the lock file and that record disagree,
when a file differs from its recorded digest, or when a file is missing or unrecorded.

    python -m leadline.web.assets record NODE_MODULES   # after npm install (make web-assets)
    python -m leadline.web.assets check
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENDOR = HERE / "vendor"
STATIC_VENDOR = HERE / "static" / "vendor"
RECORD = VENDOR / "VENDORED"


@dataclass(frozen=True)
class Vendored:
    package: str
    source: str  # the file's path inside the package
    target: Path  # where it is copied


FILES = (
    Vendored("htmx.org", "dist/htmx.min.js", STATIC_VENDOR / "htmx.min.js"),
    Vendored("htmx.org", "LICENSE", STATIC_VENDOR / "htmx.LICENSE.txt"),
    Vendored("uplot", "dist/uPlot.iife.min.js", STATIC_VENDOR / "uPlot.iife.min.js"),
    Vendored("uplot", "dist/uPlot.min.css", STATIC_VENDOR / "uPlot.min.css"),
    Vendored("uplot", "LICENSE", STATIC_VENDOR / "uPlot.LICENSE.txt"),
    # For the accessibility tests only: never served, never packaged.
    Vendored("axe-core", "axe.min.js", VENDOR / "axe.min.js"),
)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pins() -> dict[str, str]:
    """Every package's exact version, as package.json pins it."""
    manifest = json.loads((VENDOR / "package.json").read_text())
    return {**manifest.get("dependencies", {}), **manifest.get("devDependencies", {})}


def locked() -> dict[str, str]:
    """Every pinned package's version in the lock file."""
    lock = json.loads((VENDOR / "package-lock.json").read_text())
    packages = lock.get("packages", {})
    return {name: packages.get(f"node_modules/{name}", {}).get("version", "") for name in pins()}


def _relative(path: Path) -> str:
    return path.relative_to(HERE).as_posix()


def record(node_modules: Path) -> None:
    """Copy every file from freshly installed packages and write down what was copied."""
    lines = []
    for item in FILES:
        package = node_modules / item.package
        version = json.loads((package / "package.json").read_text())["version"]
        if version != pins()[item.package]:
            raise SystemExit(
                f"{item.package} installed at {version}, pinned at {pins()[item.package]}"
            )
        item.target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(package / item.source, item.target)
        lines.append(f"{sha256(item.target)}  {_relative(item.target)}  {item.package}@{version}")
    RECORD.write_text(
        "# Written by `make web-assets`: sha256, file, the package version it came from.\n"
        + "\n".join(lines)
        + "\n"
    )


def problems() -> list[str]:
    """What is wrong with the vendored files; nothing when they are what the pins give."""
    found: list[str] = []
    pinned, in_lock = pins(), locked()
    for name, version in pinned.items():
        if in_lock.get(name) != version:
            found.append(
                f"{name}: package.json pins {version}, the lock file has {in_lock.get(name)}"
            )
    recorded: dict[str, tuple[str, str]] = {}
    for line in RECORD.read_text().splitlines():
        if line and not line.startswith("#"):
            digest, path, origin = line.split()
            recorded[path] = (digest, origin)
    for item in FILES:
        path = _relative(item.target)
        if path not in recorded:
            found.append(f"{path}: not recorded in {_relative(RECORD)}")
            continue
        digest, origin = recorded.pop(path)
        wanted = f"{item.package}@{pinned[item.package]}"
        if origin != wanted:
            found.append(f"{path}: vendored from {origin}, but the pin is {wanted}")
        if not item.target.exists():
            found.append(f"{path}: missing")
        elif sha256(item.target) != digest:
            found.append(f"{path}: differs from what {origin} holds")
    found.extend(f"{path}: recorded but not vendored any more" for path in recorded)
    expected = {item.target for item in FILES}
    found.extend(
        f"{_relative(path)}: not from a pinned package"
        for path in sorted(STATIC_VENDOR.iterdir())
        if path not in expected
    )
    return found


def main(argv: list[str]) -> int:
    if argv[:1] == ["record"] and len(argv) == 2:
        record(Path(argv[1]))
        print(f"vendored {len(FILES)} files; recorded in {_relative(RECORD)}")
        return 0
    if argv == ["check"]:
        wrong = problems()
        for problem in wrong:
            print(problem, file=sys.stderr)
        if wrong:
            print(
                "the vendored files are not what the pins give: run make web-assets",
                file=sys.stderr,
            )
            return 1
        print("the dashboard's vendored files match their pinned versions")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
