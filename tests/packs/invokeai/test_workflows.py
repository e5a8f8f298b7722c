"""Workflow library: the 14 shipped defaults, listing (pages, order, filters, search), create / get /
update / delete, opened_at, counts by tag and category, thumbnails.

Facts: behaviour.md "Workflows", transcript seq 69-80 and 180-182, openapi-v6.8.json (list
parameters, WorkflowRecordDTO, WorkflowRecordListItemWithThumbnailDTO), upstream
`workflow_records_sqlite.get_many` (SQLite: `LIKE` is a case-insensitive substring match, NULLs sort
first ascending and last descending; without `per_page` the page holds everything, `per_page` is
the total and `pages` is 1) and the thumbnail router (415 for a non-image, a 256-px WebP thumbnail).
Where the real server answers 500 for a workflow without a thumbnail the mock answers 404.
"""

from __future__ import annotations

import math
import typing as t
import uuid

import pytest
from invokeai_support import CONTROL, decoded, png_bytes, recorded, reset, tick

WF = "/api/v1/workflows/"
NOW = "2025-11-21 00:00:00.000"  # CLOCK as the server writes timestamps
LIST_ITEM_KEYS = {"workflow_id", "name", "created_at", "updated_at", "opened_at", "is_published",
                  "description", "category", "tags", "thumbnail_url"}
RECORD_KEYS = {"workflow_id", "name", "created_at", "updated_at", "opened_at", "is_published", "workflow"}
STABLE = ("workflow_id", "name", "opened_at", "is_published", "description", "category", "tags",
          "thumbnail_url")  # list-item fields that do not depend on when the server started


def body(name: str = "Test Workflow", *, description: str = "a workflow", tags: str = "test, demo",
         **extra: t.Any) -> dict:
    """A user workflow as the web UI sends it (seq 70)."""
    return {"name": name, "author": "tester", "description": description, "version": "1.0.0",
            "contact": "", "tags": tags, "notes": "", "exposedFields": [],
            "meta": {"version": "3.0.0", "category": "user"}, "nodes": [], "edges": [], "form": None,
            **extra}


def create(client: t.Any, name: str = "Test Workflow", **kwargs: t.Any) -> dict:
    response = client.post(WF, json={"workflow": body(name, **kwargs)})
    assert response.status_code == 200, response.text
    return response.json()


