"""InvokeAI's own web UI (the 6.8.1 frontend from the `invokeai` wheel, unchanged) in headless
Chromium against a live `mockserver serve --api invokeai --invokeai-ui DIR`.

The page stays open for the whole module, as a user's would: the tests run in order and each builds
on what the previous one left (models installed, images generated, boards made). For the whole
session every console error, uncaught exception, failed request and 4xx/5xx answer is recorded, and
after each test there must be none (`PageProblems`; its allow-list is empty: the real server fails
none of the requests the UI makes here).

Waits are Playwright's auto-waiting with generous timeouts, never sleeps: the machine may be slow.
"""

from __future__ import annotations

import json
import re
import time
import typing as t

import httpx
import pytest
from depth import is_deep
from invokeai_ui_support import PageProblems, launch_chromium, throttle_when_asked, ui_bundle
from live import REPO, serve
from playwright.sync_api import Locator, Page, expect, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

pytestmark = pytest.mark.live

VIEWPORT = {"width": 1280, "height": 800}
TIMEOUT_MS = 60_000  # any one wait in the page; generous, since CI machines can be slow
MODELS = "/api/v2/models"
SD15 = ("Lykon/dreamshaper-8", "dreamshaper-8")  # starter source, installed name
SDXL = ("Lykon/dreamshaper-xl-v2-turbo", "dreamshaper-xl-v2-turbo")
QUICK_WORKFLOW_OPENS = 3  # default workflows opened in the editor at the quick depth (all 14 when deep)
THUMBNAILS = "[data-testid='virtuoso-item-list'] img[src$='/thumbnail']"  # the gallery grid's `api/v1/images/i/<name>/thumbnail`


@pytest.fixture(scope="module")
def base() -> t.Iterator[str]:
    with serve("--api", "invokeai", "--seed", "7", "--invokeai-ui", str(ui_bundle())) as url:
        yield url


