"""The gallery's `search_term` by a word index, answering exactly what InvokeAI's
`metadata LIKE '%term%' OR created_at LIKE '%term%'` (case-insensitive) answers.

Each image's lowercased metadata and creation time are cut into words (maximal `\\w+` runs), and
each word lists the images it occurs in. A term made of one word occurs in a text exactly when
some word of that text contains it, so the words containing the term (found by a substring search
over the vocabulary, kept as a few joined strings) give the answer outright. A term with other
characters (spaces, quotes...) gets the candidates of its longest word, each then checked against
its text as before. Terms without a word of three characters (`a`, `-`) check every image.
"""

from __future__ import annotations

import re
import typing as t

_WORDS = re.compile(r"\w+")
_CHUNK = 4096  # vocabulary words per joined string
_SHORTEST = 3  # shorter words match too much of the vocabulary to be worth looking up


class SearchIndex:
    def __init__(self) -> None:
        self._texts: dict[str, tuple[int, str, str, int]] = {}  # name → (seq, metadata, created_at, words)
        self._names: dict[int, str] = {}  # live seq → name; postings keep dead seqs until compaction
        self._postings: dict[str, list[int]] = {}  # word → seqs of the images holding it
        self._vocabulary: list[list[str]] = []  # words in the order first seen, in chunks
        self._joined: list[str | None] = []  # each chunk as "\nword\nword\n", made when searched
        self._next_seq = 0
        self._live = 0  # postings of live images
        self._dead = 0  # postings of deleted images, dropped by compaction

    def add(self, name: str, metadata: str | None, created: str) -> None:
        seq, self._next_seq = self._next_seq, self._next_seq + 1
        metadata = metadata or ""
        words = set(_WORDS.findall(metadata.lower()))
        words.update(_WORDS.findall(created))
        self._texts[name] = (seq, metadata, created, len(words))
        self._names[seq] = name
        for word in words:
            postings = self._postings.get(word)
            if postings is None:
                postings = self._postings[word] = []
                self._remember(word)
            postings.append(seq)
        self._live += len(words)

    def _remember(self, word: str) -> None:
        if not self._vocabulary or len(self._vocabulary[-1]) >= _CHUNK:
            self._vocabulary.append([])
            self._joined.append(None)
        self._vocabulary[-1].append(word)
        self._joined[-1] = None

    def forget(self, name: str) -> None:
        entry = self._texts.pop(name, None)
        if entry is None:
            return
        seq, _, _, words = entry
        del self._names[seq]
        self._live -= words
        self._dead += words
        if self._dead > max(self._live, 100_000):
            self._compact()

    def _compact(self) -> None:
        """Drop deleted images from the postings, and words no live image has."""
        live = self._names
        postings = {word: kept for word, seqs in self._postings.items() if (kept := [s for s in seqs if s in live])}
        self._postings = {}
        self._vocabulary, self._joined = [], []
        for word, seqs in postings.items():
            self._postings[word] = seqs
            self._remember(word)
        self._dead = 0

    def matches(self, term: str) -> list[str]:
        """The names of the images whose metadata or creation time contains `term` (lowercased)."""
        words = _WORDS.findall(term)
        longest = max(words, key=len) if words else ""
        if len(longest) < _SHORTEST:
            return [name for name, (_, metadata, created, _) in self._texts.items()
                    if term in metadata.lower() or term in created]
        seqs: set[int] = set()
        for word in self._words_containing(longest):
            seqs.update(self._postings[word])
        names = [name for seq in seqs if (name := self._names.get(seq)) is not None]
        if _WORDS.fullmatch(term):
            return names
        return [name for name in names if self._contains(name, term)]

    def _contains(self, name: str, term: str) -> bool:
        _, metadata, created, _ = self._texts[name]
        return term in metadata.lower() or term in created

    def _words_containing(self, part: str) -> t.Iterator[str]:
        for index, words in enumerate(self._vocabulary):
            text = self._joined[index]
            if text is None:
                text = self._joined[index] = "\n" + "\n".join(words) + "\n"
            at = text.find(part)
            while at != -1:
                start = text.rfind("\n", 0, at) + 1
                end = text.find("\n", at)
                yield text[start:end]
                at = text.find(part, end)