def listing(client: t.Any, **params: t.Any) -> dict:
    response = client.get(WF, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def names(client: t.Any, **params: t.Any) -> list[str]:
    return [item["name"] for item in listing(client, **params)["items"]]


def get(client: t.Any, workflow_id: str) -> dict:
    response = client.get(f"{WF}i/{workflow_id}")
    assert response.status_code == 200, response.text
    return response.json()


def counts_by_tag(client: t.Any, tags: list[str], **params: t.Any) -> dict:
    response = client.get(f"{WF}counts_by_tag", params={"tags": tags, **params})
    assert response.status_code == 200, response.text
    return response.json()


def counts_by_category(client: t.Any, categories: list[str], **params: t.Any) -> dict:
    response = client.get(f"{WF}counts_by_category", params={"categories": categories, **params})
    assert response.status_code == 200, response.text
    return response.json()


def stable(item: dict) -> dict:
    return {key: item.get(key) for key in STABLE}


def set_thumbnail(client: t.Any, workflow_id: str, data: bytes, content_type: str = "image/png") -> t.Any:
    return client.put(f"{WF}i/{workflow_id}/thumbnail", files={"image": ("thumb.png", data, content_type)})


# -- the shipped defaults --------------------------------------------------------------------------


def test_fourteen_default_workflows_ship(client: t.Any) -> None:
    page = listing(client)
    assert page["total"] == 14 and len(page["items"]) == 14
    assert (page["page"], page["pages"], page["per_page"]) == (0, 1, 14)  # no per_page: one page of all
    for item in page["items"]:
        assert set(item) == LIST_ITEM_KEYS
        assert item["category"] == "default"
        assert item["workflow_id"].startswith("default_")
        assert item["opened_at"] is None and item["thumbnail_url"] is None
    assert len({item["workflow_id"] for item in page["items"]}) == 14


def test_first_page_of_three_matches_the_recording(client: t.Any) -> None:
    real = recorded(69)["response"]["json"]
    page = listing(client, per_page=3)
    assert {k: page[k] for k in ("page", "pages", "per_page", "total")} == {
        "page": 0, "pages": 5, "per_page": 3, "total": 14}
    assert [stable(item) for item in page["items"]] == [stable(item) for item in real["items"]]


def test_default_order_is_by_name_ascending(client: t.Any) -> None:
    listed = names(client)
    assert listed == sorted(listed)
    assert names(client, order_by="name", direction="DESC") == list(reversed(listed))


def test_a_default_workflow_can_be_fetched_whole(client: t.Any) -> None:
    first = listing(client, per_page=1)["items"][0]
    record = get(client, first["workflow_id"])
    assert record["workflow_id"] == first["workflow_id"] and record["name"] == first["name"]
    assert record["workflow"]["id"] == first["workflow_id"]
    assert record["workflow"]["meta"]["category"] == "default"
    assert record["workflow"]["name"] == first["name"]
    assert record["workflow"]["tags"] == first["tags"]
    assert isinstance(record["workflow"]["nodes"], list) and record["workflow"]["nodes"]


# -- pages ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("per_page", [1, 3, 4, 5, 13, 14, 20])
def test_pages_is_total_over_per_page_rounded_up(client: t.Any, per_page: int) -> None:
    page = listing(client, per_page=per_page)
    assert page["pages"] == math.ceil(14 / per_page)
    assert page["per_page"] == per_page and page["total"] == 14
    assert len(page["items"]) == min(per_page, 14)


def test_pages_are_zero_based_and_cover_the_list_once(client: t.Any) -> None:
    everything = [item["workflow_id"] for item in listing(client)["items"]]
    seen: list[str] = []
    for number in range(4):
        page = listing(client, page=number, per_page=4)
        assert page["page"] == number and page["pages"] == 4
        seen += [item["workflow_id"] for item in page["items"]]
    assert seen == everything
    assert [len(listing(client, page=n, per_page=4)["items"]) for n in range(4)] == [4, 4, 4, 2]


def test_a_page_past_the_end_is_empty(client: t.Any) -> None:
    page = listing(client, page=7, per_page=4)
    assert page["items"] == [] and page["total"] == 14 and page["page"] == 7 and page["pages"] == 4


def test_name_descending_page_with_a_user_workflow_matches_the_recording(client: t.Any) -> None:
    create(client)
    real = recorded(73)["response"]["json"]
    page = listing(client, page=0, per_page=2, order_by="name", direction="DESC")
    assert {k: page[k] for k in ("page", "pages", "per_page", "total")} == {
        "page": 0, "pages": 8, "per_page": 2, "total": 15}
    assert [stable(item) for item in page["items"]] == [stable(item) for item in real["items"]]


# -- create / get / update / delete ------------------------------------------------------------------


def test_create_answers_200_with_the_record(client: t.Any) -> None:
    sent = body()
    response = client.post(WF, json={"workflow": sent})
    assert response.status_code == 200  # not 201
    record = response.json()
    assert set(record) == RECORD_KEYS  # seq 70: no thumbnail_url on create
    uuid.UUID(record["workflow_id"])
    assert record["name"] == "Test Workflow"
    assert record["created_at"] == record["updated_at"] == NOW
    assert record["opened_at"] is None and record["is_published"] is None
    assert record["workflow"] == {**sent, "is_published": None, "id": record["workflow_id"]}


def test_each_created_workflow_gets_its_own_id(client: t.Any) -> None:
    first, second = create(client, "One"), create(client, "Two")
    assert first["workflow_id"] != second["workflow_id"]
    assert listing(client, categories=["user"])["total"] == 2


def test_get_returns_the_record_with_thumbnail_url(client: t.Any) -> None:
    created = create(client)
    record = get(client, created["workflow_id"])
    assert record == {**created, "thumbnail_url": None}  # seq 71
    assert record["opened_at"] is None  # getting a workflow does not mark it opened


def test_user_listing_without_per_page_matches_the_recording(client: t.Any) -> None:
    created = create(client)
    page = listing(client, categories=["user"])
    assert {k: page[k] for k in ("page", "pages", "per_page", "total")} == {
        "page": 0, "pages": 1, "per_page": 1, "total": 1}  # seq 72
    (item,) = page["items"]
    assert item == {"workflow_id": created["workflow_id"], "name": "Test Workflow", "created_at": NOW,
                    "updated_at": NOW, "opened_at": None, "is_published": None, "description": "a workflow",
                    "category": "user", "tags": "test, demo", "thumbnail_url": None}


def test_create_with_missing_fields_names_each_one(client: t.Any) -> None:
    real = recorded(181)
    response = client.post(WF, json=real["request"]["json"])
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert [(e["type"], e["loc"], e["msg"]) for e in detail] == [
        (e["type"], e["loc"], e["msg"]) for e in real["response"]["json"]["detail"]]
    assert listing(client, categories=["user"])["total"] == 0


def test_create_with_missing_fields_is_422_as_recorded(client: t.Any) -> None:
    """Pydantic reports a missing field with the object it is missing from as `input`."""
    real = recorded(181)
    response = client.post(WF, json=real["request"]["json"])
    assert response.status_code == 422
    assert response.json() == real["response"]["json"]


def test_create_with_a_bad_meta_version_is_422(client: t.Any) -> None:
    real = recorded(182)
    response = client.post(WF, json=real["request"]["json"])
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["type"] == "value_error" and error["loc"] == ["body", "workflow", "meta", "version"]
    assert error["msg"] == "Value error, Invalid workflow meta version: abc" and error["input"] == "abc"
    assert listing(client, categories=["user"])["total"] == 0


def test_create_with_a_bad_meta_version_is_422_as_recorded(client: t.Any) -> None:
    """FastAPI serialises the ValueError in `ctx.error` as `{}`."""
    real = recorded(182)
    response = client.post(WF, json=real["request"]["json"])
    assert response.json() == real["response"]["json"]


def test_create_without_the_workflow_key_is_422(client: t.Any) -> None:
    response = client.post(WF, json=body())
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "workflow"]
    assert response.json()["detail"][0]["type"] == "missing"