@pytest.fixture(scope="module")
def api(base: str) -> t.Iterator[httpx.Client]:
    with httpx.Client(base_url=base, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def problems(base: str) -> PageProblems:
    # The community edition has no videos: the real 6.8.1 server answers 501 here too, and the UI
    # asks for video ids whenever it refreshes a board's gallery.
    return PageProblems(base=base, allowed={("GET", "/api/v1/videos/ids"): "501 on the real server (no videos)"})


@pytest.fixture(scope="module")
def page(base: str, problems: PageProblems) -> t.Iterator[Page]:
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            # A laptop's screen: Chromium paints in software here, and every frame costs by its
            # pixels (1280x800 takes a sixth less of the module's CPU than 1600x1000 did).
            context = browser.new_context(viewport=VIEWPORT)
            context.set_default_timeout(TIMEOUT_MS)
            expect.set_options(timeout=TIMEOUT_MS)
            page = context.new_page()
            throttle_when_asked(context, page)
            problems.watch(page)
            yield page
        finally:
            browser.close()


@pytest.fixture(autouse=True)
def no_problems(problems: PageProblems) -> t.Iterator[None]:
    """Whatever a test does, the page must not have seen an error by its end."""
    yield
    assert problems.seen == [], "\n".join(problems.seen)


def install(api: httpx.Client, source: str) -> dict:
    job = api.post(f"{MODELS}/install", params={"source": source}, json={})
    assert job.status_code == 201, job.text
    return job.json()


def test_the_ui_loads_with_every_node_template(page: Page, base: str) -> None:
    page.goto(base + "/")
    expect(page.get_by_role("button", name="Invoke", exact=True)).to_be_visible()
    expect(page.get_by_text("Generate images from text prompts.")).to_be_visible()  # the launchpad
    expect(page.get_by_text("Problem retrieving OpenAPI Schema")).to_have_count(0)
    expect(page.get_by_test_id("add-board-button")).to_be_visible()
    # The "What's New" popover opens over the lower tab buttons until it is closed, as for a new user.
    assert close_whats_new(page), "no What's New popover for a new user"


def test_generate_with_sdxl_then_sd15_puts_images_in_the_gallery(page: Page, api: httpx.Client) -> None:
    # Installs and generations finish by the time the call that starts them answers: nothing here
    # is about progress, and the UI shows the same results at either pace.
    api.put("/__mock__/packs/invokeai/settings", json={"model_speed": "instant", "queue_speed": "instant"}
            ).raise_for_status()
    for source, _ in (SDXL, SD15):
        install(api, source)
    thumbnails = page.locator(THUMBNAILS)
    expect(page.get_by_role("button", name="Invoke", exact=True)).to_be_visible()
    before = thumbnails.count()
    for number, (_, name) in enumerate((SDXL, SD15), start=1):
        choose_main_model(page, name)
        page.get_by_placeholder("Prompt").or_(page.locator("textarea").first).first.fill(f"a red fox, take {number}")
        page.get_by_role("button", name="Invoke", exact=True).click()
        expect(thumbnails).to_have_count(before + number)
    newest = api.get("/api/v1/images/", params={"limit": 2}).json()["items"]
    made_with = [api.get(f"/api/v1/images/i/{image['image_name']}/metadata").json()["model"]["name"] for image in newest]
    assert made_with == [SD15[1], SDXL[1]]  # newest first: each picture from the model picked for it


def choose_main_model(page: Page, name: str) -> None:
    """Pick a main model in the Generation panel's model picker (a popover list of names)."""
    picker = page.get_by_test_id("generation-accordion").get_by_role("button").filter(has_text="dreamshaper").first
    expect(picker).to_be_visible()
    if name not in picker.inner_text():
        picker.click()
        page.get_by_text(name, exact=True).filter(visible=True).last.click()
    expect(picker).to_contain_text(name)


def eventually(check: t.Callable[[], bool], what: str, timeout: float = TIMEOUT_MS / 1000) -> None:
    """What the UI asked the server for has happened (the UI answers before its request lands)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(0.1)


def boards(api: httpx.Client) -> dict[str, dict]:
    return {board["board_name"]: board for board in api.get("/api/v1/boards/", params={"all": "true"}).json()}


def close_menus(page: Page) -> bool:
    """Escape until no menu is open; reload the page if a menu stays (then True).

    After a menu item is chosen, the UI can leave the gallery's context menu in the page, drawn with
    its items and taking the clicks meant for what is under it, where no Escape reaches it. Slow
    machines do it now and then (CI's; this one's under load). Nothing closes it but a reload, as a
    user would do. The page comes back as it was (the UI keeps its state on the server), but for
    the "What's New" popover, which a new page may show again."""
    open_menus = page.locator("[role='menu']:visible")
    for _ in range(3):
        page.keyboard.press("Escape")
        try:
            expect(open_menus).to_have_count(0, timeout=5_000)
            return False
        except AssertionError:
            continue
    page.reload()
    expect(page.get_by_role("button", name="Invoke", exact=True)).to_be_visible()
    close_whats_new(page, shown_within_ms=10_000)  # unless the UI had saved its closing
    expect(open_menus).to_have_count(0)
    return True


def choose_in_image_menu(page: Page, image: Locator, *path: str) -> None:
    """Right-click a gallery image and choose `path` in its menu (the items before the last open
    submenus). The choice is made again when its item never shows (a submenu closed under the
    pointer) or when the menu stays over the page afterwards: close_menus reloads the page then,
    which also forgets what the choice did in the page (the tab's chosen image)."""
    for _ in range(3):
        image.click(button="right")
        for item in path[:-1]:
            open_submenu(page, item)
        try:
            page.get_by_role("menuitem", name=path[-1], exact=True).click(timeout=10_000)
        except PlaywrightTimeoutError:
            close_menus(page)
            continue
        if not close_menus(page):
            return
    raise AssertionError(f"could not choose {' > '.join(path)} in the image menu, three tries")


def open_submenu(page: Page, name: str) -> None:
    """Open the submenu of the menu item `name`.

    The UI opens a submenu when the pointer enters its item and closes it when the pointer leaves.
    Once on CI, a hover left the submenu shut for a minute (the menu still moving into place, its
    item sliding from under the pointer, would do it). So when the submenu is not open soon, the
    pointer leaves and comes back to where the item is now. (Clicking the item would not do: it
    toggles the submenu, and the pointer's arrival has opened it by then.)"""
    item = page.get_by_role("menuitem", name=name, exact=True)
    expanded = item.locator("[aria-expanded]")
    for _ in range(3):
        item.hover()
        try:
            expect(expanded).to_have_attribute("aria-expanded", "true", timeout=5_000)
            return
        except AssertionError:
            page.mouse.move(0, 0)
    raise AssertionError(f"the submenu of {name} never opened")


def press_enter_on(button: Locator) -> None:
    """Press Enter on a dialog's button once it is enabled. The delete-board dialog shows its
    buttons loading (disabled) while it fetches the board's image names, and Enter on a disabled
    button does nothing (a click would have waited; a key press does not): two runs lost a board
    deletion so."""
    expect(button).to_be_enabled()
    button.press("Enter")


def close_whats_new(page: Page, shown_within_ms: float = TIMEOUT_MS) -> bool:
    """Close the "What's New" popover over the lower tab buttons if it shows in time; whether it did."""
    whats_new = page.get_by_role("dialog", name="What's New in Invoke v6.8.1")
    try:
        expect(whats_new).to_be_visible(timeout=shown_within_ms)
    except AssertionError:
        return False
    whats_new.get_by_label("Close").click()
    expect(whats_new).to_be_hidden()
    return True


def test_boards_create_select_star_move_delete(page: Page, api: httpx.Client) -> None:
    thumbnails = page.locator(THUMBNAILS)
    page.get_by_test_id("add-board-button").click()
    board_entry = page.get_by_text("My Board", exact=True).first
    expect(board_entry).to_be_visible()
    assert "My Board" in boards(api)

    page.get_by_text("Uncategorized", exact=True).first.click()
    expect(thumbnails).to_have_count(2)  # the two generated images
    # The older, SDXL picture (1024x1024) is starred, comes first, and goes to the board; the SD1.5
    # one (512x512) stays for the upscaling and canvas tests, whose work grows with the picture's size.
    # Starred by the gallery's hotkey. Menus are used as little as the UI allows, and by keyboard
    # once one is up: the UI can leave a menu behind over the page (see close_menus).
    thumbnails.last.click()  # selects it; the gallery now takes its hotkeys
    page.keyboard.press(".")  # Star/Unstar Image
    eventually(lambda: any(image["starred"] for image in api.get("/api/v1/images/", params={"limit": 10}).json()["items"]),
               "an image starred")
    starred = api.get("/api/v1/images/", params={"limit": 1}).json()["items"][0]["image_name"]
    expect(thumbnails.first).to_have_attribute("src", re.compile(re.escape(starred)))  # starred first

    thumbnails.first.click(button="right")
    page.get_by_role("menuitem", name="Change Board").click()
    dialog = page.get_by_role("alertdialog")
    board_choice = dialog.get_by_role("combobox")  # react-select's input: typing filters its options
    board_choice.press_sequentially("My Board")
    board_choice.press("Enter")
    expect(dialog).to_contain_text("My Board")
    press_enter_on(dialog.get_by_role("button", name="Move", exact=True))
    expect(dialog).to_be_hidden()
    close_menus(page)
    page.get_by_text("Uncategorized", exact=True).first.click()  # still shown, or again after a reload
    expect(thumbnails).to_have_count(1)  # one left in Uncategorized
    board_entry.click()
    expect(thumbnails).to_have_count(1)  # and it is in My Board
    eventually(lambda: boards(api)["My Board"]["image_count"] == 1, "My Board holding the moved image")

    board_entry.click(button="right")
    page.get_by_role("menuitem", name="Delete Board").click()
    press_enter_on(page.get_by_role("button", name="Delete Board and Images"))
    close_menus(page)
    expect(page.get_by_text("My Board", exact=True)).to_have_count(0)
    eventually(lambda: "My Board" not in boards(api), "My Board deleted")
    assert api.get("/api/v1/images/", params={"limit": 10}).json()["total"] == 1  # its image went with it


def default_workflow_node_types() -> dict[str, set[str]]:
    """The node types of each default workflow the pack ships (the 14 of 6.8.1), by name."""
    found = {}
    for path in sorted((REPO / "fixtures" / "invokeai" / "default_workflows").glob("*.json")):
        workflow = json.loads(path.read_text(encoding="utf-8"))
        found[workflow["name"]] = {node["data"]["type"] for node in workflow["nodes"] if "type" in node.get("data", {})}
    return found


def workflows_to_open() -> list[str]:
    """Every default workflow in the deep run. At the quick depth, the three that hold the most node
    types between them (chosen greedily, most new types first: 40 of the 58 any default workflow
    uses, in the three largest graphs, 84 nodes and 138 edges): each open costs Chromium seconds of
    React. That every one of the 14 would load cleanly (known node types at their template's version,
    no missing or unexpected field, every edge drawn) is checked without a browser for all of them
    in tests/packs/invokeai/test_default_workflows.py."""
    types = default_workflow_node_types()
    if is_deep():
        return sorted(types)
    chosen: list[str] = []
    left = set().union(*types.values())
    while left and len(chosen) < QUICK_WORKFLOW_OPENS:
        best = max(sorted(types), key=lambda name: len(types[name] & left))
        chosen.append(best)
        left -= types[best]
    return chosen


@pytest.mark.parametrize("name", workflows_to_open())
def test_a_default_workflow_opens_in_the_editor_with_every_edge(page: Page, api: httpx.Client, name: str) -> None:
    listed = api.get("/api/v1/workflows/", params={"categories": "default", "per_page": 50}).json()["items"]
    (record,) = [item for item in listed if item["name"] == name]
    workflow = api.get(f"/api/v1/workflows/i/{record['workflow_id']}").json()["workflow"]
    page.get_by_test_id("Workflows").click()
    page.get_by_text("Launchpad", exact=True).click()
    page.get_by_text("Browse Workflow Templates").click()
    page.get_by_text(name, exact=True).click()
    confirm = page.get_by_role("alertdialog").get_by_role("button", name="Load", exact=True)
    if confirm.is_visible():  # the editor held the previous workflow, edited by loading
        confirm.click()
    page.get_by_text("Workflow Editor", exact=True).click()
    expect(page.locator("[data-testid^='rf__node-']")).to_have_count(len(workflow["nodes"]))
    expect(page.locator("[data-testid^='rf__edge-']")).to_have_count(len(workflow["edges"]))
    expect(page.get_by_text("Missing field")).to_have_count(0)


def test_a_starter_model_installs_from_the_models_tab(page: Page, api: httpx.Client) -> None:
    name = "FLUX.1 schnell (quantized)"  # a main model with three dependencies (T5, CLIP, VAE)
    page.get_by_test_id("Models").click()
    page.get_by_role("tab", name="Starter Models").click()
    page.get_by_role("tabpanel").get_by_placeholder("Search").fill("schnell (quantized)")
    row = page.get_by_text(name, exact=True).locator("xpath=ancestor::*[.//button][1]")
    row.get_by_role("button", name="Install").click()
    eventually(lambda: name in {model["name"] for model in api.get(f"{MODELS}/").json()["models"]},
               f"{name} installed")
    # the Model Manager's list shows it beside the starter row, with its dependencies
    expect(page.get_by_text(name, exact=True)).to_have_count(2)
    expect(page.get_by_text("clip-vit-large-patch14", exact=True)).to_be_visible()
    expect(page.get_by_text("t5_bnb_int8_quantized_encoder", exact=True)).to_be_visible()


UPSCALE_MODELS = ("https://github.com/xinntao/Real-ESRGAN/releases/download/v0.2.1/RealESRGAN_x2plus.pth",
                  "lllyasviel/control_v11f1e_sd15_tile", "xinsir/controlnet-tile-sdxl-1.0")  # upscaler, tile ControlNets


def test_upscale_a_gallery_image_from_the_upscaling_tab(page: Page, api: httpx.Client) -> None:
    for source in UPSCALE_MODELS:
        install(api, source)
    page.get_by_test_id("Generate").click()
    page.get_by_text("Uncategorized", exact=True).first.click()
    thumbnails = page.locator(THUMBNAILS)
    expect(thumbnails).to_have_count(1)
    source_image = newest_image(api)
    choose_in_image_menu(page, thumbnails.first, "Send To Upscale")
    expect(page.get_by_text("Ready to upscale!")).to_be_visible()
    expect(page.get_by_text("RealESRGAN_x2plus").first).to_be_visible()
    page.get_by_role("button", name="Invoke", exact=True).click()
    expect(thumbnails).to_have_count(2)
    newest = newest_image(api)
    assert newest["image_name"] != source_image["image_name"]
    assert newest["width"] == 4 * source_image["width"]  # the panel's default scale, 4x


def newest_image(api: httpx.Client) -> dict:
    return api.get("/api/v1/images/", params={"limit": 1, "starred_first": "false"}).json()["items"][0]


def test_canvas_inpaint_of_a_gallery_image_completes(page: Page, api: httpx.Client) -> None:
    page.get_by_test_id("Generate").click()
    # As a raster layer resized to the bbox: the image fills it.
    choose_in_image_menu(page, page.locator(THUMBNAILS).first, "New Canvas from Image", "As Raster Layer (Resize)")
    layer_drawn(page, "raster_layer")
    page.get_by_test_id("control-layers-add-layer-menu-button").click()
    page.get_by_role("menuitem", name="Inpaint Mask").click()
    canvas_settled(page)
    paint_the_mask(page)
    canvas_settled(page)
    before = {item["item_id"] for item in queue_items(api)}
    page.get_by_role("button", name="Invoke", exact=True).click()
    eventually(lambda: [item["status"] for item in queue_items(api) if item["item_id"] not in before] == ["completed"],
               "the canvas item completed")
    (item,) = [item for item in queue_items(api) if item["item_id"] not in before]
    assert item["origin"] == "canvas" and item["destination"].startswith("canvas:"), item
    expect(page.get_by_text("1 of 1")).to_be_visible()  # the staging area holds the result
    session = api.get(f"/api/v1/queue/default/i/{item['item_id']}").json()["session"]
    node_types = {node["type"] for node in session["graph"]["nodes"].values()}
    assert {"create_gradient_mask", "apply_mask_to_image"} <= node_types, sorted(node_types)  # the inpaint graph


def layer_drawn(page: Page, kind: str, timeout: float = TIMEOUT_MS) -> None:
    """The layer list's preview of a `kind` layer shows pixels: its image is loaded and its bounds
    known, and the canvas has fitted the stage to it. A stroke drawn before that can be dropped
    while the stage changes under it."""
    expect(page.locator(f'[data-entity-id^="{kind}:"] canvas[width]')).to_have_count(1, timeout=timeout)


def canvas_settled(page: Page) -> None:
    """The canvas shows a spinner while it rasterizes or composites layers; a stroke drawn, or a
    graph built, meanwhile can miss what is still being drawn (seen on a loaded machine)."""
    expect(page.locator(".chakra-spinner")).to_have_count(0)


STROKE_SHOWS_MS = 5_000  # a kept stroke is in the mask's preview in under a second, even on a loaded machine
STROKES = 8


def paint_the_mask(page: Page) -> None:
    """A brush stroke on the inpaint mask, and the mask's preview in the layer list showing it: only
    then does the UI build its graph from a mask with something in it (else it is an img2img graph).
    A stroke the canvas drops (seen once in a while on a loaded machine) is drawn again, as a user
    would; a stroke that only shows late is harmless to draw over, so each wait can be short."""
    for _ in range(STROKES):
        paint_a_stroke(page)
        try:
            layer_drawn(page, "inpaint_mask", timeout=STROKE_SHOWS_MS)
            return
        except AssertionError:
            continue
    raise AssertionError(f"{STROKES} brush strokes, and the inpaint mask's preview still shows nothing")


def paint_a_stroke(page: Page) -> None:
    """The brush (`b`) dragged across the middle of the canvas, on the selected inpaint mask."""
    box = page.get_by_test_id("control-layers-canvas").bounding_box()
    assert box is not None
    page.get_by_label("Brush (B)").or_(page.get_by_label("Brush")).first.click()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x - 80, y, steps=4)
    page.mouse.down()
    page.mouse.move(x + 80, y + 20, steps=20)
    page.mouse.up()



def queue_items(api: httpx.Client) -> list[dict]:
    return api.get("/api/v1/queue/default/list_all").json()
