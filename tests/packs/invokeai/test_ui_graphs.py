"""The graphs InvokeAI 6.8.1's web UI enqueues (rebuilt in `ui_graphs.py` from its graph builders)
complete on the mock, with their picture in the gallery: Generate with SD1.5, SDXL, FLUX, SD3 and
CogView4, Canvas inpaint, and the Upscaling tab's multi-diffusion graph."""

from __future__ import annotations

import io
import typing as t

import pytest
import ui_graphs
from invokeai_support import make_server, ok, reset, run_until_idle
from node_graphs import install_models, upload_image
from PIL import Image, ImageChops, ImageDraw
from starlette.testclient import TestClient

QUEUE = "/api/v1/queue/default"


@pytest.fixture(scope="module")
def server() -> t.Any:
    return make_server()


@pytest.fixture(scope="module")
def ui(server: t.Any) -> t.Iterator[tuple[TestClient, dict[str, dict]]]:
    with TestClient(server, base_url="http://mock") as client:
        reset(client)
        yield client, install_models(client)


@pytest.fixture
def emitted(ui: t.Any, server: t.Any) -> t.Iterator[list[tuple[str, dict]]]:
    """What the queue emits on the socket while a test runs (still delivered as usual)."""
    store = server.runtimes["invokeai"].state.runtime
    seen: list[tuple[str, dict]] = []
    original = store.emit

    def record(name: str, data: dict, room: str | None = None) -> None:
        seen.append((name, data))
        original(name, data, room)

    store.emit = record
    yield seen
    store.emit = original


def enqueue_and_run(client: TestClient, body: dict) -> list[dict]:
    batch = ok(client.post(f"{QUEUE}/enqueue_batch", json=body))
    run_until_idle(client)
    return ok(client.post(f"{QUEUE}/items_by_ids", json={"item_ids": batch["item_ids"]}))


def output_image(client: TestClient, item: dict, source: str) -> tuple[dict, Image.Image]:
    """The gallery's record and pixels of the image a source node made."""
    assert item["status"] == "completed", (item["error_type"], item["error_message"])
    prepared = item["session"]["source_prepared_mapping"][source][0]
    name = item["session"]["results"][prepared]["image"]["image_name"]
    dto = ok(client.get(f"/api/v1/images/i/{name}"))
    picture = Image.open(io.BytesIO(client.get(f"/api/v1/images/i/{name}/full").content))
    return dto, picture


def in_gallery(client: TestClient, name: str) -> bool:
    names = ok(client.get("/api/v1/images/names", params={"categories": ["general"],
                                                          "is_intermediate": False}))["image_names"]
    return name in names


@pytest.mark.parametrize("base", ["sd1", "sdxl", "flux", "sd3", "cogview4"])
def test_generate_tab_graphs_complete_with_a_picture_in_the_gallery(ui: t.Any, base: str) -> None:
    client, models = ui
    builders = {
        "sd1": lambda: ui_graphs.sd1(models["sd1"], width=512, height=384),
        "sdxl": lambda: ui_graphs.sdxl(models["sdxl"], width=512, height=384),
        "flux": lambda: ui_graphs.flux(models["flux"], models["t5"], models["clip_embed"], models["flux_vae"],
                                       width=512, height=384),
        "sd3": lambda: ui_graphs.sd3(models["sd3"], width=512, height=384),
        "cogview4": lambda: ui_graphs.cogview4(models["cogview4"], width=512, height=384),
    }
    g = builders[base]()
    decoder = next(key for key, n in g.nodes.items() if n["type"] in ("l2i", "flux_vae_decode", "sd3_l2i",
                                                                     "cogview4_l2i"))
    graph = g.output(g.nodes[decoder])
    items = enqueue_and_run(client, ui_graphs.linear_batch(graph, "a lighthouse at dusk", seeds=[11, 12]))
    assert len(items) == 2
    pictures = []
    for item in items:
        dto, picture = output_image(client, item, decoder)
        assert (dto["width"], dto["height"]) == (512, 384) and picture.size == (512, 384)
        assert dto["is_intermediate"] is False and in_gallery(client, dto["image_name"])
        metadata = ok(client.get(f"/api/v1/images/i/{dto['image_name']}/metadata"))
        assert metadata["positive_prompt"] == "a lighthouse at dusk" and metadata["seed"] in (11, 12)
        assert len(set(picture.convert("RGB").getdata())) > 50  # a picture, not a flat fill
        pictures.append(picture.convert("RGB").tobytes())
    assert pictures[0] != pictures[1]  # another seed, another picture


