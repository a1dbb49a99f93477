"""The vendored browser libraries are the files of the versions package.json pins (checked
offline, as `make web-assets-check` does), and the check sees when they are not."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from leadline.web import assets


def test_the_vendored_files_are_the_pinned_versions() -> None:
    assert assets.problems() == []
    assert assets.main(["check"]) == 0


def test_every_pin_is_exact() -> None:
    for name, version in assets.pins().items():
        assert version[0].isdigit(), f"{name} is pinned to a range: {version}"


@pytest.fixture
def copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The web package's vendored files in a scratch folder, which the check then reads."""
    here, original = tmp_path / "web", assets.HERE
    shutil.copytree(assets.VENDOR, here / "vendor")
    shutil.copytree(assets.STATIC_VENDOR, here / "static" / "vendor")
    monkeypatch.setattr(assets, "HERE", here)
    monkeypatch.setattr(assets, "VENDOR", here / "vendor")
    monkeypatch.setattr(assets, "STATIC_VENDOR", here / "static" / "vendor")
    monkeypatch.setattr(assets, "RECORD", here / "vendor" / "VENDORED")
    monkeypatch.setattr(
        assets,
        "FILES",
        tuple(
            assets.Vendored(item.package, item.source, here / item.target.relative_to(original))
            for item in assets.FILES
        ),
    )
    assert assets.problems() == []
    return here


def test_a_changed_file_is_found(copy: Path) -> None:
    with (copy / "static" / "vendor" / "htmx.min.js").open("a") as script:
        script.write("\n// changed by hand\n")
    assert assets.problems() == [
        "static/vendor/htmx.min.js: differs from what htmx.org@2.0.11 holds"
    ]
    assert assets.main(["check"]) == 1


def test_a_new_pin_without_new_files_is_found(copy: Path) -> None:
    manifest = json.loads((copy / "vendor" / "package.json").read_text())
    manifest["dependencies"]["uplot"] = "1.6.31"
    (copy / "vendor" / "package.json").write_text(json.dumps(manifest))
    found = assets.problems()
    assert "uplot: package.json pins 1.6.31, the lock file has 1.6.32" in found
    assert any("vendored from uplot@1.6.32, but the pin is uplot@1.6.31" in p for p in found)


def test_a_missing_or_stray_file_is_found(copy: Path) -> None:
    (copy / "static" / "vendor" / "uPlot.min.css").unlink()
    (copy / "static" / "vendor" / "extra.js").write_text("alert(1)")
    assert assets.problems() == [
        "static/vendor/uPlot.min.css: missing",
        "static/vendor/extra.js: not from a pinned package",
    ]
