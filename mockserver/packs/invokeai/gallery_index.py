"""The gallery kept in the orders its queries need, so names, pages, board counts and covers are
read off sorted partitions instead of a scan of every image (the real server answers these from
indexed SQLite tables).

Every image sits, by its creation order key `(created_at, seq, name)`, in sixteen sorted
partitions: (all boards | its board) × (any category | its category) × (any | its intermediate
flag) × (any | its star). A query picks one partition per category it asks for and per star group.
`seq` is the image's place in the store's insertion order, which is how today's stable sorts break
ties on `created_at`.

The store calls `sync(name, image)` after every write to an image (None: deleted) and `rebuild`
when it loads a whole state; the index keeps its own copy of the fields it orders by, so a write
it was told about moves the image between partitions exactly.
"""

from __future__ import annotations

import itertools
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


class Selection:
    """A query's answer as runs of keys to be read one after another (a run may be a whole
    partition, read backwards for DESC), so a page or a count does not copy the whole list."""

    def __init__(self, runs: list[tuple[t.Sequence[Key], bool]], starred: int) -> None:
        self._runs = runs  # (keys ascending, read reversed?)
        self.starred = starred  # how many of the answer are starred

    def __len__(self) -> int:
        return sum(len(keys) for keys, _ in self._runs)

    def names(self) -> list[str]:
        names: list[str] = []
        for keys, backwards in self._runs:
            names.extend(key[2] for key in (reversed(keys) if backwards else keys))
        return names

    def page(self, offset: int, limit: int) -> list[str]:
        """Names offset..offset+limit, reading only the runs the page falls in."""
        names: list[str] = []
        for keys, backwards in self._runs:
            if limit <= 0:
                break
            size = len(keys)
            if offset >= size:
                offset -= size
                continue
            end = min(size, offset + limit)
            if backwards:
                chunk = list(keys[size - end:size - offset])
                chunk.reverse()
            else:
                chunk = list(keys[offset:end])
            names.extend(key[2] for key in chunk)
            limit -= end - offset
            offset = 0
        return names


class GalleryIndex:
    """Sorted partitions of the gallery, and a word index for `search_term`."""

    def __init__(self, timestamp: t.Callable[[float], str]) -> None:
        self._timestamp = timestamp  # created_at as the API shows it: search matches it too
        self._entries: dict[str, _Entry] = {}
        self._parts: dict[tuple, SortedList] = {}
        self._members: dict[str | None, SortedList] = {}  # board (None: uncategorized) → added keys
        self._times: dict[float, int] = {}  # created_at → how many images have it
        self._ties = 0  # created_at values shared by more than one image
        self._next_seq = 0
        self.search = SearchIndex()

    # -- writes -----------------------------------------------------------------------------

    def rebuild(self, images: t.Mapping[str, dict]) -> None:
        """Forget everything and index `images` in their insertion order."""
        self.__init__(self._timestamp)  # type: ignore[misc]
        for name, image in images.items():
            self.sync(name, image)

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
                keys = self._parts[part] = SortedList()
            keys.add(entry.key)
        self._members.setdefault(entry.board, SortedList()).add(entry.added)
        count = self._times.get(entry.key[0], 0) + 1
        self._times[entry.key[0]] = count
        self._ties += count == 2

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
        count = self._times[entry.key[0]] - 1
        self._ties -= count == 1
        if count:
            self._times[entry.key[0]] = count
        else:
            del self._times[entry.key[0]]

    # -- reads ------------------------------------------------------------------------------

    def select(self, *, origin: str | None = None, categories: t.Sequence[str] | None = None,
               is_intermediate: bool | None = None, board_id: str | None = None,
               search_term: str | None = None, starred_first: bool = True, order_dir: str = "DESC") -> Selection:
        """The images a gallery query shows, in its order: starred first (when asked), then by
        creation, ties in insertion order either way."""
        scope: t.Any = ANY if board_id is None else None if board_id == "none" else board_id
        wanted = [ANY] if categories is None else list(dict.fromkeys(categories))
        intermediate: t.Any = ANY if is_intermediate is None else bool(is_intermediate)
        descending = order_dir == "DESC"
        term = search_term.lower() if search_term else None
        if term is not None or origin is not None:
            return self._filtered(scope, wanted, intermediate, origin, term, starred_first, descending)
        groups = ((True,), (False,)) if starred_first else ((ANY,),)
        runs: list[tuple[t.Sequence[Key], bool]] = []
        for group in groups:
            found = [keys for star in group for category in wanted
                     if (keys := self._parts.get((scope, category, intermediate, star)))]
            runs.extend(self._ordered(found, descending))
        starred = sum(len(self._parts.get((scope, category, intermediate, True), ())) for category in wanted)
        return Selection(runs, starred)

    def _ordered(self, found: list[SortedList], descending: bool) -> list[tuple[t.Sequence[Key], bool]]:
        """Several partitions' keys as one run in the asked order."""
        if not found:
            return []
        if len(found) == 1 and (not descending or not self._ties):
            return [(found[0], descending)]
        keys: list[Key] = list(found[0]) if len(found) == 1 else sorted(itertools.chain(*found))
        return [(self._arrange(keys, descending), False)]

    def _arrange(self, keys: list[Key], descending: bool) -> list[Key]:
        """Ascending keys in the asked order; DESC keeps tied images in insertion order, as a
        stable sort with reverse=True does."""
        if not descending:
            return keys
        if self._ties:
            return sorted(keys, key=lambda key: (-key[0], key[1]))
        keys.reverse()
        return keys

    def _filtered(self, scope: t.Any, wanted: list, intermediate: t.Any, origin: str | None, term: str | None,
                  starred_first: bool, descending: bool) -> Selection:
        """A query with a search term or an origin: the candidates (the term's, else the scope's
        partition) checked one by one, then put in order."""
        candidates: t.Iterable[str]
        if term is not None:
            candidates = self.search.matches(term)
        else:
            found = [keys for category in wanted if (keys := self._parts.get((scope, category, intermediate, ANY)))]
            candidates = [key[2] for keys in found for key in keys]
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
                runs.append((self._arrange(group, descending), False))
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
            keys = self._parts.get((board_id, ANY, False, starred))
            if keys:
                cover = keys[keys.bisect_left((keys[-1][0],))][2]
                break
        return count(IMAGE_CATEGORIES), count(ASSET_CATEGORIES), cover

    def intermediates_count(self) -> int:
        return len(self._parts.get((ANY, ANY, True, ANY), ()))

    def intermediate_names(self) -> list[str]:
        """Intermediate images in insertion order."""
        keys = self._parts.get((ANY, ANY, True, ANY), ())
        return [key[2] for key in sorted(keys, key=lambda key: key[1])]