def test_update_renames_and_moves_updated_at(client: t.Any) -> None:
    created = create(client)
    tick(client, 10)
    changed = {**created["workflow"], "name": "Renamed Workflow", "notes": "edited"}
    response = client.patch(f"{WF}i/{created['workflow_id']}", json={"workflow": changed})
    assert response.status_code == 200, response.text
    record = response.json()
    assert set(record) == RECORD_KEYS  # seq 74
    assert record["workflow_id"] == created["workflow_id"] and record["name"] == "Renamed Workflow"
    assert record["created_at"] == NOW and record["updated_at"] == "2025-11-21 00:00:10.000"
    assert record["workflow"] == changed
    again = get(client, created["workflow_id"])
    assert again["name"] == "Renamed Workflow" and again["workflow"]["notes"] == "edited"
    assert again["updated_at"] == "2025-11-21 00:00:10.000"
    assert names(client, categories=["user"]) == ["Renamed Workflow"]


def test_update_changes_what_search_and_tag_counts_see(client: t.Any) -> None:
    created = create(client, "Quokka", tags="marsupial")
    assert counts_by_tag(client, ["marsupial", "wombat"]) == {"marsupial": 1, "wombat": 0}
    changed = {**created["workflow"], "name": "Wombat", "tags": "wombat"}
    assert client.patch(f"{WF}i/{created['workflow_id']}", json={"workflow": changed}).status_code == 200
    assert counts_by_tag(client, ["marsupial", "wombat"]) == {"marsupial": 0, "wombat": 1}
    assert names(client, query="quokka") == []
    assert names(client, query="wombat") == ["Wombat"]


