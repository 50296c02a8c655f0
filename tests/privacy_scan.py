"""Scan everything the bot left behind for full Aadhaar numbers and OTPs.

    report = scan_for_secrets(
        numbers=numbers_used,
        otps=otps_sent,
        postgres_urls=[database_url],    # each dumped whole with pg_dump
        sqlite_paths=[world.database],   # the file, its -wal and -shm, as raw bytes
        logs={"kycbot-run-1": text},     # log texts by name
    )
    print(report.summary())              # "privacy scan: 62 values ... 0 hits"
    assert report.clean, report.summary()

A number is looked for plain ("234567890123"), spaced and dashed in groups of four, and as the
hex of its ASCII digits (how pg_dump prints a bytea column holding it in clear), anywhere: twelve
given digits do not turn up by chance. An OTP is six digits, which do: it counts only where it
stands alone, not inside a longer run of letters and digits (hex, ids) nor as a timestamp's
fraction ("12:30:01.482915"); its 12-digit hex spelling counts anywhere. An SQLite file is read
twice: its raw bytes and those of its -wal and -shm (where deleted rows may linger), and its
rows as `iterdump` prints them, where fields do not run into each other as in the raw pages.
A hit names the source and the masked number (or "an OTP"), never the value itself.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
from collections.abc import Iterable, Mapping
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import make_url

from tests.scenario_tools import masked, sqlite_files

__all__ = ["Hit", "PrivacyReport", "pg_dump", "scan_for_secrets"]

# Not inside a run of letters and digits, nor after "hh:mm:ss." (a timestamp's fraction).
_ALONE_BEFORE = rb"(?<![0-9A-Za-z])(?<!\d\d:\d\d:\d\d\.)"
_ALONE_AFTER = rb"(?![0-9A-Za-z])"


@dataclass(frozen=True)
class Hit:
    """One secret found somewhere: where, and which (masked) value."""

    source: str
    what: str  # "Aadhaar XXXX XXXX 1234 (spaced)" or "an OTP"

    def __str__(self) -> str:
        return f"{self.source}: {self.what}"


@dataclass(frozen=True)
class PrivacyReport:
    """What was scanned for what, and every hit."""

    numbers_checked: int
    otps_checked: int
    sources: tuple[str, ...]
    bytes_scanned: int
    hits: tuple[Hit, ...]

    @property
    def values_checked(self) -> int:
        """How many distinct secrets were looked for."""
        return self.numbers_checked + self.otps_checked

    @property
    def clean(self) -> bool:
        """Whether nothing was found."""
        return not self.hits

    def summary(self) -> str:
        """One line for the test output, then one line per hit."""
        head = (
            f"privacy scan: {self.values_checked} values ({self.numbers_checked} Aadhaar "
            f"numbers, {self.otps_checked} OTPs) in {len(self.sources)} sources "
            f"({self.bytes_scanned:,} bytes: {', '.join(self.sources)}): {len(self.hits)} hits"
        )
        return "\n".join([head, *(f"  {hit}" for hit in self.hits)])


def pg_dump(url: str) -> bytes:
    """The whole database at `url` (a SQLAlchemy URL), schema and data, as pg_dump prints it."""
    parsed = make_url(url)
    command = ["pg_dump", "--no-owner", "--no-privileges", "--dbname", parsed.database or ""]
    if parsed.host:
        command += ["--host", parsed.host]
    if parsed.port:
        command += ["--port", str(parsed.port)]
    if parsed.username:
        command += ["--username", parsed.username]
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = parsed.password
    done = subprocess.run(command, capture_output=True, env=env, check=False, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"pg_dump failed ({done.returncode}): {done.stderr.decode()[-500:]}")
    return done.stdout


def _number_patterns(number: str) -> dict[str, re.Pattern[bytes]]:
    groups = (number[:4], number[4:8], number[8:])
    spellings = {
        "plain": number,
        "spaced": " ".join(groups),
        "dashed": "-".join(groups),
        "hex": number.encode().hex(),
    }
    return {name: re.compile(re.escape(text.encode())) for name, text in spellings.items()}


def _otp_patterns(otp: str) -> dict[str, re.Pattern[bytes]]:
    return {
        "plain": re.compile(_ALONE_BEFORE + re.escape(otp.encode()) + _ALONE_AFTER),
        "hex": re.compile(otp.encode().hex().encode()),
    }


def _sqlite_rows(path: Path) -> bytes:
    """The database's schema and rows as SQL text (read-only: the file is left as it is)."""
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
        return "\n".join(connection.iterdump()).encode("utf-8", errors="replace")


def scan_for_secrets(
    *,
    numbers: Iterable[str],
    otps: Iterable[str],
    postgres_urls: Iterable[str] = (),
    sqlite_paths: Iterable[Path] = (),
    logs: Mapping[str, str] | None = None,
) -> PrivacyReport:
    """Look for every number and OTP in the dumps, the SQLite files and the logs."""
    blobs: dict[str, bytes] = {}
    for url in postgres_urls:
        blobs[f"pg_dump {make_url(url).database}"] = pg_dump(url)
    for path in sqlite_paths:
        for part in sqlite_files(Path(path)):
            if part.exists():
                blobs[part.name] = part.read_bytes()
        if Path(path).exists():
            blobs[f"{Path(path).name} rows"] = _sqlite_rows(Path(path))
    for name, text in (logs or {}).items():
        blobs[name] = text.encode("utf-8", errors="replace")
    distinct_numbers, distinct_otps = sorted(set(numbers)), sorted(set(otps))
    hits: list[Hit] = []
    for number in distinct_numbers:
        for spelling, pattern in _number_patterns(number).items():
            hits += [
                Hit(source, f"Aadhaar {masked(number)} ({spelling})")
                for source, blob in blobs.items()
                if pattern.search(blob)
            ]
    for otp in distinct_otps:
        for spelling, pattern in _otp_patterns(otp).items():
            hits += [
                Hit(source, f"an OTP ({spelling})")
                for source, blob in blobs.items()
                if pattern.search(blob)
            ]
    return PrivacyReport(
        numbers_checked=len(distinct_numbers),
        otps_checked=len(distinct_otps),
        sources=tuple(blobs),
        bytes_scanned=sum(len(blob) for blob in blobs.values()),
        hits=tuple(hits),
    )
