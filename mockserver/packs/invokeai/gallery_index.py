"""The gallery kept in the orders its queries need, so names, pages, board counts and covers are
read off sorted partitions instead of a scan of every image (the real server answers these from
indexed SQLite tables).

Every image sits, by its creation order key `(created_at, seq, name)`, in sixteen sorted
partitions: (all boards | its board) × (any category | its category) × (any | its intermediate
flag) × (any | its star). A query picks one partition per category it asks for and per star group.
`seq` is the image's place in the store's insertion order, which is how today's stable sorts break
ties on `created_at`.

The gallery (`gallery.py`) calls `sync(name, image)` after every write to an image (None:
deleted) and `rebuild` when it loads a whole state; the index keeps its own copy of the fields it
orders by, so a write it was told about moves the image between partitions exactly.
"""

from __future__ import annotations

import bisect
import itertools
import math
import typing as t
from dataclasses import dataclass

from sortedcontainers import SortedList

from mockserver.packs.invokeai.gallery_search import SearchIndex


class _Any:
    """The "whatever it is" position of a partition key (all boards, any category...)."""

    def __repr__(self) -> str:
        return "ANY"


ANY: t.Final = _Any()
Key = tuple[float, int, str]  # (created_at, seq, image name)
IMAGE_CATEGORIES = ("general",)
ASSET_CATEGORIES = ("control", "mask", "user", "other")
MANY_TIES = 64  # tied creation times past which a DESC answer is sorted rather than patched


@dataclass(frozen=True)
class _Entry:
    """What the index knows of one image: enough to find it in every partition."""

    key: Key
    board: str | None
    category: str
    intermediate: bool
    starred: bool
    origin: str
    added: tuple[float, int, str]  # (board_added_at, seq, name): the order inside its board

    def partitions(self) -> t.Iterator[tuple]:
        for scope, category, intermediate, starred in itertools.product(
                (ANY, self.board), (ANY, self.category), (ANY, self.intermediate), (ANY, self.starred)):
            yield scope, category, intermediate, starred


def _entry(image: dict, seq: int) -> _Entry:
    name = image["image_name"]
    created = image["created_at"]
    board = image["board_id"]
    # Uncategorized images keep the store's insertion order, whenever they left their board.
    added = image.get("board_added_at", created) if board is not None else 0.0
    return _Entry((created, seq, name), board, image["image_category"], bool(image["is_intermediate"]),
                  bool(image["starred"]), image["image_origin"], (added, seq, name))


class SortedNames:
    """Records in key order, keys `(..., seq, name)`: the sorted keys (for positions and ranges)
    beside a plain list of the names in the same order, which a query copies at C speed instead of
    walking the keys. The workflow library uses it too."""

    __slots__ = ("keys", "names")

    def __init__(self, keys: list[Key] | None = None) -> None:
        self.keys = SortedList(keys or ())
        self.names = [key[2] for key in self.keys]

    def __len__(self) -> int:
        return len(self.names)

    def add(self, key: Key) -> None:
        at = self.keys.bisect_left(key)
        self.keys.add(key)
        self.names.insert(at, key[2])

    def remove(self, key: Key) -> None:
        at = self.keys.index(key)
        del self.keys[at]
        del self.names[at]


class Selection:
    """A query's answer: runs of names read one after another (starred, then the rest)."""

    def __init__(self, runs: list[list[str]], starred: int) -> None:
        self._runs = runs  # may be a partition's own list: read, never changed
        self.starred = starred  # how many of the answer are starred

    def __len__(self) -> int:
        return sum(len(names) for names in self._runs)

    def names(self) -> list[str]:
        joined: list[str] = []
        for names in self._runs:
            joined += names  # a C-level copy per run
        return joined

    def page(self, offset: int, limit: int) -> list[str]:
        """Names offset..offset+limit, reading only the runs the page falls in."""
        page: list[str] = []
        for names in self._runs:
            if len(page) >= limit:
                break
            if offset >= len(names):
                offset -= len(names)
                continue
            page += names[offset:offset + limit - len(page)]
            offset = 0
        return page