def test_delete_answers_null_then_the_workflow_is_gone(client: t.Any) -> None:
    created = create(client)
    response = client.delete(f"{WF}i/{created['workflow_id']}")
    assert response.status_code == 200 and response.json() is None  # seq 79
    gone = client.get(f"{WF}i/{created['workflow_id']}")
    assert gone.status_code == 404 and gone.json() == {"detail": "Workflow not found"}  # seq 80
    assert listing(client, categories=["user"])["total"] == 0
    assert listing(client)["total"] == 14
    assert counts_by_category(client, ["user"]) == {"user": 0}


def test_a_default_workflow_survives_a_delete(client: t.Any) -> None:
    """Upstream deletes `WHERE workflow_id = ? AND category = 'user'` (newer versions refuse outright);
    either way the default stays. The status code is not asserted."""
    default = listing(client, per_page=1)["items"][0]
    client.delete(f"{WF}i/{default['workflow_id']}")
    assert get(client, default["workflow_id"])["name"] == default["name"]
    assert listing(client)["total"] == 14


def test_a_default_workflow_is_not_changed_by_an_update(client: t.Any) -> None:
    """Upstream updates `WHERE workflow_id = ? AND category = 'user'`; the status code is not asserted."""
    default = listing(client, per_page=1)["items"][0]
    before = get(client, default["workflow_id"])
    client.patch(f"{WF}i/{default['workflow_id']}", json={"workflow": {**before["workflow"], "name": "Hijacked"}})
    after = get(client, default["workflow_id"])
    assert after["name"] == default["name"] and after["workflow"] == before["workflow"]
    assert "Hijacked" not in names(client)


def test_update_changes_the_workflow_the_body_names_not_the_path(client: t.Any) -> None:
    """The real router has no path parameter: `service.update(workflow)` writes `WHERE workflow_id =
    workflow.id`, so a body naming another workflow updates that one and answers it."""
    first, second = create(client, "First"), create(client, "Second")
    changed = {**second["workflow"], "name": "Second, renamed"}
    response = client.patch(f"{WF}i/{first['workflow_id']}", json={"workflow": changed})
    assert response.status_code == 200, response.text
    assert response.json()["workflow_id"] == second["workflow_id"]
    assert response.json()["name"] == "Second, renamed"
    assert get(client, second["workflow_id"])["workflow"]["name"] == "Second, renamed"
    assert get(client, first["workflow_id"])["name"] == "First"


def test_update_whose_body_names_a_default_answers_the_default_unchanged(client: t.Any) -> None:
    """`AND category = 'user'` keeps the default as shipped; the real server then answers `get(id)`."""
    mine = create(client, "Mine")
    default = get(client, "default_7dde3e36-d78f-4152-9eea-00ef9c8124ed")
    body = {**default["workflow"], "name": "Hijacked", "meta": {"version": "3.0.0", "category": "user"}}
    response = client.patch(f"{WF}i/{mine['workflow_id']}", json={"workflow": body})
    assert response.status_code == 200, response.text
    assert response.json()["workflow_id"] == default["workflow_id"]
    assert response.json()["workflow"] == default["workflow"]
    assert get(client, mine["workflow_id"])["name"] == "Mine"


def test_update_whose_body_names_an_unknown_workflow_is_404(client: t.Any) -> None:
    mine = create(client, "Mine")
    body = {**mine["workflow"], "id": "no-such-workflow"}
    response = client.patch(f"{WF}i/{mine['workflow_id']}", json={"workflow": body})
    assert response.status_code == 404 and response.json() == {"detail": "Workflow not found"}


def test_unknown_workflow_is_404(client: t.Any) -> None:
    response = client.get(f"{WF}i/no-such-workflow")
    assert response.status_code == 404
    assert response.json() == {"detail": "Workflow not found"}  # seq 180


def test_reset_drops_user_workflows(client: t.Any) -> None:
    create(client)
    reset(client)
    assert listing(client)["total"] == 14


# -- opened_at ----------------------------------------------------------------------------------------


def test_update_opened_at_answers_null_and_stamps_the_workflow(client: t.Any) -> None:
    created = create(client)
    tick(client, 30)
    response = client.put(f"{WF}i/{created['workflow_id']}/opened_at")
    assert response.status_code == 200 and response.json() is None  # seq 75
    opened = "2025-11-21 00:00:30.000"
    assert get(client, created["workflow_id"])["opened_at"] == opened
    (item,) = listing(client, categories=["user"])["items"]
    assert item["opened_at"] == opened
    assert item["created_at"] == NOW


