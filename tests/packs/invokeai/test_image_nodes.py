"""InvokeAI's image, mask, infill, colour, processor and tile nodes (`image_nodes.IMAGE_NODES`).

Each runner is called directly with an in-memory gallery, then a few graphs go through the
queue. Facts: the InvokeAI 6.8.1 invocation sources (image.py, mask.py, infill.py, tiles.py and
backend/tiles, composition-nodes.py, create_gradient_mask.py, facetools.py, upscale.py) for what
each node computes, and the upstream OpenAPI document (via the node catalogue) for the output
types and fields.
"""

from __future__ import annotations

import functools
import io
import random
import typing as t

import numpy as np
import pytest
from invokeai_support import QUEUE, edge, enqueue, graph, node, ok, queue_item, set_speed, uploaded
from PIL import Image

from mockserver.packs.invokeai.catalogue import load_catalogue
from mockserver.packs.invokeai.image_nodes import IMAGE_NODES
from mockserver.packs.invokeai.runners.context import NodeFailed, RunContext
from mockserver.packs.invokeai.runners.registry import run_node, runners


class Gallery:
    """A RunContext over an in-memory gallery, with helpers to put and read images."""

    def __init__(self, models: dict[str, dict] | None = None) -> None:
        self.images: dict[str, bytes] = {}
        self.intermediate: dict[str, bool] = {}
        self.ctx = RunContext(save_image=self._save, load_image=self._load, model=(models or {}).get,
                              rng=random.Random(7))

    def _save(self, picture: Image.Image, node_: dict | None, node_id: str | None, category: str = "general") -> dict:
        name = f"image-{len(self.images)}.png"
        out = io.BytesIO()
        picture.save(out, format="PNG")
        self.images[name] = out.getvalue()
        self.intermediate[name] = bool((node_ or {}).get("is_intermediate"))
        return {"image_name": name}

    def _load(self, name: str) -> Image.Image:
        return Image.open(io.BytesIO(self.images[name]))

    def put(self, picture: Image.Image) -> dict:
        return self._save(picture, None, None)

    def get(self, ref: dict) -> Image.Image:
        return self._load(ref["image_name"])

    def run(self, node_type: str, **fields: t.Any) -> dict:
        return IMAGE_NODES[node_type](self.ctx, {"id": f"{node_type}-1", "type": node_type, **fields})

    def fail(self, node_type: str, **fields: t.Any) -> NodeFailed:
        """The failure run_node reports for the node (what the queue item shows)."""
        with pytest.raises(NodeFailed) as failure:
            run_node(self.ctx, {"id": f"{node_type}-1", "type": node_type, **fields})
        return failure.value

    def pixels(self, output: dict, mode: str | None = None) -> np.ndarray:
        picture = self.get(output["image"])
        return np.asarray(picture.convert(mode) if mode else picture)


@pytest.fixture
def gallery() -> Gallery:
    upscaler = {"key": "upscaler", "name": "2x-AnimeSharpV4", "type": "spandrel_image_to_image"}
    return Gallery(models={"upscaler": upscaler})


def solid(color: tuple[int, ...], width: int = 64, height: int = 48, mode: str = "RGB") -> Image.Image:
    return Image.new(mode, (width, height), color)