class GalleryIndex:
    """Sorted partitions of the gallery, and a word index for `search_term`."""

    def __init__(self, timestamp: t.Callable[[float], str]) -> None:
        self._timestamp = timestamp  # created_at as the API shows it: search matches it too
        self._entries: dict[str, _Entry] = {}
        self._parts: dict[tuple, SortedNames] = {}
        self._members: dict[str | None, SortedList] = {}  # board (None: uncategorized) → added keys
        self._times: dict[float, int] = {}  # created_at → how many images have it
        self._tied: set[float] = set()  # created_at values shared by more than one image
        self._next_seq = 0
        self.search = SearchIndex()

    # -- writes -----------------------------------------------------------------------------

    def rebuild(self, images: t.Mapping[str, dict]) -> None:
        """Forget everything and index `images` in their insertion order, each partition sorted
        once rather than grown an image at a time."""
        self.__init__(self._timestamp)  # type: ignore[misc]
        parts: dict[tuple, list[Key]] = {}
        members: dict[str | None, list[tuple]] = {}
        for seq, (name, image) in enumerate(images.items()):
            entry = self._entries[name] = _entry(image, seq)
            self.search.add(name, image.get("metadata"), self._timestamp(image["created_at"]))
            for part in entry.partitions():
                parts.setdefault(part, []).append(entry.key)
            members.setdefault(entry.board, []).append(entry.added)
            self._count_time(entry.key[0], +1)
        self._next_seq = len(self._entries)
        self._parts = {part: SortedNames(sorted(keys)) for part, keys in parts.items()}
        self._members = {board: SortedList(keys) for board, keys in members.items()}

    def sync(self, name: str, image: dict | None) -> None:
        """Bring the index in line with `image` as it is now (None: it was deleted)."""
        old = self._entries.get(name)
        if image is None:
            if old is not None:
                self._remove(old)
                del self._entries[name]
                self.search.forget(name)
            return
        if old is None:
            seq, self._next_seq = self._next_seq, self._next_seq + 1
            new = _entry(image, seq)
            self.search.add(name, image.get("metadata"), self._timestamp(image["created_at"]))
        else:
            new = _entry(image, old.key[1])
            if new == old:
                return
            self._remove(old)
        self._entries[name] = new
        self._add(new)

    def _add(self, entry: _Entry) -> None:
        for part in entry.partitions():
            keys = self._parts.get(part)
            if keys is None:
                keys = self._parts[part] = SortedNames()
            keys.add(entry.key)
        self._members.setdefault(entry.board, SortedList()).add(entry.added)
        self._count_time(entry.key[0], +1)

    def _remove(self, entry: _Entry) -> None:
        for part in entry.partitions():
            keys = self._parts[part]
            keys.remove(entry.key)
            if not keys:
                del self._parts[part]
        members = self._members[entry.board]
        members.remove(entry.added)
        if not members:
            del self._members[entry.board]
        self._count_time(entry.key[0], -1)

    def _count_time(self, created: float, step: int) -> None:
        count = self._times.get(created, 0) + step
        if count:
            self._times[created] = count
        else:
            del self._times[created]
        if count > 1:
            self._tied.add(created)
        else:
            self._tied.discard(created)

    # -- reads ------------------------------------------------------------------------------

    def select(self, *, origin: str | None = None, categories: t.Sequence[str] | None = None,
               is_intermediate: bool | None = None, board_id: str | None = None,
               search_term: str | None = None, starred_first: bool = True, order_dir: str = "DESC") -> Selection:
        """The images a gallery query shows, in its order: starred first (when asked), then by
        creation, ties in insertion order either way."""
        scope: t.Any = ANY if board_id is None else None if board_id == "none" else board_id
        wanted: list[t.Any] = [ANY] if categories is None else list(dict.fromkeys(categories))
        intermediate: t.Any = ANY if is_intermediate is None else bool(is_intermediate)
        descending = order_dir == "DESC"
        term = search_term.lower() if search_term else None
        if term is not None or origin is not None:
            return self._filtered(scope, wanted, intermediate, origin, term, starred_first, descending)
        groups = ((True,), (False,)) if starred_first else ((ANY,),)
        runs: list[list[str]] = []
        for group in groups:
            found = [part for star in group for category in wanted
                     if (part := self._parts.get((scope, category, intermediate, star)))]
            if found:
                runs.append(self._ordered(found, descending))
        starred = sum(len(self._parts.get((scope, category, intermediate, True), ())) for category in wanted)
        return Selection(runs, starred)

    def _ordered(self, found: list[SortedNames], descending: bool) -> list[str]:
        """Several partitions' names as one list in the asked order."""
        if len(found) == 1:
            keys: t.Sequence[Key] = found[0].keys
            # A copy when read as is: the answer must not follow later writes to the partition.
            names = found[0].names if descending else found[0].names[:]
        else:
            keys = sorted(itertools.chain.from_iterable(part.keys for part in found))
            names = [key[2] for key in keys]
        return self._arrange(keys, names, descending)

    def _arrange(self, keys: t.Sequence[Key], names: list[str], descending: bool) -> list[str]:
        """Names in ascending key order, in the asked order. DESC keeps images of one creation
        time in insertion order, as a stable sort with reverse=True does: the reversed list with
        each run of tied times turned back."""
        if not descending:
            return names
        if len(self._tied) > MANY_TIES + len(keys) // 16:  # then one sort beats many small turns
            return [key[2] for key in sorted(keys, key=lambda key: (-key[0], key[1]))]
        ordered = names[::-1]
        size = len(keys)
        for created in self._tied:
            low, high = bisect.bisect_left(keys, (created,)), bisect.bisect_left(keys, (created, math.inf))
            if high - low > 1:
                ordered[size - high:size - low] = names[low:high]
        return ordered

    def _filtered(self, scope: t.Any, wanted: list, intermediate: t.Any, origin: str | None, term: str | None,
                  starred_first: bool, descending: bool) -> Selection:
        """A query with a search term or an origin: the candidates (the term's, else the scope's
        partition) checked one by one, then put in order."""
        candidates: t.Iterable[str]
        if term is not None:
            candidates = self.search.matches(term)
        else:
            found = [part for category in wanted if (part := self._parts.get((scope, category, intermediate, ANY)))]
            candidates = [name for part in found for name in part.names]
        groups: dict[bool, list[Key]] = {True: [], False: []}
        categories = None if wanted == [ANY] else set(wanted)
        for name in candidates:
            entry = self._entries.get(name)
            if (entry is None or (origin is not None and entry.origin != origin)
                    or (categories is not None and entry.category not in categories)
                    or (intermediate is not ANY and entry.intermediate != intermediate)
                    or (scope is not ANY and entry.board != scope)):
                continue
            groups[entry.starred and starred_first].append(entry.key)
        runs = []
        for group in (groups[True], groups[False]):
            if group:
                group.sort()
                runs.append(self._arrange(group, [key[2] for key in group], descending))
        return Selection(runs, len(groups[True]) if starred_first else sum(
            self._entries[key[2]].starred for key in groups[False]))

    def board_members(self, board_id: str | None) -> list[str]:
        """A board's image names in the order they joined it; uncategorized ones (None) as created."""
        return [key[2] for key in self._members.get(board_id, ())]

    def board_summary(self, board_id: str) -> tuple[int, int, str | None]:
        """(image count, asset count, cover) over the board's non-intermediate images. The cover
        is its most recent image, starred ones first; of tied times, the first inserted."""
        def count(categories: tuple[str, ...]) -> int:
            return sum(len(self._parts.get((board_id, category, False, ANY), ())) for category in categories)

        cover = None
        for starred in (True, False):
            part = self._parts.get((board_id, ANY, False, starred))
            if part:
                keys = part.keys
                cover = keys[keys.bisect_left((keys[-1][0],))][2]
                break
        return count(IMAGE_CATEGORIES), count(ASSET_CATEGORIES), cover

    def intermediates_count(self) -> int:
        return len(self._parts.get((ANY, ANY, True, ANY), ()))

    def intermediate_names(self) -> list[str]:
        """Intermediate images in insertion order."""
        part = self._parts.get((ANY, ANY, True, ANY))
        return [key[2] for key in sorted(part.keys, key=lambda key: key[1])] if part else []