def test_opening_also_moves_updated_at(client: t.Any) -> None:
    """`workflow_library` has an AFTER UPDATE trigger (migration 2) that sets `updated_at` on any
    update of a row, the `opened_at` one included."""
    created = create(client)
    tick(client, 30)
    client.put(f"{WF}i/{created['workflow_id']}/opened_at").raise_for_status()
    record = get(client, created["workflow_id"])
    assert record["updated_at"] == record["opened_at"] == "2025-11-21 00:00:30.000"


def test_a_default_workflow_can_be_opened(client: t.Any) -> None:
    first = listing(client, per_page=1)["items"][0]
    assert client.put(f"{WF}i/{first['workflow_id']}/opened_at").status_code == 200
    assert get(client, first["workflow_id"])["opened_at"] == NOW
    opened = listing(client, has_been_opened="true")
    assert [item["workflow_id"] for item in opened["items"]] == [first["workflow_id"]]


def test_a_reset_brings_back_the_shipped_defaults_whatever_was_done_to_them(client: t.Any) -> None:
    """Every store's default rows share the shipped documents (a reset does not copy them): opening,
    refused updates and deletes, and an imported state that changed a default must not reach them."""
    first = listing(client, per_page=1)["items"][0]
    workflow_id = first["workflow_id"]
    shipped = get(client, workflow_id)
    client.put(f"{WF}i/{workflow_id}/opened_at").raise_for_status()
    changed = {**shipped["workflow"], "name": "Changed", "nodes": []}
    assert client.patch(f"{WF}i/{workflow_id}", json={"workflow": changed}).status_code == 400
    assert client.delete(f"{WF}i/{workflow_id}").status_code == 400
    state = client.get(f"{CONTROL}/state").json()
    (row,) = [row for row in state["workflows"] if row["workflow_id"] == workflow_id]
    row["workflow"]["name"] = "Imported"
    row["workflow"]["nodes"].clear()
    client.put(f"{CONTROL}/state", json=state).raise_for_status()
    assert get(client, workflow_id)["workflow"]["name"] == "Imported"

    reset(client)
    assert get(client, workflow_id) == shipped  # never opened, named and drawn as shipped
    assert listing(client, has_been_opened="true")["total"] == 0


def test_has_been_opened_filters_the_list(client: t.Any) -> None:
    one, two = create(client, "One"), create(client, "Two")
    client.put(f"{WF}i/{one['workflow_id']}/opened_at").raise_for_status()
    assert names(client, has_been_opened="true") == ["One"]
    not_opened = listing(client, has_been_opened="false")
    assert not_opened["total"] == 15 and "One" not in [i["name"] for i in not_opened["items"]]
    assert "Two" in [item["name"] for item in not_opened["items"]]
    assert listing(client)["total"] == 16  # unset: both kinds
    assert two["opened_at"] is None


def test_order_by_opened_at_puts_never_opened_first_ascending_and_last_descending(client: t.Any) -> None:
    a, b, _ = create(client, "A"), create(client, "B"), create(client, "C")
    tick(client, 10)
    client.put(f"{WF}i/{b['workflow_id']}/opened_at").raise_for_status()
    tick(client, 10)
    client.put(f"{WF}i/{a['workflow_id']}/opened_at").raise_for_status()
    assert names(client, categories=["user"], order_by="opened_at", direction="DESC") == ["A", "B", "C"]
    assert names(client, categories=["user"], order_by="opened_at", direction="ASC") == ["C", "B", "A"]


# -- order ----------------------------------------------------------------------------------------------


