"""Bulk downloads: the zip archives `POST /api/v1/images/download` builds and
`GET /api/v1/images/download/{name}` serves, with bounds the real server does not have.

The real server writes each archive to a temporary folder and deletes it once it has been sent; an
archive nobody fetches stays until the server stops. The mock holds archives in memory, so an
unfetched one must not stay forever: at default settings an archive is dropped once fetched (as
there), `ttl_seconds` of engine-clock time after it was made, or when newer archives need the room
(at most `max_archives` of them, `max_bytes` in all). An archive that alone would be larger than
`max_bytes`, or hold more than `max_images`, is not built: the job fails the way a real bulk
download fails, with a `bulk_download_error` event. The limits are the pack's settings
(`PUT /__mock__/packs/invokeai/settings`).
"""

from __future__ import annotations

import collections
import io
import typing as t
import zipfile
from dataclasses import dataclass, fields

MiB = 1024 * 1024


@dataclass
class BulkLimits:
    max_bytes: int = 256 * MiB  # one archive, and every archive held, together
    max_archives: int = 16  # archives held at once (the oldest go first)
    max_images: int = 10000  # images in one archive
    ttl_seconds: float = 3600.0  # engine-clock seconds an unfetched archive is kept

    def as_settings(self) -> dict[str, t.Any]:
        return {f"bulk_download_{field.name}": getattr(self, field.name) for field in fields(self)}

    def update(self, settings: t.Mapping[str, t.Any]) -> None:
        for field in fields(self):
            key = f"bulk_download_{field.name}"
            if key in settings:
                setattr(self, field.name, type(getattr(self, field.name))(settings[key]))


@dataclass
class Archive:
    data: bytes
    expires_at: float


class BulkDownloads:
    """The archives made and not yet fetched, oldest first. Callers hold the store's lock."""

    def __init__(self, limits: BulkLimits | None = None) -> None:
        self.limits = limits or BulkLimits()
        self._archives: collections.OrderedDict[str, Archive] = collections.OrderedDict()

    def refusal(self, entries: t.Sequence[tuple[str, bytes]]) -> str | None:
        """Why an archive of these files would not be built, or None."""
        if len(entries) > self.limits.max_images:
            return f"Bulk download of {len(entries)} images is more than the limit of {self.limits.max_images}"
        size = archive_size(entries)
        if size > self.limits.max_bytes:
            return f"Bulk download of {size} bytes is more than the limit of {self.limits.max_bytes} bytes"
        return None

    def add(self, name: str, data: bytes, now: float) -> None:
        self.expire(now)
        self._archives[name] = Archive(data, now + self.limits.ttl_seconds)
        while len(self._archives) > max(self.limits.max_archives, 1) or self.held_bytes() > self.limits.max_bytes:
            if len(self._archives) == 1:
                break
            self._archives.popitem(last=False)

    def take(self, name: str, now: float) -> bytes | None:
        """The archive, removed: each is served once, as the real server deletes it after sending."""
        self.expire(now)
        archive = self._archives.pop(name, None)
        return None if archive is None else archive.data

    def expire(self, now: float) -> None:
        for name in [name for name, archive in self._archives.items() if archive.expires_at <= now]:
            del self._archives[name]

    def held_bytes(self) -> int:
        return sum(len(archive.data) for archive in self._archives.values())

    def __len__(self) -> int:
        return len(self._archives)

    def __contains__(self, name: object) -> bool:
        return name in self._archives


# A stored zip entry costs its data plus a local header (30 bytes + name) and a central directory
# entry (46 bytes + name); the archive ends with a 22-byte record.
def archive_size(entries: t.Sequence[tuple[str, bytes]]) -> int:
    return 22 + sum(len(data) + 76 + 2 * len(path.encode()) for path, data in entries)


def build_zip(entries: t.Sequence[tuple[str, bytes]]) -> bytes:
    """The archive InvokeAI builds: stored, one folder per image category. Blocking: run it off
    the event loop."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for path, data in entries:
            archive.writestr(path, data)
    return out.getvalue()