def test_the_sd1_graph_reports_each_denoising_step_with_a_preview(ui: t.Any, emitted: list) -> None:
    client, models = ui
    g = ui_graphs.sd1(models["sd1"], width=256, height=192, steps=5)
    graph = g.output(g.nodes["l2i:i"])
    item = enqueue_and_run(client, ui_graphs.linear_batch(graph, "a red fox", seeds=[3]))[0]
    assert item["status"] == "completed"
    progress = [data for name, data in emitted if name == "invocation_progress"]
    denoising = [data for data in progress if data["invocation_source_id"] == "denoise_latents:d"]
    # the starting latents, then each of the 5 steps
    assert [data["message"] for data in denoising] == ["Denoising"] * 6
    assert [data["percentage"] for data in denoising] == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    preview = denoising[-1]["image"]
    assert (preview["width"], preview["height"]) == (256, 192)  # shown at the picture's size
    assert preview["dataURL"].startswith("data:image/jpeg;base64,")
    decoding = [data["message"] for data in progress if data["invocation_source_id"] == "l2i:i"]
    assert decoding == ["Running VAE decoder", "Saving image"]
    assert [data["message"] for data in progress if data["invocation_source_id"] == "pos_cond:pc"] == \
        ["Building conditioning"]


def canvas_images(client: TestClient, width: int, height: int) -> tuple[str, str, Image.Image, Image.Image]:
    """An initial image (stripes) and an inpaint mask (black square = repaint), uploaded as the canvas does."""
    initial = Image.new("RGB", (width, height), (30, 90, 160))
    draw = ImageDraw.Draw(initial)
    for x in range(0, width, 16):
        draw.rectangle([x, 0, x + 7, height], fill=(230, 200, 40))
    mask = Image.new("L", (width, height), 255)
    ImageDraw.Draw(mask).rectangle([width // 4, height // 4, width * 3 // 4, height * 3 // 4], fill=0)
    names = []
    for picture in (initial, mask.convert("RGBA")):
        out = io.BytesIO()
        picture.save(out, format="PNG")
        files = {"file": ("canvas.png", out.getvalue(), "image/png")}
        names.append(ok(client.post("/api/v1/images/upload", params={"image_category": "general",
                                                                     "is_intermediate": "true"}, files=files), 201)
                     ["image_name"])
    return names[0], names[1], initial, mask


def test_canvas_inpaint_repaints_inside_the_mask_and_keeps_the_rest(ui: t.Any) -> None:
    client, models = ui
    width, height = 256, 192
    initial_name, mask_name, initial, mask = canvas_images(client, width, height)
    g, blend = ui_graphs.sd1_inpaint(models["sd1"], initial_name, mask_name, width=width, height=height)
    graph = g.output(blend)
    item = enqueue_and_run(client, ui_graphs.linear_batch(graph, "a stone wall", seeds=[5], origin="canvas",
                                                          destination="canvas"))[0]
    dto, picture = output_image(client, item, blend["id"])
    assert picture.size == (width, height) and dto["is_intermediate"] is False
    difference = ImageChops.difference(picture.convert("RGB"), initial).convert("L")
    inside = difference.crop((width // 4 + 24, height // 4 + 24, width * 3 // 4 - 24, height * 3 // 4 - 24))
    outside = difference.crop((0, 0, width, height // 8))
    assert max(inside.getdata()) > 60  # the masked area was repainted
    assert max(outside.getdata()) <= 8  # far from the mask, the initial image is untouched


def test_upscale_tab_graph_makes_the_image_larger_by_its_scale(ui: t.Any) -> None:
    client, models = ui
    image_name = upload_image(client, 96, 64)
    image = {"image_name": image_name, "width": 96, "height": 64}
    g = ui_graphs.sd1_upscale(models["sd1"], models["spandrel"], models["controlnet"], image, scale=2)
    body = {"prepend": False, "batch": {"graph": g.graph(), "runs": 1, "origin": "upscaling",
                                        "destination": "gallery",
                                        "data": [[{"node_path": "seed:s", "field_name": "value", "items": [9]}],
                                                 [{"node_path": "positive_prompt:p", "field_name": "value",
                                                   "items": ["sharp details"]}]]}}
    item = enqueue_and_run(client, body)[0]
    dto, picture = output_image(client, item, "l2i:i")
    assert picture.size == (192, 128) and (dto["width"], dto["height"]) == (192, 128)
    assert in_gallery(client, dto["image_name"])
    metadata = ok(client.get(f"/api/v1/images/i/{dto['image_name']}/metadata"))
    assert (metadata["width"], metadata["height"], metadata["seed"]) == (192, 128, 9)


def test_canvas_with_a_lora_a_control_layer_a_reference_and_a_region_completes(ui: t.Any) -> None:
    client, models = ui
    control = upload_image(client, 512, 384)
    reference = upload_image(client, 224, 224)
    region = Image.new("RGBA", (512, 384), (0, 0, 0, 0))
    ImageDraw.Draw(region).rectangle([0, 0, 255, 383], fill=(255, 255, 255, 255))
    out = io.BytesIO()
    region.save(out, format="PNG")
    region_name = ok(client.post("/api/v1/images/upload", params={"image_category": "mask", "is_intermediate": "true"},
                                 files={"file": ("region.png", out.getvalue(), "image/png")}), 201)["image_name"]
    g = ui_graphs.with_canvas_layers(ui_graphs.sdxl(models["sdxl"], width=512, height=384), models, control,
                                     reference, region_name, "a field of sunflowers")
    graph = g.output(g.nodes["l2i:i"])
    item = enqueue_and_run(client, ui_graphs.linear_batch(graph, "a farmhouse", seeds=[21], origin="canvas",
                                                          destination="canvas"))[0]
    dto, picture = output_image(client, item, "l2i:i")
    assert picture.size == (512, 384) and in_gallery(client, dto["image_name"])
    session = item["session"]

    def result(source: str) -> dict:
        return session["results"][session["source_prepared_mapping"][source][0]]

    assert [lora["weight"] for lora in result("sdxl_lora_collection_loader:lcl")["unet"]["loras"]] == [0.75]
    assert len(result("ip_adapter_collector:cip")["collection"]) == 2
    assert result("ip_adapter:rip")["ip_adapter"]["mask"] == result("prompt_region_mask_to_tensor:rm")["mask"]
    assert result("ip_adapter:rip")["ip_adapter"]["target_blocks"] == ["up_blocks.0.attentions.1"]
    assert result("prompt_region_positive_cond:rp")["conditioning"]["mask"] is not None
    assert len(result("pos_cond_collect:pcc")["collection"]) == 2


def upload_png(client: TestClient, picture: Image.Image, category: str = "general") -> str:
    out = io.BytesIO()
    picture.save(out, format="PNG")
    files = {"file": ("canvas.png", out.getvalue(), "image/png")}
    response = client.post("/api/v1/images/upload", params={"image_category": category, "is_intermediate": "true"},
                           files=files)
    return ok(response, 201)["image_name"]


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    values = list(ImageChops.difference(a.convert("RGB"), b.convert("RGB")).convert("L").getdata())
    return sum(values) / len(values)


def test_canvas_image_to_image_keeps_the_look_of_the_initial_image(ui: t.Any) -> None:
    client, models = ui
    width, height = 256, 192
    initial_name, _, initial, _ = canvas_images(client, width, height)

    def generate(strength: float) -> Image.Image:
        g = ui_graphs.sd1_image_to_image(models["sd1"], initial_name, width=width, height=height, strength=strength)
        graph = g.output(g.nodes["l2i:i"])
        item = enqueue_and_run(client, ui_graphs.linear_batch(graph, "a stone wall", seeds=[8], origin="canvas",
                                                              destination="canvas"))[0]
        return output_image(client, item, "l2i:i")[1]

    light, strong = generate(0.3), generate(0.9)
    assert light.size == (width, height)
    # the lower the strength, the closer to the initial image; neither is the image itself
    assert 1 < mean_difference(light, initial) < mean_difference(strong, initial)


def test_canvas_outpaint_fills_the_transparent_part_and_keeps_the_rest(ui: t.Any) -> None:
    client, models = ui
    width, height = 256, 192
    initial = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    ImageDraw.Draw(initial).rectangle([0, 0, width // 2 - 1, height - 1], fill=(30, 90, 160, 255))
    initial_name = upload_png(client, initial)
    mask_name = upload_png(client, Image.new("RGBA", (width, height), (255, 255, 255, 255)), "mask")
    g, blend = ui_graphs.sd1_outpaint(models["sd1"], initial_name, mask_name, width=width, height=height)
    item = enqueue_and_run(client, ui_graphs.linear_batch(g.output(blend), "a seaside cliff", seeds=[4],
                                                          origin="canvas", destination="canvas"))[0]
    dto, picture = output_image(client, item, blend["id"])
    picture = picture.convert("RGBA")
    assert picture.size == (width, height) and dto["is_intermediate"] is False
    kept = picture.crop((0, 0, width // 4, height))
    assert set(kept.getdata()) == {(30, 90, 160, 255)}  # far from the new part, the initial pixels stay
    filled = picture.crop((width * 3 // 4, 0, width, height))
    assert min(alpha for *_, alpha in filled.getdata()) == 255  # nothing left transparent
    assert len(set(filled.getdata())) > 20  # a picture, not a flat fill


def test_sdxl_with_the_refiner_refines_the_base_picture(ui: t.Any) -> None:
    client, models = ui

    def generate(refined: bool) -> tuple[dict, Image.Image]:
        g = ui_graphs.sdxl(models["sdxl"], width=512, height=384)
        if refined:
            g = ui_graphs.with_refiner(g, models["refiner"], start=0.8)
        item = enqueue_and_run(client, ui_graphs.linear_batch(g.output(g.nodes["l2i:i"]), "a harbour at dawn",
                                                              seeds=[31]))[0]
        return output_image(client, item, "l2i:i")

    _, base = generate(False)
    dto, refined = generate(True)
    assert refined.size == (512, 384) and in_gallery(client, dto["image_name"])
    assert ok(client.get(f"/api/v1/images/i/{dto['image_name']}/metadata"))["refiner_start"] == 0.8
    # the refiner repaints the last 20 %: close to the base picture, not the same
    assert 0 < mean_difference(refined, base) < 40


def test_canvas_flux_fill_repaints_the_painted_mask_and_keeps_the_rest(ui: t.Any) -> None:
    client, models = ui
    width, height = 256, 192
    _, _, initial, _ = canvas_images(client, width, height)
    initial_name = upload_png(client, initial.convert("RGBA"))  # the canvas composite is RGBA
    painted = Image.new("RGBA", (width, height), (0, 0, 0, 0))  # the canvas inpaint mask: painted = opaque
    ImageDraw.Draw(painted).rectangle([width // 4, height // 4, width * 3 // 4, height * 3 // 4],
                                      fill=(255, 0, 0, 255))
    mask_name = upload_png(client, painted, "mask")
    g, blend = ui_graphs.flux_fill_inpaint(models, initial_name, mask_name, width=width, height=height)
    item = enqueue_and_run(client, ui_graphs.linear_batch(g.output(blend), "a stone wall", seeds=[6],
                                                          origin="canvas", destination="canvas"))[0]
    for source in (blend["id"], "flux_vae_decode:i"):  # the Fill model itself keeps what is outside its mask
        _, picture = output_image(client, item, source)
        difference = ImageChops.difference(picture.convert("RGB"), initial).convert("L")
        inside = difference.crop((width // 4 + 24, height // 4 + 24, width * 3 // 4 - 24, height * 3 // 4 - 24))
        outside = difference.crop((0, 0, width, height // 8))
        assert max(inside.getdata()) > 60 and max(outside.getdata()) <= 8, source