def test_order_by_created_at_and_updated_at(client: t.Any) -> None:
    a = create(client, "A")
    tick(client, 1)
    create(client, "B")
    tick(client, 1)
    create(client, "C")
    tick(client, 1)
    changed = {**a["workflow"], "notes": "touched"}
    assert client.patch(f"{WF}i/{a['workflow_id']}", json={"workflow": changed}).status_code == 200
    user = {"categories": ["user"]}
    assert names(client, **user, order_by="created_at", direction="ASC") == ["A", "B", "C"]
    assert names(client, **user, order_by="created_at", direction="DESC") == ["C", "B", "A"]
    assert names(client, **user, order_by="updated_at", direction="ASC") == ["B", "C", "A"]
    assert names(client, **user, order_by="updated_at", direction="DESC") == ["A", "C", "B"]


def test_newest_created_comes_first_across_categories(client: t.Any) -> None:
    tick(client, 60)
    create(client, "Newest")
    assert names(client, order_by="created_at", direction="DESC")[0] == "Newest"
    assert names(client, order_by="created_at", direction="ASC")[-1] == "Newest"


def test_order_by_name_orders_user_workflows(client: t.Any) -> None:
    for name in ("Charlie", "Alpha", "Bravo"):
        create(client, name)
    assert names(client, categories=["user"]) == ["Alpha", "Bravo", "Charlie"]
    assert names(client, categories=["user"], order_by="name", direction="DESC") == ["Charlie", "Bravo", "Alpha"]


@pytest.mark.parametrize(("param", "value"), [("order_by", "size"), ("direction", "UP")])
def test_an_unknown_order_is_422(client: t.Any, param: str, value: str) -> None:
    response = client.get(WF, params={param: value})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["type"] == "enum" and error["loc"] == ["query", param] and error["input"] == value


# -- filters and search ---------------------------------------------------------------------------------


def test_categories_filter(client: t.Any) -> None:
    create(client, "Mine")
    assert listing(client, categories=["default"])["total"] == 14
    assert names(client, categories=["user"]) == ["Mine"]
    assert listing(client, categories=["user", "default"])["total"] == 15
    assert listing(client)["total"] == 15


def test_no_project_workflows(client: t.Any) -> None:
    paged = listing(client, categories=["project"], per_page=10)
    assert paged["items"] == [] and paged["total"] == 0 and paged["pages"] == 0
    whole = listing(client, categories=["project"])
    assert whole == {"page": 0, "pages": 1, "per_page": 0, "total": 0, "items": []}


def test_an_unknown_category_is_422(client: t.Any) -> None:
    response = client.get(WF, params={"categories": ["mine"]})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["type"] == "enum" and error["loc"] == ["query", "categories", 0]


def test_tags_filter_is_a_substring_match_on_any_tag(client: t.Any) -> None:
    flux = listing(client, tags=["flux"])
    assert flux["total"] > 0
    assert all("flux" in item["tags"].lower() for item in flux["items"])
    assert flux["total"] == counts_by_tag(client, ["flux"])["flux"]
    sdx = listing(client, tags=["sdx"])  # part of "sdxl"
    assert sdx["total"] > 0 and all("sdxl" in item["tags"].lower() for item in sdx["items"])
    both = {item["workflow_id"] for item in listing(client, tags=["flux", "sdx"])["items"]}
    assert both == {item["workflow_id"] for item in flux["items"] + sdx["items"]}  # OR, not AND


def test_tags_filter_finds_user_workflows(client: t.Any) -> None:
    create(client, "Tagged", tags="alpaca, llama")
    create(client, "Other", tags="camel")
    assert names(client, tags=["llama"]) == ["Tagged"]
    assert names(client, tags=["lpac"]) == ["Tagged"]
    assert sorted(names(client, tags=["alpaca", "camel"])) == ["Other", "Tagged"]
    assert names(client, tags=["vicuna"]) == []


def test_query_searches_name_and_description_ignoring_case(client: t.Any) -> None:
    create(client, "Zebra Crossing", description="stripes on the road", tags="street")
    create(client, "Savannah", description="a herd of ZEBRAS", tags="animals")
    create(client, "Unrelated", description="nothing to see", tags="misc")
    assert sorted(names(client, query="zebra")) == ["Savannah", "Zebra Crossing"]
    assert sorted(names(client, query="ZEBRA")) == ["Savannah", "Zebra Crossing"]
    assert names(client, query="herd of") == ["Savannah"]
    assert names(client, query="quagga") == []
    assert listing(client, query="zebra")["total"] == 2


