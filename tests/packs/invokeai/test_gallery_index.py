"""The gallery index answers every gallery query exactly as a scan of every image does (the code
the store ran before the index), over random sequences of writes: adds with tied times, stars,
moves between boards, category and intermediate changes, deletions and whole-state reloads."""

from __future__ import annotations

import typing as t

from hypothesis import given, settings
from hypothesis import strategies as st

from mockserver.packs.invokeai import gallery_index
from mockserver.packs.invokeai.gallery_index import ASSET_CATEGORIES, IMAGE_CATEGORIES, GalleryIndex
from mockserver.packs.invokeai.runtime import timestamp

CATEGORIES = ("general", "control", "mask", "user", "other")
BOARDS = (None, "b1", "b2")
WORDS = ("cat", "Catalog", "dog", "a", "sunset", "x1", "héllo", '"seed": 42', "2026-11", "-", " ")
TIMES = (1_790_000_000.0, 1_790_000_000.5, 1_790_000_001.25, 1_790_003_600.0)


# -- the oracle: a scan of every image, as the store answered before the index ------------------


def scan_select(images: dict[str, dict], *, origin: str | None = None, categories: t.Sequence[str] | None = None,
                is_intermediate: bool | None = None, board_id: str | None = None, search_term: str | None = None,
                starred_first: bool = True, order_dir: str = "DESC") -> list[str]:
    rows = []
    term = search_term.lower() if search_term else None
    for image in images.values():
        if origin is not None and image["image_origin"] != origin:
            continue
        if categories is not None and image["image_category"] not in categories:
            continue
        if is_intermediate is not None and image["is_intermediate"] != is_intermediate:
            continue
        if board_id == "none" and image["board_id"] is not None:
            continue
        if board_id not in (None, "none") and image["board_id"] != board_id:
            continue
        if term and term not in (image["metadata"] or "").lower() and term not in timestamp(image["created_at"]):
            continue
        rows.append(image)
    rows.sort(key=lambda image: image["created_at"], reverse=order_dir == "DESC")
    if starred_first:
        rows.sort(key=lambda image: not image["starred"])
    return [image["image_name"] for image in rows]


def scan_board_members(images: dict[str, dict], board_id: str | None) -> list[str]:
    if board_id is None:
        return [name for name, image in images.items() if image["board_id"] is None]
    rows = [image for image in images.values() if image["board_id"] == board_id]
    return [image["image_name"] for image in sorted(rows, key=lambda image: image["board_added_at"])]


def scan_board_summary(images: dict[str, dict], board_id: str) -> tuple[int, int, str | None]:
    rows = [image for image in images.values() if image["board_id"] == board_id and not image["is_intermediate"]]
    cover = max(rows, key=lambda image: (image["starred"], image["created_at"]))["image_name"] if rows else None
    return (sum(image["image_category"] in IMAGE_CATEGORIES for image in rows),
            sum(image["image_category"] in ASSET_CATEGORIES for image in rows), cover)


# -- random worlds ------------------------------------------------------------------------------

metadata = st.one_of(st.none(), st.lists(st.sampled_from(WORDS), max_size=6).map(
    lambda words: '{"prompt": "' + " ".join(words) + '"}'))
new_image = st.fixed_dictionaries({
    "created_at": st.sampled_from(TIMES), "board_id": st.sampled_from(BOARDS),
    "image_category": st.sampled_from(CATEGORIES), "is_intermediate": st.booleans(), "starred": st.booleans(),
    "image_origin": st.sampled_from(("internal", "external")), "metadata": metadata,
    "board_added_at": st.sampled_from(TIMES)})
