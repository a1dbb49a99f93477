"""What a check finds: one line of the report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Level = Literal["ok", "warn", "fail"]


@dataclass(frozen=True, slots=True)
class Finding:
    check: str
    level: Level
    message: str

    def line(self) -> str:
        return f"{self.level:<4} {self.check}: {self.message}"


def ok(check: str, message: str) -> Finding:
    return Finding(check, "ok", message)


def warn(check: str, message: str) -> Finding:
    return Finding(check, "warn", message)


def fail(check: str, message: str) -> Finding:
    return Finding(check, "fail", message)