def test_query_ignores_surrounding_whitespace(client: t.Any) -> None:
    create(client, "Zebra Crossing")
    assert names(client, query="  Zebra  ") == ["Zebra Crossing"]
    assert listing(client, query="   ")["total"] == 15  # blank: no search at all


def test_query_finds_default_workflows_by_name(client: t.Any) -> None:
    found = listing(client, query="face detailer")
    assert found["total"] >= 1
    assert "Face Detailer - SD1.5" in [item["name"] for item in found["items"]]


def test_filters_combine(client: t.Any) -> None:
    create(client, "Wombat Flux", tags="flux")
    assert names(client, tags=["flux"], categories=["user"]) == ["Wombat Flux"]
    assert names(client, query="wombat", tags=["flux"]) == ["Wombat Flux"]
    assert names(client, query="wombat", tags=["sdxl"]) == []
    paged = listing(client, tags=["flux"], per_page=1)
    assert paged["total"] == counts_by_tag(client, ["flux"])["flux"] and len(paged["items"]) == 1


# -- counts ---------------------------------------------------------------------------------------------


def test_counts_by_tag_match_the_recording(client: t.Any) -> None:
    create(client)  # tags "test, demo", as in seq 70
    assert counts_by_tag(client, ["test", "demo", "x"]) == {"test": 1, "demo": 1, "x": 10}  # seq 76


def test_counts_by_tag_ignore_case(client: t.Any) -> None:
    lower = counts_by_tag(client, ["flux"])["flux"]
    assert lower > 0
    assert counts_by_tag(client, ["FLUX"]) == {"FLUX": lower}


def test_counts_by_tag_respect_category_and_opened_filters(client: t.Any) -> None:
    created = create(client)
    assert counts_by_tag(client, ["test", "x", "nothing"]) == {"test": 1, "x": 10, "nothing": 0}
    assert counts_by_tag(client, ["test", "x"], categories=["user"]) == {"test": 1, "x": 0}
    assert counts_by_tag(client, ["test", "x"], categories=["default"]) == {"test": 0, "x": 10}
    assert counts_by_tag(client, ["test"], has_been_opened="true") == {"test": 0}
    client.put(f"{WF}i/{created['workflow_id']}/opened_at").raise_for_status()
    assert counts_by_tag(client, ["test"], has_been_opened="true") == {"test": 1}
    assert counts_by_tag(client, ["test"], has_been_opened="false") == {"test": 0}


def test_counts_by_category_match_the_recording(client: t.Any) -> None:
    create(client)
    assert counts_by_category(client, ["user", "default"]) == {"user": 1, "default": 14}  # seq 77
    assert counts_by_category(client, ["project"]) == {"project": 0}


def test_counts_by_category_respect_has_been_opened(client: t.Any) -> None:
    created = create(client)
    assert counts_by_category(client, ["user", "default"], has_been_opened="true") == {"user": 0, "default": 0}
    client.put(f"{WF}i/{created['workflow_id']}/opened_at").raise_for_status()
    assert counts_by_category(client, ["user", "default"], has_been_opened="true") == {"user": 1, "default": 0}
    assert counts_by_category(client, ["user", "default"], has_been_opened="false") == {"user": 0, "default": 14}


@pytest.mark.parametrize(("path", "param"), [("counts_by_tag", "tags"), ("counts_by_category", "categories")])
def test_counts_need_their_list_parameter(client: t.Any, path: str, param: str) -> None:
    response = client.get(f"{WF}{path}")
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["type"] == "missing" and error["loc"] == ["query", param]


# -- thumbnails -----------------------------------------------------------------------------------------


def test_no_thumbnail_is_404(client: t.Any) -> None:
    created = create(client)
    assert client.get(f"{WF}i/{created['workflow_id']}/thumbnail").status_code == 404  # real: 500 (defect)
    default = listing(client, per_page=1)["items"][0]
    assert client.get(f"{WF}i/{default['workflow_id']}/thumbnail").status_code == 404


