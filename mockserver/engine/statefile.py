"""`--state-file PATH`: the server's state in a SQLite database at PATH, image and file bytes in
content-addressed files in `PATH.blobs/`.

Each record is a row (pack, section, key) holding its JSON; a commit rewrites only the rows whose
bytes changed, and writes (and fsyncs) a blob file before the transaction that first refers to
it. The database runs in WAL mode with `synchronous=FULL`: a commit returns only once its WAL
frames are on disk, so an acknowledged write survives a power cut, not just a killed process
(NORMAL would only survive the latter); group commit spreads that fsync over every request
waiting for it. Blob files nothing refers to any more are removed after the commit that dropped
them, and at start-up (what a crash left behind).

Before this database, the state file was one JSON document (`FORMAT`, still the format of the
control plane's `/__mock__/state`); such a file is loaded once and kept beside as `PATH.v1.json`.
"""

from __future__ import annotations

import collections
import concurrent.futures
import hashlib
import logging
import os
import sqlite3
import tempfile
import threading
import typing as t
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from mockserver.engine import records
from mockserver.engine.records import BLOB, JSON, SectionCapture

log = logging.getLogger("mockserver.state")

FORMAT = "mockserver-state/1"  # the JSON export (control plane, and state files before the database)
DB_FORMAT = "mockserver-state-db/1"
SQLITE_MAGIC = b"SQLite format 3\x00"
_READERS = 4  # threads reading blob files at start-up

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sections (
    pack TEXT NOT NULL, section TEXT NOT NULL, kind TEXT NOT NULL,
    PRIMARY KEY (pack, section)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rows (
    pack TEXT NOT NULL, section TEXT NOT NULL, key TEXT NOT NULL,
    seq INTEGER NOT NULL, kind TEXT NOT NULL, value BLOB NOT NULL,
    PRIMARY KEY (pack, section, key)) WITHOUT ROWID;
"""


class NotAStateFile(ValueError):
    pass


@dataclass
class _Saved:
    """A row as it is on disk. For a blob: `value` is its digest and `blob` the bytes object it
    was made from (kept, so an unchanged image is recognised by identity, not rehashed)."""

    seq: int
    kind: str
    value: bytes
    blob: bytes | None = None


@dataclass
class _SavedSection:
    kind: str
    rows: dict[str, _Saved] = field(default_factory=dict)
    last_seq: int = 0


@dataclass
class CommitStats:
    rows_written: int = 0
    rows_deleted: int = 0
    blobs_written: int = 0
    bytes_written: int = 0


PackCapture = dict[str, SectionCapture]  # section → capture


class StateDatabase:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.blob_dir = self.path.with_name(self.path.name + ".blobs")
        self._blob_root = str(self.blob_dir)
        self._db: sqlite3.Connection | None = None
        self._saved: dict[tuple[str, str], _SavedSection] = {}
        self._references: collections.Counter[str] = collections.Counter()  # blob digest → rows
        self._lock = threading.Lock()  # one commit at a time, and none after close

    # -- opening ------------------------------------------------------------------------------

    def kind(self) -> str | None:
        """"sqlite", "json" (a state file from before the database), or None (no file yet)."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            return None
        with open(self.path, "rb") as handle:
            head = handle.read(len(SQLITE_MAGIC))
        if head == SQLITE_MAGIC:
            return "sqlite"
        if head.lstrip()[:1] == b"{":
            return "json"
        raise NotAStateFile(f"{self.path} is not a mockserver state file "
                            "(neither its SQLite database nor a JSON state export)")

    @property
    def is_open(self) -> bool:
        return self._db is not None

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(_SCHEMA)
            found = db.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
        except sqlite3.DatabaseError as error:
            raise NotAStateFile(f"{self.path} is not a mockserver state file ({error})") from None
        if found is None:
            db.execute("INSERT INTO meta VALUES ('format', ?)", (DB_FORMAT,))
        elif found[0] != DB_FORMAT:
            db.close()
            raise NotAStateFile(f"{self.path} is a state database of another format ({found[0]}, "
                                f"this server reads {DB_FORMAT})")
        self._db = db

    def read(self) -> dict[str, dict[str, t.Any]]:
        """Everything saved: pack → section → value; blobs come back as bytes."""
        assert self._db is not None
        kinds = {(pack, section): kind for pack, section, kind in self._db.execute("SELECT * FROM sections")}
        grouped: dict[tuple[str, str], list[tuple[str, t.Any]]] = {name: [] for name in kinds}
        query = "SELECT pack, section, key, seq, kind, value FROM rows ORDER BY pack, section, seq"
        found = self._db.execute(query).fetchall()
        blobs = self._read_blobs([value.decode() for *_, kind, value in found if kind == BLOB])
        for pack, section, key, seq, kind, value in found:
            saved = self._saved.setdefault((pack, section), _SavedSection(kinds.get((pack, section), "rows")))
            if kind == BLOB:
                digest = value.decode()
                blob = blobs[digest]
                saved.rows[key] = _Saved(seq, BLOB, value, blob)
                self._references[digest] += 1
                grouped.setdefault((pack, section), []).append((key, blob))
            else:
                saved.rows[key] = _Saved(seq, JSON, value)
                grouped.setdefault((pack, section), []).append((key, records.parse(value)))
            saved.last_seq = max(saved.last_seq, seq)
        state: dict[str, dict[str, t.Any]] = {}
        for (pack, section), rows in grouped.items():
            state.setdefault(pack, {})[section] = records.rebuild(kinds.get((pack, section), "rows"), rows)
        return state

    def remove_unreferenced_blobs(self) -> int:
        """Blob files no row refers to: written for a commit that never happened, or dropped by
        one whose clean-up a crash cut short."""
        removed = 0
        if not self.blob_dir.exists():
            return 0
        for group in os.scandir(self.blob_dir):
            if not group.is_dir():
                continue
            for entry in os.scandir(group.path):
                if entry.name not in self._references:
                    os.unlink(entry.path)
                    removed += 1
        return removed

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                try:
                    self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                finally:
                    self._db.close()
                    self._db = None

    # -- writing ------------------------------------------------------------------------------

    def write(self, captures: dict[str, PackCapture], complete: t.Collection[str] = ()) -> CommitStats:
        """Make the database hold `captures` (pack → sections; packs not named keep their rows).
        A pack in `complete` was captured whole: its sections not captured are gone."""
        with self._lock:
            if self._db is None:
                raise RuntimeError("the state database is closed")
            stats = CommitStats()
            plan = [self._plan(pack, name, section) for pack, sections in captures.items()
                    for name, section in sections.items()]
            plan += self._dropped_sections({pack: captures[pack] for pack in complete if pack in captures})
            directories = {self._store_blob(row) for entry in plan for row in entry.writes if row.saved.kind == BLOB}
            for directory in directories - {None}:
                _fsync_directory(t.cast(Path, directory))
            self._transact(plan, stats)
            self._after_commit(plan)
            return stats

    def _plan(self, pack: str, name: str, capture: SectionCapture) -> "_Plan":
        saved = self._saved.get((pack, name)) or _SavedSection(capture.kind)
        plan = _Plan(pack, name, capture.kind, partial=capture.partial,
                     kind_changed=saved.kind != capture.kind or not saved.rows)
        last, top = 0, saved.last_seq
        for row in capture.rows:
            before = saved.rows.get(row.key)
            if before is not None and (capture.partial or before.seq > last):
                seq = before.seq  # a changed record keeps its place, as in a dict
            else:
                top += 1
                seq = top
            last = seq
            value, blob = (row.payload, None) if row.kind == JSON else _digest_of(row.payload, before)
            new = _Saved(seq, row.kind, value, blob)
            plan.rows[row.key] = new
            if before is None or (before.seq, before.kind, before.value) != (seq, row.kind, value):
                plan.writes.append(_Write(row.key, new, row.payload if row.kind == BLOB else None))
        if capture.partial:
            plan.deletes = [key for key in capture.removed if key in saved.rows]
        else:
            for key in capture.unstorable:
                if key in saved.rows:
                    plan.rows[key] = saved.rows[key]
            plan.deletes = [key for key in saved.rows if key not in plan.rows]
        plan.last_seq = max(top, saved.last_seq)
        return plan

    def _dropped_sections(self, captures: dict[str, PackCapture]) -> list["_Plan"]:
        """Sections of a captured pack that its store no longer has."""
        dropped = []
        for (pack, name), saved in self._saved.items():
            if pack in captures and name not in captures[pack]:
                plan = _Plan(pack, name, saved.kind, dropped=True)
                plan.deletes = list(saved.rows)
                dropped.append(plan)
        return dropped

    def _store_blob(self, write: "_Write") -> Path | None:
        """Write a blob's file (fsynced) unless it exists; returns the directory to fsync."""
        digest = write.saved.value.decode()
        path = self._blob_path(digest)
        if path.exists():
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(t.cast(bytes, write.payload))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return path.parent

    def _transact(self, plan: list["_Plan"], stats: CommitStats) -> None:
        db = t.cast(sqlite3.Connection, self._db)
        db.execute("BEGIN IMMEDIATE")
        try:
            for entry in plan:
                if entry.dropped:
                    db.execute("DELETE FROM rows WHERE pack = ? AND section = ?", (entry.pack, entry.section))
                    db.execute("DELETE FROM sections WHERE pack = ? AND section = ?", (entry.pack, entry.section))
                    stats.rows_deleted += len(entry.deletes)
                    continue
                if entry.kind_changed:
                    db.execute("INSERT OR REPLACE INTO sections VALUES (?, ?, ?)", (entry.pack, entry.section, entry.kind))
                db.executemany("INSERT OR REPLACE INTO rows VALUES (?, ?, ?, ?, ?, ?)",
                               [(entry.pack, entry.section, w.key, w.saved.seq, w.saved.kind, w.saved.value)
                                for w in entry.writes])
                db.executemany("DELETE FROM rows WHERE pack = ? AND section = ? AND key = ?",
                               [(entry.pack, entry.section, key) for key in entry.deletes])
                stats.rows_written += len(entry.writes)
                stats.rows_deleted += len(entry.deletes)
                stats.blobs_written += sum(w.saved.kind == BLOB for w in entry.writes)
                stats.bytes_written += sum(len(w.payload or w.saved.value) for w in entry.writes)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _after_commit(self, plan: list["_Plan"]) -> None:
        """Remember what is on disk now, and remove blob files nothing refers to any more."""
        released: list[_Saved] = []
        for entry in plan:
            key = (entry.pack, entry.section)
            saved = self._saved.get(key)
            if entry.dropped:
                self._saved.pop(key, None)
                released += saved.rows.values() if saved is not None else []
                continue
            if saved is None or not entry.partial:
                released += saved.rows.values() if saved is not None else []
                saved = self._saved[key] = _SavedSection(entry.kind, {}, entry.last_seq)
                replaced = entry.rows
            else:
                replaced = entry.rows
                released += [saved.rows[k] for k in [*entry.rows, *entry.deletes] if k in saved.rows]
                for gone in entry.deletes:
                    saved.rows.pop(gone, None)
            saved.kind, saved.last_seq = entry.kind, entry.last_seq
            saved.rows.update(replaced)
            for row in replaced.values():
                if row.kind == BLOB:
                    self._references[row.value.decode()] += 1
        for row in released:
            if row.kind != BLOB:
                continue
            digest = row.value.decode()
            self._references[digest] -= 1
            if self._references[digest] <= 0:
                del self._references[digest]
                self._blob_path(digest).unlink(missing_ok=True)

    # -- blobs --------------------------------------------------------------------------------

    def _blob_path(self, digest: str) -> Path:
        return self.blob_dir / digest[:2] / digest

    def _read_blobs(self, digests: list[str]) -> dict[str, bytes]:
        """Every blob file, read by a few threads at once (reading releases the interpreter)."""
        unique = list(dict.fromkeys(digests))
        if not unique:
            return {}
        def read_all(digests: list[str]) -> list[bytes]:
            return [self._read_blob(digest) for digest in digests]

        share = -(-len(unique) // _READERS)
        parts = [unique[start:start + share] for start in range(0, len(unique), share)]
        with concurrent.futures.ThreadPoolExecutor(len(parts), thread_name_prefix="mockserver-blobs") as pool:
            return dict(zip(unique, (blob for part in pool.map(read_all, parts) for blob in part), strict=True))

    def _read_blob(self, digest: str) -> bytes:
        path = os.path.join(self._blob_root, digest[:2], digest)
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            raise NotAStateFile(f"{self.path}: the file of blob {digest} is missing from {self.blob_dir}") from None
        try:
            size = os.fstat(fd).st_size
            chunks = []
            while size > 0:
                chunk = os.read(fd, size)
                if not chunk:
                    break
                chunks.append(chunk)
                size -= len(chunk)
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
        finally:
            os.close(fd)


@dataclass
class _Write:
    key: str
    saved: _Saved
    payload: bytes | None  # a blob's bytes


@dataclass
class _Plan:
    pack: str
    section: str
    kind: str
    kind_changed: bool = False
    dropped: bool = False
    partial: bool = False  # `rows` holds only the changed rows; the others stay as they are
    rows: dict[str, _Saved] = field(default_factory=dict)
    writes: list[_Write] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)
    last_seq: int = 0


def _digest_of(payload: bytes, before: _Saved | None) -> tuple[bytes, bytes]:
    if before is not None and before.blob is payload:
        return before.value, payload  # the very object saved last time: bytes never change
    return hashlib.sha256(payload).hexdigest().encode(), payload


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_json(path: Path) -> dict[str, t.Any]:
    """A state file from before the database (or any JSON export)."""
    try:
        data = orjson.loads(Path(path).read_bytes())
    except orjson.JSONDecodeError as error:
        raise NotAStateFile(f"{path} is not a mockserver state file (not JSON: {error})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise NotAStateFile(f"{path} is not a mockserver state file (expected format {FORMAT})")
    return data

