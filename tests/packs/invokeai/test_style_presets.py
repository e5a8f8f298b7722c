"""Style presets: the 18 shipped defaults, create / get / update / delete with a JSON `data` form
field and an optional image, preset images, CSV export and CSV / JSON import.

Facts: behaviour.md "Style presets", transcript seq 81-88 and 183-185, openapi-v6.8.json
(Body_create_style_preset, StylePresetRecordWithImage, Body_import_style_presets) and the upstream
router / records service (list ordered by LOWER(name); an update without an image drops the
preset's image; images kept as a 256-px WebP thumbnail; import takes `text/csv` or
`application/json`, anything else 415, rows without a name 400). Where the real server answers 500
for a preset without an image the mock answers 404.
"""

from __future__ import annotations

import csv
import io
import json
import typing as t
import uuid

import pytest
from invokeai_support import decoded, png_bytes, recorded

SP = "/api/v1/style_presets/"
HEADER = "name,prompt,negative_prompt\r\n"
PRESET_KEYS = {"name", "preset_data", "type", "id", "image"}


def data(name: str = "My Preset", positive: str = "a {prompt}, cinematic", negative: str = "blurry",
         kind: str = "user") -> str:
    return json.dumps({"name": name, "positive_prompt": positive, "negative_prompt": negative, "type": kind})


def create(client: t.Any, name: str = "My Preset", positive: str = "a {prompt}, cinematic",
           negative: str = "blurry", *, image: bytes | None = None) -> dict:
    """POST the way seq 82 does (a url-encoded form) or, with an image, as multipart."""
    if image is None:
        response = client.post(SP, data={"data": data(name, positive, negative)})
    else:
        response = client.post(SP, data={"data": data(name, positive, negative)},
                               files={"image": ("preset.png", image, "image/png")})
    assert response.status_code == 200, response.text
    return response.json()


def presets(client: t.Any) -> list[dict]:
    response = client.get(SP)
    assert response.status_code == 200, response.text
    return response.json()


def names(client: t.Any) -> list[str]:
    return [preset["name"] for preset in presets(client)]


def get(client: t.Any, preset_id: str) -> dict:
    response = client.get(f"{SP}i/{preset_id}")
    assert response.status_code == 200, response.text
    return response.json()


def export(client: t.Any) -> str:
    response = client.get(f"{SP}export")
    assert response.status_code == 200, response.text
    return response.text


def import_file(client: t.Any, content: str | bytes, filename: str, content_type: str) -> t.Any:
    raw = content.encode() if isinstance(content, str) else content
    return client.post(f"{SP}import", files={"file": (filename, raw, content_type)})


def user_presets(client: t.Any) -> list[dict]:
    return [preset for preset in presets(client) if preset["type"] == "user"]


# -- the shipped defaults --------------------------------------------------------------------------


def test_eighteen_default_presets_ship_as_recorded(client: t.Any) -> None:
    """Ids, names, type and order as seq 81 (the fixtures word the prompts themselves)."""
    real = recorded(81)["response"]["json"]
    listed = presets(client)
    assert len(listed) == 18
    assert [(p["id"], p["name"], p["type"]) for p in listed] == [(p["id"], p["name"], p["type"]) for p in real]
    for preset in listed:
        assert set(preset) == PRESET_KEYS and preset["type"] == "default"
        assert preset["image"].startswith(f"api/v1/style_presets/i/{preset['id']}/image?")
        assert set(preset["preset_data"]) == {"positive_prompt", "negative_prompt"}
        assert "{prompt}" in preset["preset_data"]["positive_prompt"]


def test_default_presets_have_real_images(client: t.Any) -> None:
    for preset in presets(client):
        response = client.get(f"{SP}i/{preset['id']}/image")
        assert response.status_code == 200, preset["name"]
        # The real router: FileResponse(media_type="image/png", filename=f"{id}.png", inline).
        assert response.headers["content-type"] == "image/png"
        assert response.headers["content-disposition"] == f'inline; filename="{preset["id"]}.png"'
        assert response.headers["cache-control"] == "max-age=31536000"
        image = decoded(response.content)
        assert image.width > 0 and image.height > 0
    first = presets(client)[0]
    assert client.get("/" + first["image"].split("?")[0]).status_code == 200


def test_a_default_preset_can_be_fetched(client: t.Any) -> None:
    anime = presets(client)[0]
    assert get(client, anime["id"])["name"] == "Anime"
    assert get(client, anime["id"])["preset_data"] == anime["preset_data"]