def noisy(width: int = 64, height: int = 48, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB")


def with_hole(picture: Image.Image, box: tuple[int, int, int, int]) -> Image.Image:
    """The image as RGBA with the box made fully transparent."""
    values = np.array(picture.convert("RGBA"))
    values[box[1]:box[3], box[0]:box[2], 3] = 0
    return Image.fromarray(values, "RGBA")


def square_mask(width: int = 64, height: int = 48, box: tuple[int, int, int, int] = (16, 8, 48, 40),
                inside: int = 255) -> Image.Image:
    values = np.full((height, width), 255 - inside, dtype=np.uint8)
    values[box[1]:box[3], box[0]:box[2]] = inside
    return Image.fromarray(values, "L")


# ================================================================ every node: its declared output

@functools.cache
def declared_outputs() -> dict[str, tuple[str, set[str]]]:
    """Each node type's output type and fields, from the catalogue."""
    catalogue = load_catalogue()
    return {name: (catalogue.output_for(name).type, set(catalogue.output_for(name).fields) - {"output_meta"})
            for name in catalogue.node_types()}


TILE = {"coords": {"top": 0, "bottom": 48, "left": 0, "right": 64},
        "overlap": {"top": 0, "bottom": 0, "left": 0, "right": 0}}
BOX = {"x_min": 4, "y_min": 4, "x_max": 20, "y_max": 20, "score": None}


def inputs_for(node_type: str, g: Gallery) -> dict:
    """Inputs that make each node type run: an RGBA image with a hole, a mask, and what else it needs."""
    picture, plain = g.put(with_hole(noisy(), (4, 4, 12, 12))), g.put(noisy(seed=1))
    mask = g.put(square_mask())
    rectangle = {"width": 64, "height": 48, "x_left": 4, "y_top": 4, "rectangle_width": 10, "rectangle_height": 10}
    tensor = {"mask": g.run("rectangle_mask", **rectangle)["mask"]}
    special: dict[str, dict] = {
        "blank_image": {"width": 32, "height": 16},
        "img_resize": {"width": 32, "height": 16}, "img_crop": {"width": 32, "height": 16},
        "img_paste": {"base_image": plain, "mask": mask, "x": 5, "y": 5},
        "img_mul": {"image1": plain, "image2": plain}, "mask_combine": {"mask1": mask, "mask2": mask},
        "invokeai_img_blend": {"layer_upper": picture, "layer_base": plain, "mask": mask},
        "invokeai_img_composite": {"image_subject": picture, "image_background": plain},
        "color_correct": {"reference": plain, "mask": mask},
        "canvas_paste_back": {"source_image": plain, "target_image": picture, "mask": mask, "mask_blur": 2},
        "canvas_v2_mask_and_crop": {"source_image": plain, "generated_image": picture, "mask": mask},
        "paste_image_into_bounding_box": {"source_image": g.put(solid((255, 0, 0, 255), 16, 16, "RGBA")),
                                          "target_image": plain, "bounding_box": BOX},
        "crop_image_to_bounding_box": {"bounding_box": BOX},
        "mask_edge": {"image": mask, "edge_size": 4, "edge_blur": 2, "low_threshold": 100, "high_threshold": 200},
        "img_channel_offset": {"channel": "Red (RGBA)", "offset": 10},
        "img_channel_multiply": {"channel": "Hue (HSV)", "scale": 0.5},
        "rectangle_mask": rectangle, "mask_from_id": {"color": {"r": 0, "g": 0, "b": 0, "a": 255}},
        "invert_tensor_mask": tensor, "tensor_mask_to_image": tensor, "apply_tensor_mask_to_image": tensor,
        "tile_to_properties": {"tile": TILE}, "pair_tile_image": {"tile": TILE},
        "merge_tiles_to_image": {"tiles_with_images": [{"tile": TILE, "image": plain}]},
        "image_panel_layout": {"width": 100, "height": 80, "num_cols": 2, "num_rows": 2},
        "flux_kontext_image_prep": {"images": [plain, picture], "use_preferred_resolution": False},
        "spandrel_image_to_image": {"image_to_image_model": {"key": "upscaler"}},
        "spandrel_image_to_image_autoscale": {"image_to_image_model": {"key": "upscaler"}, "scale": 2.0},
        "segment_anything": {"model": "segment-anything-base", "bounding_boxes": [BOX]},
        "grounding_dino": {"model": "grounding-dino-tiny", "prompt": "a cat"},
        "cv_inpaint": {"mask": mask}, "expand_mask_with_fade": {"mask": mask}, "create_gradient_mask": {"mask": mask},
        "get_image_mask_bounding_box": {"mask": mask}, "apply_mask_to_image": {"mask": mask},
        "infill_tile": {"tile_size": 4},
    }
    return {"image": picture, **special.get(node_type, {})}


def image_refs(output: dict) -> list[dict]:
    return [value for value in output.values() if isinstance(value, dict) and "image_name" in value]


@pytest.mark.parametrize("node_type", sorted(IMAGE_NODES))
def test_every_image_node_answers_its_declared_output(gallery: Gallery, node_type: str) -> None:
    """The output type and its fields are the catalogue's; every image it names exists, and
    width/height are that image's size."""
    output = gallery.run(node_type, **inputs_for(node_type, gallery))
    output_type, fields = declared_outputs()[node_type]
    assert output["type"] == output_type
    assert set(output) - {"type"} == fields
    for ref in image_refs(output):
        assert ref["image_name"] in gallery.images
    if "image" in output and "width" in output:
        assert gallery.get(output["image"]).size == (output["width"], output["height"])


def test_every_image_node_is_in_the_registry() -> None:
    assert all(runners()[name] is runner for name, runner in IMAGE_NODES.items())
    assert set(IMAGE_NODES) <= set(declared_outputs())


# ================================================================ geometry

def test_resize_uses_the_chosen_resampling(gallery: Gallery) -> None:
    checker = gallery.put(Image.fromarray(np.array([[0, 255], [255, 0]], dtype=np.uint8), "L"))
    nearest = gallery.run("img_resize", image=checker, width=8, height=6, resample_mode="nearest")
    bicubic = gallery.run("img_resize", image=checker, width=8, height=6, resample_mode="bicubic")
    assert (nearest["width"], nearest["height"]) == (8, 6)
    assert set(np.unique(gallery.pixels(nearest))) == {0, 255}
    assert len(np.unique(gallery.pixels(bicubic))) > 2


def test_scale_multiplies_the_size(gallery: Gallery) -> None:
    output = gallery.run("img_scale", image=gallery.put(noisy(30, 20)), scale_factor=1.5, resample_mode="lanczos")
    assert (output["width"], output["height"]) == (45, 30)


def test_crop_outside_the_image_is_transparent(gallery: Gallery) -> None:
    output = gallery.run("img_crop", image=gallery.put(solid((200, 10, 10))), x=-4, y=0, width=8, height=4)
    values = gallery.pixels(output, "RGBA")
    assert (values[:, :4, 3] == 0).all()
    assert (values[:, 4:] == [200, 10, 10, 255]).all()


def test_center_pad_crop_grows_and_shrinks_sides(gallery: Gallery) -> None:
    output = gallery.run("img_pad_crop", image=gallery.put(solid((1, 2, 3), 20, 10)),
                         left=5, right=-3, top=-2, bottom=4)
    assert (output["width"], output["height"]) == (22, 12)
    values = gallery.pixels(output, "RGBA")
    assert (values[:, :5, 3] == 0).all() and (values[:8, 5:, 3] == 255).all()


def test_paste_puts_pixels_where_asked(gallery: Gallery) -> None:
    base = gallery.put(solid((0, 0, 255), 32, 32))
    patch = gallery.put(solid((255, 0, 0), 8, 8))
    values = gallery.pixels(gallery.run("img_paste", base_image=base, image=patch, x=10, y=4), "RGB")
    assert (values[4:12, 10:18] == [255, 0, 0]).all()
    assert (values[:4] == [0, 0, 255]).all() and (values[:, :10] == [0, 0, 255]).all()


def test_paste_at_a_negative_offset_grows_the_canvas_unless_cropping(gallery: Gallery) -> None:
    base, patch = gallery.put(solid((0, 0, 255), 32, 32)), gallery.put(solid((255, 0, 0), 8, 8))
    grown = gallery.run("img_paste", base_image=base, image=patch, x=-4, y=-2)
    assert (grown["width"], grown["height"]) == (36, 34)
    cropped = gallery.run("img_paste", base_image=base, image=patch, x=-4, y=-2, crop=True)
    assert (cropped["width"], cropped["height"]) == (32, 32)


def test_paste_mask_keeps_the_pasted_image_where_black(gallery: Gallery) -> None:
    base, patch = gallery.put(solid((0, 0, 255), 16, 16)), gallery.put(solid((255, 0, 0), 16, 16))
    mask = np.zeros((16, 16), dtype=np.uint8)
    mask[:, 8:] = 255
    values = gallery.pixels(gallery.run("img_paste", base_image=base, image=patch,
                                        mask=gallery.put(Image.fromarray(mask, "L"))), "RGB")
    assert (values[:, :8] == [255, 0, 0]).all() and (values[:, 8:] == [0, 0, 255]).all()


def test_kontext_prep_puts_images_side_by_side_at_a_preferred_resolution(gallery: Gallery) -> None:
    first, second = gallery.put(solid((255, 0, 0), 64, 64)), gallery.put(solid((0, 255, 0), 32, 64))
    output = gallery.run("flux_kontext_image_prep", images=[first, second])
    assert (output["width"], output["height"]) == (1024 + 512, 1024)
    values = gallery.pixels(output, "RGB")
    assert (values[500, 10] == [255, 0, 0]).all() and (values[500, 1300] == [0, 255, 0]).all()


# ================================================================ pixels

def test_blur_changes_pixels_but_not_size(gallery: Gallery) -> None:
    picture = noisy()
    output = gallery.run("img_blur", image=gallery.put(picture), radius=3)
    values = gallery.pixels(output, "RGB").astype(int)
    assert (output["width"], output["height"]) == picture.size
    assert values.std() < np.asarray(picture).std() / 2


def test_blur_does_not_bleed_the_colour_of_transparent_pixels(gallery: Gallery) -> None:
    values = np.zeros((16, 32, 4), dtype=np.uint8)
    values[:, :16] = [255, 0, 0, 255]
    values[:, 16:] = [0, 255, 0, 0]  # green, but invisible
    output = gallery.run("img_blur", image=gallery.put(Image.fromarray(values, "RGBA")), radius=4)
    near_edge = gallery.pixels(output, "RGBA")[8, 14]
    assert near_edge[0] > 240 and near_edge[1] < 10


def test_unsharp_mask_raises_local_contrast(gallery: Gallery) -> None:
    step = np.zeros((16, 16, 3), dtype=np.uint8)
    step[:, 8:] = 200
    step[:, :8] = 50
    values = gallery.pixels(gallery.run("unsharp_mask", image=gallery.put(Image.fromarray(step)), strength=100), "RGB")
    assert values[8, 7, 0] < 50 and values[8, 8, 0] > 200


def test_channel_extract_convert_and_multiply(gallery: Gallery) -> None:
    picture = gallery.put(solid((10, 20, 30)))
    assert (gallery.pixels(gallery.run("img_chan", image=picture, channel="G")) == 20).all()
    assert gallery.fail("img_chan", image=picture, channel="A").message == 'The image has no channel "A"'
    assert gallery.get(gallery.run("img_conv", image=picture, mode="L")["image"]).mode == "L"
    unsaved = gallery.fail("img_conv", image=picture, mode="CMYK")  # PNG cannot hold CMYK
    assert (unsaved.error_type, unsaved.message) == ("ImageFileSaveException", "Image file not saved")
    half_red = gallery.pixels(gallery.run("img_channel_multiply", image=picture, channel="Red (RGBA)", scale=0.5))
    assert (half_red[..., 0] == 5).all() and (half_red[..., 1] == 20).all()
    inverted = gallery.pixels(gallery.run("img_channel_multiply", image=picture, channel="Blue (RGBA)",
                                          scale=1.0, invert_channel=True))
    assert (inverted[..., 2] == 225).all()
    offset = gallery.pixels(gallery.run("img_channel_offset", image=picture, channel="Green (RGBA)", offset=250))
    assert (offset[..., 1] == 255).all()


def test_lerp_and_inverse_lerp_map_ranges(gallery: Gallery) -> None:
    ramp = gallery.put(Image.fromarray(np.array([[0, 128, 255]], dtype=np.uint8), "L"))
    assert gallery.pixels(gallery.run("img_lerp", image=ramp, min=100, max=200)).tolist() == [[100, 150, 200]]
    assert gallery.pixels(gallery.run("img_ilerp", image=ramp, min=0, max=128)).tolist() == [[0, 255, 255]]


def test_multiply_images(gallery: Gallery) -> None:
    output = gallery.run("img_mul", image1=gallery.put(solid((255, 128, 0))),
                         image2=gallery.put(solid((128, 128, 128))))
    assert gallery.pixels(output)[0, 0].tolist() == [128, 64, 0]


def test_hue_adjust_rotates_hue(gallery: Gallery) -> None:
    red = gallery.put(solid((255, 0, 0)))
    assert gallery.pixels(gallery.run("img_hue_adjust", image=red, hue=120), "RGB")[0, 0].argmax() == 1


def test_noise_is_seeded_and_respects_the_mask(gallery: Gallery) -> None:
    picture = gallery.put(solid((128, 128, 128)))
    first = gallery.pixels(gallery.run("img_noise", image=picture, seed=5, amount=0.5))
    again = gallery.pixels(gallery.run("img_noise", image=picture, seed=5, amount=0.5))
    other = gallery.pixels(gallery.run("img_noise", image=picture, seed=6, amount=0.5))
    assert (first == again).all() and not (first == other).all()
    masked = gallery.pixels(gallery.run("img_noise", image=picture, seed=5, amount=0.5,
                                        mask=gallery.put(square_mask(inside=0))), "RGB")
    assert (masked[0, 0] == 128).all()  # white: no noise
    assert masked[8:40, 16:48].std() > 10  # black: noise


def test_enhance_and_thresholds(gallery: Gallery) -> None:
    grey = gallery.put(solid((100, 100, 100)))
    brighter = gallery.pixels(gallery.run("invokeai_img_enhance", image=grey, brightness=2.0))
    assert brighter[0, 0, 0] == 200
    inverted = gallery.pixels(gallery.run("invokeai_img_enhance", image=grey, invert=True))
    assert inverted[0, 0, 0] == 155
    ramp = gallery.put(Image.fromarray(np.tile(np.array([10, 100, 140, 250], dtype=np.uint8), (8, 2)), "L"))
    cut = gallery.pixels(gallery.run("invokeai_img_val_thresholds", image=ramp,
                                     threshold_upper=0.5, threshold_lower=0.5))
    assert cut[0].tolist() == [0, 0, 255, 255] * 2
    banded = gallery.pixels(gallery.run("invokeai_img_val_thresholds", image=ramp, threshold_upper=0.8,
                                        threshold_lower=0.2, renormalize_values=True))
    assert banded[0, :4].tolist() == [0, 81, 148, 255]  # (v - 0.2) / 0.6 in the band, truncated
    trimmed = gallery.run("invokeai_img_val_thresholds", image=gallery.put(noisy(30, 21)))
    assert (trimmed["width"], trimmed["height"]) == (24, 16)  # InvokeAI's tensor grid: multiples of 8
    assert gallery.fail("invokeai_img_val_thresholds", image=gallery.put(noisy(30, 21)),
                        lightness_only=True).message == "images do not match"


def test_achromatic_lightness_is_the_lab_lightness(gallery: Gallery) -> None:
    picture = noisy()
    values = gallery.pixels(gallery.run("invokeai_ealightness", image=gallery.put(picture))).astype(int)
    lightness = np.asarray(picture.convert("LAB").getchannel("L"), dtype=int)
    assert values.shape == lightness.shape and np.abs(values - lightness).max() <= 1


def test_dilate_grows_and_erode_shrinks_a_white_square(gallery: Gallery) -> None:
    mask = gallery.put(square_mask())
    white = (np.asarray(gallery.get(mask)) > 0).sum()
    grown = (gallery.pixels(gallery.run("invokeai_img_dilate_erode", image=mask, radius_w=2, radius_h=2)) > 0).sum()
    shrunk = (gallery.pixels(gallery.run("invokeai_img_dilate_erode", image=mask, radius_w=2, radius_h=2,
                                         mode="Erode")) > 0).sum()
    assert shrunk < white < grown


def test_dilate_uses_opencvs_ellipse(gallery: Gallery) -> None:
    dot = np.zeros((9, 9), dtype=np.uint8)
    dot[4, 4] = 255
    grown = gallery.pixels(gallery.run("invokeai_img_dilate_erode", image=gallery.put(Image.fromarray(dot, "L")),
                                       radius_w=2, radius_h=2)) > 0
    assert grown[2:7, 2:7].astype(int).tolist() == [[0, 0, 1, 0, 0], [1, 1, 1, 1, 1], [1, 1, 1, 1, 1],
                                                    [1, 1, 1, 1, 1], [0, 0, 1, 0, 0]]
    assert grown.sum() == 17


def test_huge_radii_and_edge_sizes_finish(gallery: Gallery) -> None:
    """Radii far past the image act as the whole image instead of stalling the server."""
    mask = gallery.put(square_mask())
    everything = gallery.pixels(gallery.run("invokeai_img_dilate_erode", image=mask, radius_w=10**6, radius_h=10**6))
    assert (everything == 255).all()
    edge = gallery.pixels(gallery.run("mask_edge", image=mask, edge_size=10**7, edge_blur=0,
                                      low_threshold=100, high_threshold=200))
    assert (edge == 0).all()
    failure = gallery.fail("calculate_image_tiles", image_width=10**6, image_height=10**6, tile_width=8,
                           tile_height=8, overlap=0)
    assert failure.error_type == "ValueError" and "tiles" in failure.message


def test_blend_multiply_and_mask(gallery: Gallery) -> None:
    base, upper = gallery.put(solid((200, 100, 50))), gallery.put(solid((128, 255, 0)))
    values = gallery.pixels(gallery.run("invokeai_img_blend", layer_base=base, layer_upper=upper,
                                        blend_mode="Multiply"), "RGB")
    assert np.abs(values[0, 0].astype(int) - [100, 100, 0]).max() <= 1
    masked = gallery.pixels(gallery.run("invokeai_img_blend", layer_base=base, layer_upper=upper, blend_mode="Normal",
                                        mask=gallery.put(square_mask())), "RGB")
    assert masked[20, 30].tolist() == [200, 100, 50]  # white mask hides the upper layer
    assert masked[0, 0].tolist() == [128, 255, 0]


def test_composite_removes_the_backdrop_by_flood_fill(gallery: Gallery) -> None:
    subject = np.zeros((48, 64, 3), dtype=np.uint8)
    subject[16:32, 24:40] = [255, 0, 0]
    output = gallery.run("invokeai_img_composite", image_subject=gallery.put(Image.fromarray(subject)),
                         image_background=gallery.put(solid((0, 0, 255))), fill_x=True, fill_y=True)
    values = gallery.pixels(output, "RGB")
    assert values[0, 0].tolist() == [0, 0, 255] and values[24, 32].tolist() == [255, 0, 0]


def test_watermark_is_invisible(gallery: Gallery) -> None:
    picture = noisy()
    values = gallery.pixels(gallery.run("img_watermark", image=gallery.put(picture), text="mock"), "RGB").astype(int)
    difference = np.abs(values - np.asarray(picture, dtype=int))
    assert difference.max() <= 1 and difference.sum() > 0


def test_nsfw_checker_passes_the_image_through(gallery: Gallery) -> None:
    picture = noisy()
    assert (gallery.pixels(gallery.run("img_nsfw", image=gallery.put(picture)), "RGB") == np.asarray(picture)).all()


# ================================================================ masks

def test_mask_combine_multiplies_as_the_real_node(gallery: Gallery) -> None:
    first = gallery.put(Image.fromarray(np.array([[255, 255, 128, 0]], dtype=np.uint8), "L"))
    second = gallery.put(Image.fromarray(np.array([[255, 128, 128, 255]], dtype=np.uint8), "L"))
    assert gallery.pixels(gallery.run("mask_combine", mask1=first, mask2=second)).tolist() == [[255, 128, 64, 0]]


def test_mask_from_alpha_and_invert(gallery: Gallery) -> None:
    picture = gallery.put(with_hole(noisy(), (0, 0, 10, 10)))
    mask = gallery.pixels(gallery.run("tomask", image=picture))
    assert mask[5, 5] == 0 and mask[20, 20] == 255
    assert gallery.pixels(gallery.run("tomask", image=picture, invert=True))[5, 5] == 255


def test_expand_mask_with_fade_ramps_up_from_black(gallery: Gallery) -> None:
    mask = np.zeros((8, 80), dtype=np.uint8)
    mask[:, 40:] = 255
    values = gallery.pixels(gallery.run("expand_mask_with_fade", mask=gallery.put(Image.fromarray(mask, "L")),
                                        fade_size_px=16))[4]
    assert (values[:40] == 0).all() and (values[60:] == 255).all()
    ramp = values[40:57].astype(int)
    assert (np.diff(ramp) >= 0).all() and 0 < ramp[8] < 255


def test_mask_from_id_picks_the_colour(gallery: Gallery) -> None:
    values = np.zeros((4, 4, 3), dtype=np.uint8)
    values[1, 1] = [250, 10, 10]
    output = gallery.run("mask_from_id", image=gallery.put(Image.fromarray(values)),
                         color={"r": 255, "g": 0, "b": 0, "a": 255}, threshold=30)
    assert (gallery.pixels(output) > 0).sum() == 1 and gallery.pixels(output)[1, 1] == 255


def test_mask_edge_marks_the_edge_band(gallery: Gallery) -> None:
    output = gallery.run("mask_edge", image=gallery.put(square_mask()), edge_size=4, edge_blur=0,
                         low_threshold=100, high_threshold=200)
    values = gallery.pixels(output)
    assert values[8, 30] < 128 and values[24, 32] == 255 and values[0, 0] == 255


def test_tensor_masks_round_trip(gallery: Gallery) -> None:
    rect = gallery.run("rectangle_mask", width=20, height=10, x_left=2, y_top=3, rectangle_width=5, rectangle_height=4)
    assert (rect["width"], rect["height"]) == (20, 10)
    image = gallery.pixels(gallery.run("tensor_mask_to_image", mask=rect["mask"]))
    assert (image[3:7, 2:7] == 255).all() and image.sum() == 255 * 20
    inverted = gallery.run("invert_tensor_mask", mask=rect["mask"])
    assert gallery.pixels(gallery.run("tensor_mask_to_image", mask=inverted["mask"])).sum() == 255 * 180
    applied = gallery.pixels(gallery.run("apply_tensor_mask_to_image", mask=rect["mask"],
                                         image=gallery.put(solid((9, 9, 9), 20, 10))), "RGBA")
    assert applied[4, 4, 3] == 255 and applied[0, 0, 3] == 0


def test_image_and_alpha_masks_to_tensors(gallery: Gallery) -> None:
    dark_square = gallery.put(square_mask(inside=0))
    tensor = gallery.run("image_mask_to_tensor", image=dark_square, cutoff=128)
    assert gallery.pixels(gallery.run("tensor_mask_to_image", mask=tensor["mask"]))[20, 30] == 255
    alpha = gallery.run("alpha_mask_to_tensor", image=gallery.put(with_hole(noisy(), (0, 0, 10, 10))))
    assert gallery.pixels(gallery.run("tensor_mask_to_image", mask=alpha["mask"]))[5, 5] == 0


def test_unknown_tensor_fails_the_node(gallery: Gallery) -> None:
    with pytest.raises(NodeFailed, match="not found"):
        gallery.run("invert_tensor_mask", mask={"tensor_name": "nope"})


def test_bounding_box_crop_and_paste(gallery: Gallery) -> None:
    box = gallery.run("get_image_mask_bounding_box", mask=gallery.put(square_mask()), margin=2)["bounding_box"]
    assert box == {"x_min": 14, "y_min": 6, "x_max": 49, "y_max": 41, "score": None}
    empty = gallery.run("get_image_mask_bounding_box", mask=gallery.put(solid(0, mode="L")))
    assert empty["bounding_box"] == {"x_min": 0, "y_min": 0, "x_max": 0, "y_max": 0, "score": None}
    cropped = gallery.run("crop_image_to_bounding_box", image=gallery.put(noisy()), bounding_box=BOX)
    assert (cropped["width"], cropped["height"]) == (16, 16)
    visible = gallery.run("crop_image_to_bounding_box", image=gallery.put(with_hole(solid((1, 1, 1)), (0, 0, 64, 10))))
    assert (visible["width"], visible["height"]) == (64, 38)
    pasted = gallery.run("paste_image_into_bounding_box", source_image=gallery.put(solid((255, 0, 0), 16, 16)),
                         target_image=gallery.put(solid((0, 0, 255))), bounding_box=BOX)
    values = gallery.pixels(pasted, "RGB")
    assert values[10, 10].tolist() == [255, 0, 0] and values[30, 30].tolist() == [0, 0, 255]
    with pytest.raises(NodeFailed, match="do not match"):
        gallery.run("paste_image_into_bounding_box", source_image=gallery.put(solid((255, 0, 0), 8, 8)),
                    target_image=gallery.put(solid((0, 0, 255))), bounding_box=BOX)


def test_apply_mask_to_image_sets_alpha(gallery: Gallery) -> None:
    output = gallery.run("apply_mask_to_image", image=gallery.put(noisy()), mask=gallery.put(square_mask()))
    alpha = gallery.pixels(output, "RGBA")[..., 3]
    assert alpha[20, 30] == 255 and alpha[0, 0] == 0


# ================================================================ canvas

def test_canvas_paste_back_takes_the_generated_image_where_the_mask_is_black(gallery: Gallery) -> None:
    source, generated = gallery.put(solid((0, 0, 255))), gallery.put(solid((255, 0, 0)))
    mask = gallery.put(square_mask(inside=0))  # black square: the area that was generated
    output = gallery.run("canvas_paste_back", source_image=source, target_image=generated, mask=mask)
    values = gallery.pixels(output, "RGB")
    assert (values[8:40, 16:48] == [255, 0, 0]).all()
    assert (values[:8] == [0, 0, 255]).all() and (values[:, :16] == [0, 0, 255]).all()


def test_canvas_paste_back_blur_widens_and_softens_the_seam(gallery: Gallery) -> None:
    source, generated = gallery.put(solid((0, 0, 255))), gallery.put(solid((255, 0, 0)))
    mask = gallery.put(square_mask(inside=0))
    values = gallery.pixels(gallery.run("canvas_paste_back", source_image=source, target_image=generated, mask=mask,
                                        mask_blur=2), "RGB")
    assert values[24, 32].tolist() == [255, 0, 0] and values[0, 0].tolist() == [0, 0, 255]
    assert 0 < values[24, 14, 0] < 255  # outside the square, inside the widened, blurred band


def test_canvas_v2_mask_and_crop_without_source_makes_the_mask_the_alpha(gallery: Gallery) -> None:
    output = gallery.run("canvas_v2_mask_and_crop", generated_image=gallery.put(noisy()),
                         mask=gallery.put(square_mask(inside=0)))
    alpha = gallery.pixels(output, "RGBA")[..., 3]
    assert alpha[20, 30] == 255 and alpha[0, 0] == 0
    pasted = gallery.run("canvas_v2_mask_and_crop", source_image=gallery.put(solid((0, 0, 255))),
                         generated_image=gallery.put(solid((255, 0, 0))), mask=gallery.put(square_mask(inside=0)))
    values = gallery.pixels(pasted, "RGB")
    assert values[20, 30].tolist() == [255, 0, 0] and values[0, 0].tolist() == [0, 0, 255]


def test_gradient_mask_saves_the_expanded_area_and_a_denoise_tensor(gallery: Gallery) -> None:
    mask = gallery.put(square_mask(width=256, height=128, box=(64, 32, 192, 96)))
    output = gallery.run("create_gradient_mask", mask=mask, edge_radius=16, is_intermediate=True)
    denoise = output["denoise_mask"]
    assert denoise["gradient"] is True and denoise["masked_latents_name"] is None
    tensor = gallery.ctx.tensors[denoise["mask_name"]]
    assert (tensor["width"], tensor["height"]) == (256, 128)
    area = gallery.get(output["expanded_mask_area"])
    assert area.size == (256, 128) and gallery.intermediate[output["expanded_mask_area"]["image_name"]]
    # black marks what gets denoised; it grows by the edge radius into the white (kept) square
    values = np.asarray(area)
    assert values[64, 40] == 0 and values[64, 70] == 0 and values[64, 128] == 255
    assert 0 < tensor["mask"][64, 70] < 1 and tensor["mask"][64, 128] == 1


# ================================================================ infill

def test_solid_colour_infill_fills_only_the_transparent_part(gallery: Gallery) -> None:
    picture = with_hole(solid((10, 200, 10)), (10, 10, 20, 20))
    values = gallery.pixels(gallery.run("infill_rgba", image=gallery.put(picture),
                                        color={"r": 1, "g": 2, "b": 3, "a": 255}), "RGBA")
    assert values[15, 15].tolist() == [1, 2, 3, 255] and values[30, 30].tolist() == [10, 200, 10, 255]


def test_tile_infill_fills_from_the_image_deterministically(gallery: Gallery) -> None:
    picture = gallery.put(with_hole(noisy(), (8, 8, 24, 24)))
    first = gallery.pixels(gallery.run("infill_tile", image=picture, tile_size=8, seed=1), "RGB")
    again = gallery.pixels(gallery.run("infill_tile", image=picture, tile_size=8, seed=1), "RGB")
    other = gallery.pixels(gallery.run("infill_tile", image=picture, tile_size=8, seed=2), "RGB")
    assert (first == again).all() and not (first[8:24, 8:24] == other[8:24, 8:24]).all()
    assert (first[30:] == np.asarray(noisy())[30:]).all()
    failure = gallery.fail("infill_tile", image=gallery.put(with_hole(noisy(), (0, 0, 64, 48))), tile_size=8)
    assert (failure.error_type, failure.message) == (
        "ValueError", "Not enough opaque pixels to generate any tiles. Use a smaller tile size or a different image.")


@pytest.mark.parametrize("node_type", ["infill_cv2", "infill_lama", "infill_patchmatch"])
def test_smooth_infills_continue_the_surroundings(gallery: Gallery, node_type: str) -> None:
    picture = np.zeros((48, 64, 3), dtype=np.uint8)
    picture[:, :32] = [200, 0, 0]
    picture[:, 32:] = [0, 0, 200]
    output = gallery.run(node_type, image=gallery.put(with_hole(Image.fromarray(picture), (8, 16, 24, 32))))
    values = gallery.pixels(output, "RGBA")
    assert (values[..., 3] == 255).all()
    assert values[24, 12, 0] > 150 and values[24, 12, 2] < 60  # the hole in the red half comes out red


def test_infill_of_an_image_without_alpha_answers_the_same_image(gallery: Gallery) -> None:
    picture = gallery.put(noisy())
    assert gallery.run("infill_tile", image=picture)["image"] == picture


def test_cv_inpaint_fills_where_the_mask_is_black(gallery: Gallery) -> None:
    picture = solid((0, 200, 0)).copy()
    picture.paste((255, 255, 255), (20, 10, 40, 30))
    mask = gallery.put(square_mask(box=(20, 10, 40, 30), inside=0))
    output = gallery.run("cv_inpaint", image=gallery.put(picture), mask=mask)
    assert gallery.pixels(output, "RGB")[20, 30].tolist()[1] > 150


# ================================================================ colour correction

def test_color_correct_moves_the_histogram_to_the_reference(gallery: Gallery) -> None:
    dark = gallery.put(Image.fromarray((np.asarray(noisy()) // 4).astype(np.uint8)))
    bright = gallery.put(noisy(seed=3))
    output = gallery.run("color_correct", base_image=dark, color_reference=bright, colorspace="RGB")
    values = gallery.pixels(output, "RGB")
    assert abs(values.mean() - np.asarray(gallery.get(bright)).mean()) < 5
    luma_only = gallery.run("color_correct", base_image=dark, color_reference=bright, colorspace="YCbCr-Luma")
    assert gallery.pixels(luma_only, "RGB").mean() > np.asarray(gallery.get(dark)).mean() + 40


def test_color_correct_of_the_older_schema_matches_mean_and_spread(gallery: Gallery) -> None:
    generated = gallery.put(Image.fromarray((np.asarray(noisy()) // 2 + 100).astype(np.uint8)))
    reference = gallery.put(noisy(seed=4))
    output = gallery.run("color_correct", image=generated, reference=reference, mask_blur_radius=0,
                         mask=gallery.put(solid(255, mode="L")))
    values = gallery.pixels(output, "RGB").astype(float)
    assert values.mean() < np.asarray(gallery.get(generated)).mean()
    assert abs(values.std() - np.asarray(gallery.get(reference)).std()) < 5

    whole = gallery.pixels(gallery.run("color_correct", image=generated, reference=reference), "RGB").astype(float)
    assert abs(whole.mean() - np.asarray(gallery.get(reference)).mean()) < 3


# ================================================================ processors and model stand-ins

def test_canny_finds_the_step_edge_only(gallery: Gallery) -> None:
    step = np.zeros((32, 32, 3), dtype=np.uint8)
    step[:, 16:] = 255
    edges = gallery.pixels(gallery.run("canny_edge_detection", image=gallery.put(Image.fromarray(step))), "L")
    columns = set(np.nonzero(edges.any(axis=0))[0])
    assert columns and columns <= {15, 16}


def test_color_map_makes_blocks(gallery: Gallery) -> None:
    values = gallery.pixels(gallery.run("color_map", image=gallery.put(noisy()), tile_size=16), "RGB")
    assert len(np.unique(values.reshape(-1, 3), axis=0)) <= (64 // 16) * (48 // 16)


@pytest.mark.parametrize(("model_name", "scale"), [("RealESRGAN_x4plus.pth", 4), ("RealESRGAN_x2plus.pth", 2)])
def test_esrgan_stand_in_upscales_by_the_model_scale(gallery: Gallery, model_name: str, scale: int) -> None:
    output = gallery.run("esrgan", image=gallery.put(noisy(20, 10)), model_name=model_name)
    assert (output["width"], output["height"]) == (20 * scale, 10 * scale)


def test_spandrel_needs_an_installed_model(gallery: Gallery) -> None:
    output = gallery.run("spandrel_image_to_image", image=gallery.put(noisy(20, 10)),
                         image_to_image_model={"key": "upscaler"})
    assert (output["width"], output["height"]) == (40, 20)  # the model's name says 2x
    autoscale = gallery.run("spandrel_image_to_image_autoscale", image=gallery.put(noisy(20, 10)),
                            image_to_image_model={"key": "upscaler"}, scale=3.0, fit_to_multiple_of_8=True)
    assert (autoscale["width"], autoscale["height"]) == (56, 24)
    with pytest.raises(NodeFailed, match="Unknown model"):
        gallery.run("spandrel_image_to_image", image=gallery.put(noisy()), image_to_image_model={"key": "missing"})


def test_face_and_detection_stand_ins_find_nothing(gallery: Gallery) -> None:
    picture = gallery.put(noisy())
    face_off = gallery.run("face_off", image=picture)
    assert (face_off["x"], face_off["y"]) == (0, 0) and (gallery.pixels({"image": face_off["mask"]}) == 255).all()
    assert gallery.run("grounding_dino", image=picture, model="grounding-dino-tiny", prompt="cat")["collection"] == []
    pose = gallery.pixels(gallery.run("dw_openpose_detection", image=picture))
    assert pose.shape == (48, 64, 3) and not pose.any()
    with pytest.raises(NodeFailed, match="comma-separated"):
        gallery.run("face_mask_detection", image=picture, face_ids="a,b")
    masked = gallery.run("face_mask_detection", image=picture, invert_mask=True)
    assert gallery.get(masked["image"]).mode == "RGBA" and not gallery.pixels({"image": masked["mask"]}).any()
    by_id = gallery.run("face_mask_detection", image=picture, face_ids="1,2", invert_mask=True)
    assert gallery.get(by_id["image"]).mode == "RGB" and (gallery.pixels({"image": by_id["mask"]}) == 255).all()


def test_segment_anything_stand_in_masks_the_prompted_box(gallery: Gallery) -> None:
    output = gallery.run("segment_anything", image=gallery.put(noisy()), model="segment-anything-base",
                         bounding_boxes=[BOX])
    mask = gallery.pixels(gallery.run("tensor_mask_to_image", mask=output["mask"]))
    assert mask[10, 10] == 255 and mask[30, 30] == 0


# ================================================================ tiles

def coords(tiles: list[dict]) -> list[tuple[int, int, int, int]]:
    return [(c["top"], c["bottom"], c["left"], c["right"]) for c in (tile["coords"] for tile in tiles)]


def test_tiles_with_overlap_match_the_real_layout(gallery: Gallery) -> None:
    tiles = gallery.run("calculate_image_tiles", image_width=1000, image_height=576, tile_width=576,
                        tile_height=576, overlap=128)["tiles"]
    assert coords(tiles) == [(0, 576, 0, 576), (0, 576, 424, 1000)]
    assert tiles[0]["overlap"] == {"top": 0, "bottom": 0, "left": 0, "right": 152}
    assert tiles[1]["overlap"] == {"top": 0, "bottom": 0, "left": 152, "right": 0}
    default = gallery.run("calculate_image_tiles")["tiles"]
    assert coords(default) == [(0, 576, 0, 576), (0, 576, 448, 1024), (448, 1024, 0, 576), (448, 1024, 448, 1024)]
    assert default[3]["overlap"] == {"top": 128, "bottom": 0, "left": 128, "right": 0}


def test_even_split_and_min_overlap_tiles(gallery: Gallery) -> None:
    even = gallery.run("calculate_image_tiles_even_split", image_width=1024, image_height=512, num_tiles_x=3,
                       num_tiles_y=1, overlap=64)["tiles"]
    assert coords(even) == [(0, 512, 0, 384), (0, 512, 320, 704), (0, 512, 640, 1024)]
    failure = gallery.fail("calculate_image_tiles_even_split", image_width=1001, image_height=512)
    assert (failure.error_type, failure.message) == ("ValueError", "image size ((1001, 512)) must be divisible by 8")
    assert gallery.fail("calculate_image_tiles", image_width=100, tile_width=200).error_type == "AssertionError"
    spread = gallery.run("calculate_image_tiles_min_overlap", image_width=1200, image_height=512, tile_width=512,
                         tile_height=512, min_overlap=64)["tiles"]
    assert coords(spread) == [(0, 512, 0, 512), (0, 512, 344, 856), (0, 512, 688, 1200)]
    assert spread[1]["overlap"]["left"] == 168


def test_tile_properties_and_pairing(gallery: Gallery) -> None:
    tile = gallery.run("calculate_image_tiles")["tiles"][3]
    props = gallery.run("tile_to_properties", tile=tile)
    assert (props["coords_left"], props["width"], props["overlap_top"]) == (448, 576, 128)
    paired = gallery.run("pair_tile_image", tile=tile, image={"image_name": "x.png"})
    assert paired["tile_with_image"] == {"tile": tile, "image": {"image_name": "x.png"}}


@pytest.mark.parametrize("mode", ["Linear", "Seam"])
def test_merge_tiles_blends_the_overlap(gallery: Gallery, mode: str) -> None:
    tiles = gallery.run("calculate_image_tiles", image_width=96, image_height=48, tile_width=64, tile_height=48,
                        overlap=32)["tiles"]
    pairs = [{"tile": tiles[0], "image": gallery.put(solid((255, 0, 0), 64, 48))},
             {"tile": tiles[1], "image": gallery.put(solid((0, 0, 255), 64, 48))}]
    output = gallery.run("merge_tiles_to_image", tiles_with_images=pairs, blend_mode=mode, blend_amount=8)
    values = gallery.pixels(output, "RGB")
    assert (output["width"], output["height"]) == (96, 48)
    assert values[16, 5].tolist() == [255, 0, 0] and values[16, 90].tolist() == [0, 0, 255]
    mixed = values[16, 32:64, 0].astype(int)
    assert mixed[0] > 200 and mixed[-1] == 0 and (np.diff(mixed) <= 0).all()
    assert ((mixed > 0) & (mixed < 255)).any()  # a soft seam, not a cut


def test_image_panel_layout(gallery: Gallery) -> None:
    output = gallery.run("image_panel_layout", width=100, height=81, num_cols=3, num_rows=2, panel_col_idx=2,
                         panel_row_idx=1)
    assert output == {"x_left": 66, "y_top": 40, "width": 33, "height": 40, "type": "image_panel_coordinate_output"}


# ================================================================ failures and the registry

def test_missing_input_image_fails_the_node(gallery: Gallery) -> None:
    with pytest.raises(NodeFailed, match="not found"):
        run_node(gallery.ctx, {"id": "r", "type": "img_blur", "image": {"image_name": "nope.png"}, "radius": 2})


def test_run_node_reaches_the_image_nodes(gallery: Gallery) -> None:
    output = run_node(gallery.ctx, {"id": "r", "type": "img_scale", "image": gallery.put(noisy(10, 10)),
                                    "scale_factor": 3.0, "resample_mode": "nearest"})
    assert (output["width"], output["height"]) == (30, 30)


# ================================================================ through the queue

def full_image(client: t.Any, name: str) -> Image.Image:
    response = client.get(f"/api/v1/images/i/{name}/full")
    assert response.status_code == 200, response.text
    return Image.open(io.BytesIO(response.content))


def results(item: dict) -> dict:
    session = item["session"]
    return {session["prepared_source_mapping"][key]: value for key, value in session["results"].items()}


def test_a_resize_blur_save_graph_runs_in_the_queue(client: t.Any) -> None:
    set_speed(client, "instant")
    source = uploaded(client, _png(noisy(40, 30)))["image_name"]
    nodes = graph(node("resize", "img_resize", image={"image_name": source}, width=80, height=60,
                       resample_mode="nearest", is_intermediate=True),
                  node("blur", "img_blur", radius=2, is_intermediate=True),
                  node("save", "save_image", is_intermediate=False),
                  edges=[edge("resize", "image", "blur", "image"), edge("blur", "image", "save", "image")])
    enqueue(client, nodes)
    item = queue_item(client, 1)
    assert item["status"] == "completed", item.get("error_traceback")
    saved = results(item)["save"]
    assert (saved["width"], saved["height"]) == (80, 60)
    assert full_image(client, saved["image"]["image_name"]).size == (80, 60)
    gallery_names = ok(client.get("/api/v1/images/names"))["image_names"]
    assert saved["image"]["image_name"] in gallery_names


def test_a_canvas_paste_back_graph_composes_with_the_mask(client: t.Any) -> None:
    set_speed(client, "instant")
    mask = uploaded(client, _png(square_mask(inside=0)), category="mask")["image_name"]
    nodes = graph(node("source", "blank_image", width=64, height=48, color={"r": 0, "g": 0, "b": 255, "a": 255}),
                  node("generated", "blank_image", width=64, height=48, color={"r": 255, "g": 0, "b": 0, "a": 255}),
                  node("paste", "canvas_paste_back", mask={"image_name": mask}, mask_blur=0),
                  edges=[edge("source", "image", "paste", "source_image"),
                         edge("generated", "image", "paste", "target_image")])
    enqueue(client, nodes)
    item = queue_item(client, 1)
    assert item["status"] == "completed", item.get("error_traceback")
    values = np.asarray(full_image(client, results(item)["paste"]["image"]["image_name"]).convert("RGB"))
    assert values[24, 32].tolist() == [255, 0, 0] and values[0, 0].tolist() == [0, 0, 255]
    assert ok(client.get(f"{QUEUE}/status"))["queue"]["completed"] == 1


def test_mask_nodes_save_into_the_mask_category_and_others_into_general(client: t.Any) -> None:
    set_speed(client, "instant")
    source = uploaded(client, _png(with_hole(noisy(), (0, 0, 10, 10))))["image_name"]
    nodes = graph(node("mask", "tomask", image={"image_name": source}, is_intermediate=False),
                  node("copy", "img_blur", image={"image_name": source}, radius=1, is_intermediate=False))
    enqueue(client, nodes)
    item = queue_item(client, 1)
    assert item["status"] == "completed", item.get("error_traceback")
    outputs = results(item)
    for key, category in (("mask", "mask"), ("copy", "general")):
        dto = ok(client.get(f"/api/v1/images/i/{outputs[key]['image']['image_name']}"))
        assert dto["image_category"] == category


def _png(picture: Image.Image) -> bytes:
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()