def test_set_thumbnail_stores_a_webp_thumbnail(client: t.Any) -> None:
    created = create(client)
    workflow_id = created["workflow_id"]
    response = set_thumbnail(client, workflow_id, png_bytes(600, 300))
    assert response.status_code == 200, response.text
    assert response.json()["workflow_id"] == workflow_id and response.json()["name"] == "Test Workflow"
    image = client.get(f"{WF}i/{workflow_id}/thumbnail")
    assert image.status_code == 200
    # Stored as WebP, labelled as the real router's FileResponse(media_type="image/png") labels it.
    assert image.headers["content-type"] == "image/png"
    assert image.headers["content-disposition"] == f'inline; filename="{workflow_id}.png"'
    thumbnail = decoded(image.content)
    assert thumbnail.format == "WEBP"
    assert thumbnail.size == (256, 128)  # fitted into 256 x 256, aspect kept


def test_a_small_thumbnail_is_not_enlarged(client: t.Any) -> None:
    created = create(client)
    assert set_thumbnail(client, created["workflow_id"], png_bytes(64, 48)).status_code == 200
    thumbnail = decoded(client.get(f"{WF}i/{created['workflow_id']}/thumbnail").content)
    assert thumbnail.size == (64, 48)


def test_thumbnail_url_shows_in_get_and_list(client: t.Any) -> None:
    created = create(client)
    workflow_id = created["workflow_id"]
    set_thumbnail(client, workflow_id, png_bytes()).raise_for_status()
    url = get(client, workflow_id)["thumbnail_url"]
    assert url is not None and url.startswith(f"api/v1/workflows/i/{workflow_id}/thumbnail")
    (item,) = listing(client, categories=["user"])["items"]
    assert item["thumbnail_url"] is not None
    assert item["thumbnail_url"].startswith(f"api/v1/workflows/i/{workflow_id}/thumbnail")
    path = url.split("?")[0]
    assert client.get(f"/{path}").status_code == 200
    assert all(item["thumbnail_url"] is None for item in listing(client, categories=["default"])["items"])


def test_replacing_a_thumbnail_serves_the_new_one(client: t.Any) -> None:
    created = create(client)
    workflow_id = created["workflow_id"]
    set_thumbnail(client, workflow_id, png_bytes(64, 48)).raise_for_status()
    set_thumbnail(client, workflow_id, png_bytes(100, 20, (0, 0, 255))).raise_for_status()
    assert decoded(client.get(f"{WF}i/{workflow_id}/thumbnail").content).size == (100, 20)


def test_delete_thumbnail_removes_it(client: t.Any) -> None:
    created = create(client)
    workflow_id = created["workflow_id"]
    set_thumbnail(client, workflow_id, png_bytes()).raise_for_status()
    response = client.delete(f"{WF}i/{workflow_id}/thumbnail")
    assert response.status_code == 200, response.text
    assert response.json()["workflow_id"] == workflow_id
    assert client.get(f"{WF}i/{workflow_id}/thumbnail").status_code == 404
    assert get(client, workflow_id)["thumbnail_url"] is None
    assert listing(client, categories=["user"])["items"][0]["thumbnail_url"] is None


def test_a_non_image_thumbnail_is_415(client: t.Any) -> None:
    created = create(client)
    workflow_id = created["workflow_id"]
    response = set_thumbnail(client, workflow_id, b"hello", content_type="text/plain")
    assert response.status_code == 415 and response.json() == {"detail": "Not an image"}
    response = set_thumbnail(client, workflow_id, b"not really a png", content_type="image/png")
    assert response.status_code == 415 and response.json() == {"detail": "Failed to read image"}
    assert client.get(f"{WF}i/{workflow_id}/thumbnail").status_code == 404
    assert get(client, workflow_id)["thumbnail_url"] is None


def test_set_thumbnail_needs_the_image_field(client: t.Any) -> None:
    created = create(client)
    response = client.put(f"{WF}i/{created['workflow_id']}/thumbnail",
                          files={"file": ("t.png", png_bytes(), "image/png")})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["type"] == "missing" and error["loc"] == ["body", "image"]