operation = st.one_of(
    st.tuples(st.just("add"), new_image),
    st.tuples(st.just("star"), st.integers(0, 30), st.booleans()),
    st.tuples(st.just("move"), st.integers(0, 30), st.sampled_from(BOARDS), st.sampled_from(TIMES)),
    st.tuples(st.just("category"), st.integers(0, 30), st.sampled_from(CATEGORIES)),
    st.tuples(st.just("intermediate"), st.integers(0, 30), st.booleans()),
    st.tuples(st.just("delete"), st.integers(0, 30)),
    st.tuples(st.just("reload"),),
)
query = st.fixed_dictionaries({}, optional={
    "origin": st.sampled_from(("internal", "external")),
    "categories": st.lists(st.sampled_from(CATEGORIES), max_size=3),
    "is_intermediate": st.booleans(), "board_id": st.sampled_from(("none", "b1", "b2", "b3")),
    "search_term": st.sampled_from(("", "cat", "CAT", "atal", "sunset", "a", "héllo", "seed", '"seed": 4',
                                    "2026", ":00:0", "x1", "t s", "-", "zzz", "cat dog",
                                    "dog sunset", "catalog\"", "héllo cat")),
    "starred_first": st.booleans(), "order_dir": st.sampled_from(("ASC", "DESC"))})


def play(operations: list[tuple]) -> tuple[dict[str, dict], GalleryIndex]:
    images: dict[str, dict] = {}
    index = GalleryIndex(timestamp)
    for number, (kind, *args) in enumerate(operations):
        names = list(images)
        if kind == "add":
            name = f"image-{number}.png"
            images[name] = {"image_name": name, **args[0]}
            index.sync(name, images[name])
        elif kind == "reload":
            images = dict(images)
            index.rebuild(images)
        elif names:
            name = names[args[0] % len(names)]
            image = images[name]
            if kind == "delete":
                del images[name]
            elif kind == "star":
                image["starred"] = args[1]
            elif kind == "move":
                image["board_id"], image["board_added_at"] = args[1], args[2]
            elif kind == "category":
                image["image_category"] = args[1]
            else:
                image["is_intermediate"] = args[1]
            index.sync(name, images.get(name))
    return images, index


@settings(max_examples=300, deadline=None)
@given(st.lists(operation, max_size=40), st.lists(query, min_size=1, max_size=6))
def test_queries_answer_as_a_scan_does(operations: list[tuple], queries: list[dict]) -> None:
    images, index = play(operations)
    check_queries(images, index, queries)
    many_ties = gallery_index.MANY_TIES
    gallery_index.MANY_TIES = -1  # the other way of ordering tied times, the one for many ties
    try:
        check_queries(images, index, queries)
    finally:
        gallery_index.MANY_TIES = many_ties


def check_queries(images: dict[str, dict], index: GalleryIndex, queries: list[dict]) -> None:
    for asked in queries:
        expected = scan_select(images, **asked)
        selection = index.select(**asked)
        assert selection.names() == expected, asked
        assert len(selection) == len(expected)
        assert selection.starred == sum(images[name]["starred"] for name in expected)
        for offset, limit in ((0, 3), (2, 5), (len(expected) - 1, 10), (len(expected) + 1, 2)):
            assert selection.page(max(offset, 0), limit) == expected[max(offset, 0):max(offset, 0) + limit]


@settings(max_examples=200, deadline=None)
@given(st.lists(operation, max_size=40))
def test_boards_and_intermediates_answer_as_a_scan_does(operations: list[tuple]) -> None:
    images, index = play(operations)
    for board in BOARDS:
        assert index.board_members(board) == scan_board_members(images, board)
    for board in ("b1", "b2", "b3"):
        assert index.board_summary(board) == scan_board_summary(images, board)
    assert index.intermediates_count() == sum(image["is_intermediate"] for image in images.values())
    assert index.intermediate_names() == [name for name, image in images.items() if image["is_intermediate"]]


def test_a_search_finds_a_word_inside_longer_words_and_across_punctuation() -> None:
    images, index = play([("add", {"created_at": TIMES[0], "board_id": None, "image_category": "general",
                                   "is_intermediate": False, "starred": False, "image_origin": "internal",
                                   "metadata": '{"prompt": "A Catalog of sunsets", "seed": 42}',
                                   "board_added_at": TIMES[0]})])
    name = next(iter(images))
    assert index.select(search_term="CATAL").names() == [name]
    assert index.select(search_term='"seed": 42').names() == [name]
    assert index.select(search_term="of sun").names() == [name]
    assert index.select(search_term="seeds").names() == []
    assert index.select(search_term="sunsets of").names() == []  # both words, not in this order
    assert index.select(search_term=timestamp(TIMES[0])[:13]).names() == [name]