# -- create / get / update / delete --------------------------------------------------------------------


def test_create_from_a_url_encoded_form(client: t.Any) -> None:
    real = recorded(82)
    response = client.post(SP, data=real["request"]["multipart"]["fields"])
    assert response.status_code == 200, response.text
    preset = response.json()
    uuid.UUID(preset["id"])
    assert preset == {**real["response"]["json"], "id": preset["id"]}
    assert preset == {"name": "My Preset", "preset_data": {"positive_prompt": "a {prompt}, cinematic",
                                                           "negative_prompt": "blurry"},
                      "type": "user", "id": preset["id"], "image": None}


def test_create_as_multipart_with_an_image(client: t.Any) -> None:
    preset = create(client, "Pictured", image=png_bytes(600, 300))
    assert preset["image"] is not None
    assert preset["image"].startswith(f"api/v1/style_presets/i/{preset['id']}/image")
    response = client.get(f"{SP}i/{preset['id']}/image")
    assert response.status_code == 200
    image = decoded(response.content)
    assert image.format == "WEBP" and image.size == (256, 128)
    assert get(client, preset["id"])["image"] is not None


def test_create_as_multipart_without_an_image(client: t.Any) -> None:
    response = client.post(SP, files={"data": (None, data("Plain"))})
    assert response.status_code == 200, response.text
    assert response.json()["image"] is None and response.json()["name"] == "Plain"


def test_get_returns_what_was_created(client: t.Any) -> None:
    created = create(client)
    assert get(client, created["id"]) == created  # seq 83


def test_user_presets_list_with_the_defaults_ordered_by_name_ignoring_case(client: t.Any) -> None:
    create(client, "apple")
    create(client, "Zed")
    create(client, "concept")
    listed = names(client)
    assert len(listed) == 21
    assert listed == sorted(listed, key=str.lower)
    assert listed[:3] == ["Anime", "apple", "Architectural Visualization"]
    assert listed[-1] == "Zed"
    assert [p["name"] for p in user_presets(client)] == ["apple", "concept", "Zed"]


def test_update_changes_name_and_prompts(client: t.Any) -> None:
    created = create(client)
    real = recorded(84)
    response = client.patch(f"{SP}i/{created['id']}", data=real["request"]["multipart"]["fields"])
    assert response.status_code == 200, response.text
    assert response.json() == {**real["response"]["json"], "id": created["id"]}
    assert get(client, created["id"]) == response.json()
    assert "My Preset 2" in names(client) and "My Preset" not in names(client)


def test_update_with_an_image_sets_it(client: t.Any) -> None:
    created = create(client)
    response = client.patch(f"{SP}i/{created['id']}", data={"data": data("With Image")},
                            files={"image": ("p.png", png_bytes(40, 30), "image/png")})
    assert response.status_code == 200, response.text
    assert response.json()["image"].startswith(f"api/v1/style_presets/i/{created['id']}/image")
    assert decoded(client.get(f"{SP}i/{created['id']}/image").content).size == (40, 30)


def test_update_without_an_image_drops_the_image(client: t.Any) -> None:
    created = create(client, image=png_bytes())
    response = client.patch(f"{SP}i/{created['id']}", data={"data": data("Renamed")})
    assert response.status_code == 200, response.text
    assert response.json()["image"] is None
    assert client.get(f"{SP}i/{created['id']}/image").status_code == 404


@pytest.mark.parametrize("bad", ['{"name": "x"}', "not json", data(kind="shared")])
def test_update_with_bad_data_is_400(client: t.Any, bad: str) -> None:
    created = create(client)
    response = client.patch(f"{SP}i/{created['id']}", data={"data": bad})
    assert response.status_code == 400 and response.json() == {"detail": "Invalid preset data"}
    assert get(client, created["id"]) == created


def test_update_checks_the_image_then_the_data_then_the_preset(client: t.Any) -> None:
    """InvokeAI 6.8.1's order: a file that is not an image is a 415 even for a preset that does
    not exist and with bad data; bad data is a 400 before the preset is looked up."""
    text = {"image": ("a.txt", b"hello", "text/plain")}
    not_an_image = client.patch(f"{SP}i/no-such-preset", data={"data": "not json"}, files=text)
    assert not_an_image.status_code == 415 and not_an_image.json() == {"detail": "Not an image"}
    bad_data = client.patch(f"{SP}i/no-such-preset", data={"data": "not json"})
    assert bad_data.status_code == 400 and bad_data.json() == {"detail": "Invalid preset data"}
    missing = client.patch(f"{SP}i/no-such-preset", data={"data": data()})
    assert missing.status_code == 404 and missing.json() == {"detail": "Style preset not found"}


def test_delete_answers_null_then_the_preset_is_gone(client: t.Any) -> None:
    created = create(client, image=png_bytes())
    response = client.delete(f"{SP}i/{created['id']}")
    assert response.status_code == 200 and response.json() is None  # seq 87
    gone = client.get(f"{SP}i/{created['id']}")
    assert gone.status_code == 404 and gone.json() == {"detail": "Style preset not found"}  # seq 88
    assert len(presets(client)) == 18
    assert client.get(f"{SP}i/{created['id']}/image").status_code == 404


def test_unknown_preset_is_404(client: t.Any) -> None:
    response = client.get(f"{SP}i/no-such-preset")
    assert response.status_code == 404 and response.json() == {"detail": "Style preset not found"}  # seq 183


def test_preset_without_an_image_has_no_image(client: t.Any) -> None:
    created = create(client)
    assert created["image"] is None
    assert client.get(f"{SP}i/{created['id']}/image").status_code == 404  # real: 500 (defect)


@pytest.mark.parametrize("bad", ['{"name": "x"}', "not json", data(kind="shared"),
                                 json.dumps({"name": "x", "positive_prompt": 1, "negative_prompt": "n",
                                             "type": "user"})])
def test_create_with_bad_data_is_400(client: t.Any, bad: str) -> None:
    response = client.post(SP, data={"data": bad})
    assert response.status_code == 400 and response.json() == {"detail": "Invalid preset data"}  # seq 184
    assert len(presets(client)) == 18


def test_create_without_data_is_422_as_recorded(client: t.Any) -> None:
    real = recorded(185)
    response = client.post(SP)
    assert response.status_code == 422 and response.json() == real["response"]["json"]


def test_create_with_a_non_image_file_is_415(client: t.Any) -> None:
    response = client.post(SP, data={"data": data("Texty")}, files={"image": ("a.txt", b"hello", "text/plain")})
    assert response.status_code == 415 and response.json() == {"detail": "Not an image"}


def test_reset_drops_user_presets(client: t.Any) -> None:
    from invokeai_support import reset

    create(client)
    reset(client)
    assert len(presets(client)) == 18 and user_presets(client) == []


# -- export ---------------------------------------------------------------------------------------------


def test_export_with_no_user_presets_is_just_the_header(client: t.Any) -> None:
    response = client.get(f"{SP}export")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == "attachment; filename=prompt_templates.csv"
    assert response.text == HEADER  # defaults are not exported


def test_export_matches_the_recording(client: t.Any) -> None:
    create(client, "My Preset 2", "p", "n")
    assert export(client) == recorded(86)["response"]["text"]  # seq 86


def test_export_lists_user_presets_by_name_and_quotes_as_csv(client: t.Any) -> None:
    create(client, "beta", "b, with comma", "")
    create(client, "Alpha", 'say "cheese"', "no\nnewlines")
    text = export(client)
    assert text.startswith(HEADER)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [["name", "prompt", "negative_prompt"], ["Alpha", 'say "cheese"', "no\nnewlines"],
                    ["beta", "b, with comma", ""]]
    assert '"b, with comma"' in text and '"say ""cheese"""' in text


def test_export_follows_updates_and_deletes(client: t.Any) -> None:
    keep, drop = create(client, "Keep", "k", "kn"), create(client, "Drop", "d", "dn")
    client.patch(f"{SP}i/{keep['id']}", data={"data": data("Kept", "k2", "kn2")}).raise_for_status()
    client.delete(f"{SP}i/{drop['id']}").raise_for_status()
    assert export(client) == HEADER + "Kept,k2,kn2\r\n"


# -- import ---------------------------------------------------------------------------------------------


def test_import_csv_creates_user_presets(client: t.Any) -> None:
    content = "name,prompt,negative_prompt\r\nOcean,{prompt} at sea,dry\r\nDesert,\"{prompt}, sand\",wet\r\n"
    response = import_file(client, content, "presets.csv", "text/csv")
    assert response.status_code == 200, response.text
    assert response.json() is None
    imported = {p["name"]: p for p in user_presets(client)}
    assert set(imported) == {"Ocean", "Desert"}
    assert imported["Desert"]["preset_data"] == {"positive_prompt": "{prompt}, sand", "negative_prompt": "wet"}
    assert imported["Ocean"]["type"] == "user" and imported["Ocean"]["image"] is None
    assert get(client, imported["Ocean"]["id"])["preset_data"]["positive_prompt"] == "{prompt} at sea"
    assert export(client) == HEADER + 'Desert,"{prompt}, sand",wet\r\nOcean,{prompt} at sea,dry\r\n'
    assert len(presets(client)) == 20


def test_import_json_creates_user_presets(client: t.Any) -> None:
    content = json.dumps([{"name": "Forest", "prompt": "{prompt} among trees", "negative_prompt": "city"},
                          {"name": "Snow", "positive_prompt": "{prompt} in snow", "negative_prompt": "heat"}])
    response = import_file(client, content, "presets.json", "application/json")
    assert response.status_code == 200, response.text
    imported = {p["name"]: p["preset_data"] for p in user_presets(client)}
    assert imported == {"Forest": {"positive_prompt": "{prompt} among trees", "negative_prompt": "city"},
                        "Snow": {"positive_prompt": "{prompt} in snow", "negative_prompt": "heat"}}


def test_an_exported_file_imports_back(client: t.Any) -> None:
    create(client, "One", "first, prompt", "neg 1")
    create(client, "Two", 'quote "here"', "")
    exported = export(client)
    for preset in user_presets(client):
        client.delete(f"{SP}i/{preset['id']}").raise_for_status()
    assert export(client) == HEADER
    assert import_file(client, exported, "prompt_templates.csv", "text/csv").status_code == 200
    assert export(client) == exported


def test_importing_twice_makes_two_copies(client: t.Any) -> None:
    content = "name,prompt,negative_prompt\r\nTwin,a,b\r\n"
    for _ in range(2):
        assert import_file(client, content, "p.csv", "text/csv").status_code == 200
    assert [p["name"] for p in user_presets(client)] == ["Twin", "Twin"]
    ids = {p["id"] for p in user_presets(client)}
    assert len(ids) == 2


def test_import_of_an_unsupported_file_type_is_415(client: t.Any) -> None:
    response = import_file(client, "name,prompt,negative_prompt\r\nX,a,b\r\n", "p.txt", "text/plain")
    assert response.status_code == 415
    assert user_presets(client) == []


def test_import_of_a_csv_without_a_name_column_is_400(client: t.Any) -> None:
    response = import_file(client, "title,prompt,negative_prompt\r\nX,a,b\r\n", "p.csv", "text/csv")
    assert response.status_code == 400
    assert response.json() == {"detail": "Invalid CSV format: must include columns 'name', 'prompt', and "
                                         "'negative_prompt' and name cannot be blank"}
    assert user_presets(client) == []


def test_import_of_json_that_is_not_a_list_is_400(client: t.Any) -> None:
    response = import_file(client, json.dumps({"name": "X", "prompt": "a", "negative_prompt": "b"}),
                           "p.json", "application/json")
    assert response.status_code == 400
    assert response.json() == {"detail": "Invalid JSON format: must be a list of objects with keys 'name', "
                                         "'prompt', and 'negative_prompt' and name cannot be blank"}
    assert user_presets(client) == []


def test_import_strips_whitespace_and_defaults_missing_prompts(client: t.Any) -> None:
    content = "name,prompt\r\n  Padded  ,  {prompt} padded  \r\n"
    assert import_file(client, content, "p.csv", "text/csv").status_code == 200
    (preset,) = user_presets(client)
    assert preset["name"] == "Padded"
    assert preset["preset_data"] == {"positive_prompt": "{prompt} padded", "negative_prompt": ""}


def test_import_of_a_csv_with_an_unknown_column_is_400(client: t.Any) -> None:
    content = "name,prompt,negative_prompt,colour\r\nX,a,b,red\r\n"
    response = import_file(client, content, "p.csv", "text/csv")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("Invalid CSV format")
    assert user_presets(client) == []


def test_import_of_a_row_with_a_blank_name_is_400_and_imports_nothing(client: t.Any) -> None:
    content = json.dumps([{"name": "Fine", "prompt": "a", "negative_prompt": "b"},
                          {"name": "", "prompt": "a", "negative_prompt": "b"}])
    response = import_file(client, content, "p.json", "application/json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("Invalid JSON format")
    assert user_presets(client) == []


def test_import_without_a_file_is_422(client: t.Any) -> None:
    response = client.post(f"{SP}import", data={"nothing": "here"})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["type"] == "missing" and error["loc"] == ["body", "file"]
