"""The graphs InvokeAI 6.8.1's web UI builds and enqueues, rebuilt node for node from its graph
builders (`features/nodes/util/graph/generation/build*Graph.ts`, `addInpaint.ts`,
`buildMultidiffusionUpscaleGraph.ts`, `buildLinearBatchConfig.ts`): the same node types, fields and
edges, with seed and prompt given as batch data as the UI gives them."""

from __future__ import annotations

import typing as t

from node_graphs import edge

Node = dict[str, t.Any]


class UIGraph:
    """A graph as the UI's `Graph` class makes it: nodes and edges, plus a `core_metadata` node whose
    metadata goes to the output node."""

    def __init__(self, graph_id: str) -> None:
        self.graph_id = graph_id
        self.nodes: dict[str, Node] = {}
        self.edges: list[dict] = []
        self.metadata = self.add("core_metadata:m1", "core_metadata")

    def add(self, node_id: str, node_type: str, **fields: t.Any) -> Node:
        self.nodes[node_id] = {"id": node_id, "type": node_type, **fields}
        return self.nodes[node_id]

    def link(self, source: Node, source_field: str, target: Node, target_field: str) -> None:
        self.edges.append(edge(source["id"], source_field, target["id"], target_field))

    def to_metadata(self, source: Node, source_field: str, key: str) -> None:
        self.link(source, source_field, self.metadata, key)

    def output(self, node: Node) -> dict:
        """The canvas output fields, the metadata wired in, and the graph the UI posts."""
        node.update(is_intermediate=False, use_cache=False)
        self.link(self.metadata, "metadata", node, "metadata")
        return self.graph()

    def graph(self) -> dict:
        return {"id": self.graph_id, "nodes": self.nodes, "edges": self.edges}


def linear_batch(graph: dict, prompt: str, seeds: list[int], origin: str = "generation",
                 destination: str = "generate") -> dict:
    """`prepareLinearUIBatch`: one datum group of seeds (per iteration), then the prompts."""
    seed_id = next(key for key in graph["nodes"] if key.startswith("seed:"))
    prompt_id = next(key for key in graph["nodes"] if key.startswith("positive_prompt:"))
    data = [[{"node_path": seed_id, "field_name": "value", "items": seeds}],
            [{"node_path": prompt_id, "field_name": "value", "items": [prompt]}]]
    return {"prepend": False, "batch": {"graph": graph, "runs": 1, "data": data, "origin": origin,
                                        "destination": destination}}


def sd1(model: dict, *, width: int = 512, height: int = 512, steps: int = 4, negative: str = "blurry") -> UIGraph:
    g = UIGraph("sd1_graph:g1")
    seed = g.add("seed:s", "integer")
    positive = g.add("positive_prompt:p", "string")
    loader = g.add("sd1_model_loader:l", "main_model_loader", model=model)
    clip_skip = g.add("clip_skip:c", "clip_skip", skipped_layers=0)
    pos_cond = g.add("pos_cond:pc", "compel")
    pos_collect = g.add("pos_cond_collect:pcc", "collect")
    neg_cond = g.add("neg_cond:nc", "compel", prompt=negative)
    neg_collect = g.add("neg_cond_collect:ncc", "collect")
    noise = g.add("noise:n", "noise", use_cpu=True, width=width, height=height)
    denoise = g.add("denoise_latents:d", "denoise_latents", cfg_scale=7.5, cfg_rescale_multiplier=0,
                    scheduler="euler", steps=steps, denoising_start=0, denoising_end=1)
    l2i = g.add("l2i:i", "l2i", fp32=False)
    g.link(loader, "unet", denoise, "unet")
    g.link(loader, "clip", clip_skip, "clip")
    g.link(clip_skip, "clip", pos_cond, "clip")
    g.link(clip_skip, "clip", neg_cond, "clip")
    g.link(positive, "value", pos_cond, "prompt")
    g.link(pos_cond, "conditioning", pos_collect, "item")
    g.link(pos_collect, "collection", denoise, "positive_conditioning")
    g.link(neg_cond, "conditioning", neg_collect, "item")
    g.link(neg_collect, "collection", denoise, "negative_conditioning")
    g.link(seed, "value", noise, "seed")
    g.link(noise, "noise", denoise, "noise")
    g.link(denoise, "latents", l2i, "latents")
    g.metadata.update(cfg_scale=7.5, cfg_rescale_multiplier=0, negative_prompt=negative, model=model, steps=steps,
                      rand_device="cpu", scheduler="euler", clip_skip=0, width=width, height=height,
                      generation_mode="txt2img")
    g.to_metadata(seed, "value", "seed")
    g.to_metadata(positive, "value", "positive_prompt")
    g.link(loader, "vae", l2i, "vae")
    return g


def sdxl(model: dict, *, width: int = 1024, height: int = 1024, steps: int = 4, negative: str = "") -> UIGraph:
    g = UIGraph("sdxl_graph:g2")
    loader = g.add("sdxl_model_loader:l", "sdxl_model_loader", model=model)
    positive = g.add("positive_prompt:p", "string")
    pos_cond = g.add("pos_cond:pc", "sdxl_compel_prompt")
    pos_collect = g.add("pos_cond_collect:pcc", "collect")
    neg_cond = g.add("neg_cond:nc", "sdxl_compel_prompt", prompt=negative, style=negative)
    neg_collect = g.add("neg_cond_collect:ncc", "collect")
    seed = g.add("seed:s", "integer")
    noise = g.add("noise:n", "noise", use_cpu=True, width=width, height=height)
    denoise = g.add("denoise_latents:d", "denoise_latents", cfg_scale=5, cfg_rescale_multiplier=0, scheduler="euler",
                    steps=steps, denoising_start=0, denoising_end=1)
    l2i = g.add("l2i:i", "l2i", fp32=False)
    g.link(loader, "unet", denoise, "unet")
    for cond in (pos_cond, neg_cond):
        g.link(loader, "clip", cond, "clip")
        g.link(loader, "clip2", cond, "clip2")
    g.link(positive, "value", pos_cond, "prompt")
    g.link(positive, "value", pos_cond, "style")
    g.link(pos_cond, "conditioning", pos_collect, "item")
    g.link(pos_collect, "collection", denoise, "positive_conditioning")
    g.link(neg_cond, "conditioning", neg_collect, "item")
    g.link(neg_collect, "collection", denoise, "negative_conditioning")
    g.link(seed, "value", noise, "seed")
    g.link(noise, "noise", denoise, "noise")
    g.link(denoise, "latents", l2i, "latents")
    g.metadata.update(cfg_scale=5, model=model, steps=steps, scheduler="euler", negative_prompt=negative,
                      width=width, height=height, generation_mode="sdxl_txt2img")
    g.to_metadata(seed, "value", "seed")
    g.to_metadata(positive, "value", "positive_prompt")
    g.link(loader, "vae", l2i, "vae")
    return g


def flux(model: dict, t5: dict, clip_embed: dict, vae: dict, *, width: int = 1024, height: int = 1024,
         steps: int = 4) -> UIGraph:
    g = UIGraph("flux_graph:g3")
    loader = g.add("flux_model_loader:l", "flux_model_loader", model=model, t5_encoder_model=t5,
                   clip_embed_model=clip_embed, vae_model=vae)
    positive = g.add("positive_prompt:p", "string")
    pos_cond = g.add("flux_text_encoder:pc", "flux_text_encoder")
    pos_collect = g.add("pos_cond_collect:pcc", "collect")
    seed = g.add("seed:s", "integer")
    denoise = g.add("flux_denoise:d", "flux_denoise", guidance=4, num_steps=steps, denoising_start=0,
                    denoising_end=1, width=width, height=height)
    l2i = g.add("flux_vae_decode:i", "flux_vae_decode")
    g.link(loader, "transformer", denoise, "transformer")
    g.link(loader, "vae", denoise, "controlnet_vae")
    g.link(loader, "vae", l2i, "vae")
    g.link(loader, "clip", pos_cond, "clip")
    g.link(loader, "t5_encoder", pos_cond, "t5_encoder")
    g.link(loader, "max_seq_len", pos_cond, "t5_max_seq_len")
    g.link(positive, "value", pos_cond, "prompt")
    g.link(pos_cond, "conditioning", pos_collect, "item")
    g.link(pos_collect, "collection", denoise, "positive_text_conditioning")
    g.link(seed, "value", denoise, "seed")
    g.link(denoise, "latents", l2i, "latents")
    g.metadata.update(guidance=4, model=model, steps=steps, vae=vae, t5_encoder=t5, clip_embed_model=clip_embed,
                      width=width, height=height, generation_mode="flux_txt2img")
    g.to_metadata(seed, "value", "seed")
    g.to_metadata(positive, "value", "positive_prompt")
    return g


def sd3(model: dict, *, width: int = 1024, height: int = 1024, steps: int = 4, negative: str = "") -> UIGraph:
    g = UIGraph("sd3_graph:g4")
    loader = g.add("sd3_model_loader:l", "sd3_model_loader", model=model)
    positive = g.add("positive_prompt:p", "string")
    pos_cond = g.add("pos_cond:pc", "sd3_text_encoder")
    neg_cond = g.add("neg_cond:nc", "sd3_text_encoder", prompt=negative)
    seed = g.add("seed:s", "integer")
    denoise = g.add("sd3_denoise:d", "sd3_denoise", cfg_scale=3.5, steps=steps, denoising_start=0, denoising_end=1,
                    width=width, height=height)
    l2i = g.add("l2i:i", "sd3_l2i")
    g.link(loader, "transformer", denoise, "transformer")
    for cond in (pos_cond, neg_cond):
        for part in ("clip_l", "clip_g", "t5_encoder"):
            g.link(loader, part, cond, part)
    g.link(loader, "vae", l2i, "vae")
    g.link(positive, "value", pos_cond, "prompt")
    g.link(pos_cond, "conditioning", denoise, "positive_conditioning")
    g.link(neg_cond, "conditioning", denoise, "negative_conditioning")
    g.link(seed, "value", denoise, "seed")
    g.link(denoise, "latents", l2i, "latents")
    g.metadata.update(cfg_scale=3.5, negative_prompt=negative, model=model, steps=steps, width=width, height=height,
                      generation_mode="sd3_txt2img")
    g.to_metadata(seed, "value", "seed")
    g.to_metadata(positive, "value", "positive_prompt")
    return g


def cogview4(model: dict, *, width: int = 1024, height: int = 1024, steps: int = 4, negative: str = "") -> UIGraph:
    g = UIGraph("cogview4_graph:g5")
    loader = g.add("cogview4_model_loader:l", "cogview4_model_loader", model=model)
    positive = g.add("positive_prompt:p", "string")
    pos_cond = g.add("pos_prompt:pc", "cogview4_text_encoder")
    neg_cond = g.add("neg_prompt:nc", "cogview4_text_encoder", prompt=negative)
    seed = g.add("seed:s", "integer")
    denoise = g.add("denoise_latents:d", "cogview4_denoise", cfg_scale=3.5, steps=steps, denoising_start=0,
                    denoising_end=1, width=width, height=height)
    l2i = g.add("l2i:i", "cogview4_l2i")
    g.link(loader, "transformer", denoise, "transformer")
    g.link(loader, "glm_encoder", pos_cond, "glm_encoder")
    g.link(loader, "glm_encoder", neg_cond, "glm_encoder")
    g.link(loader, "vae", l2i, "vae")
    g.link(positive, "value", pos_cond, "prompt")
    g.link(pos_cond, "conditioning", denoise, "positive_conditioning")
    g.link(neg_cond, "conditioning", denoise, "negative_conditioning")
    g.link(seed, "value", denoise, "seed")
    g.link(denoise, "latents", l2i, "latents")
    g.metadata.update(cfg_scale=3.5, negative_prompt=negative, model=model, steps=steps, width=width, height=height,
                      generation_mode="cogview4_txt2img")
    g.to_metadata(seed, "value", "seed")
    g.to_metadata(positive, "value", "positive_prompt")
    return g


def sd1_inpaint(model: dict, initial_image: str, mask_image: str, *, width: int, height: int,
                strength: float = 0.7, steps: int = 4) -> tuple[UIGraph, Node]:
    """SD1.5 on the canvas in `inpaint` mode, sizes unscaled (`addInpaint`'s second branch): the
    initial image is encoded, a gradient mask limits the denoise, and the result is blended over the
    initial image through the faded mask. Returns the graph and its output node."""
    g = sd1(model, width=width, height=height, steps=steps)
    g.metadata["generation_mode"] = "inpaint"
    nodes = g.nodes
    denoise, l2i, loader = nodes["denoise_latents:d"], nodes["l2i:i"], nodes["sd1_model_loader:l"]
    denoise.update(denoising_start=round(1 - strength, 4), denoising_end=1)
    i2l = g.add("i2l:e", "i2l", fp32=False, image={"image_name": initial_image})
    gradient = g.add("create_gradient_mask:m", "create_gradient_mask", coherence_mode="Gaussian Blur",
                     minimum_denoise=0, edge_radius=16, fp32=False, image={"image_name": initial_image},
                     mask={"image_name": mask_image})
    g.link(i2l, "latents", denoise, "latents")
    g.link(loader, "vae", i2l, "vae")
    g.link(loader, "vae", gradient, "vae")
    g.link(loader, "unet", gradient, "unet")
    g.link(gradient, "denoise_mask", denoise, "denoise_mask")
    expand = g.add("expand_mask_with_fade:x", "expand_mask_with_fade", fade_size_px=16)
    g.link(gradient, "expanded_mask_area", expand, "mask")
    blend = g.add("image_layer_blend:b", "invokeai_img_blend", layer_base={"image_name": initial_image})
    g.link(l2i, "image", blend, "layer_upper")
    g.link(expand, "image", blend, "mask")
    return g, blend


def sd1_upscale(model: dict, upscaler: dict, tile_controlnet: dict, image: dict, *, scale: float = 2,
                creativity: int = 0, structure: int = 0, tile_size: int = 1024, steps: int = 4) -> UIGraph:
    """`buildMultidiffusionUpscaleGraph` with an SD1.5 model."""
    g = UIGraph("upscale:g6")
    positive = g.add("positive_prompt:p", "string")
    spandrel = g.add("spandrel_autoscale:a", "spandrel_image_to_image_autoscale",
                     image={"image_name": image["image_name"]}, image_to_image_model=upscaler, fit_to_multiple_of_8=True,
                     scale=scale)
    unsharp = g.add("unsharp_2:u", "unsharp_mask", radius=2, strength=60)
    g.link(spandrel, "image", unsharp, "image")
    seed = g.add("seed:s", "integer")
    noise = g.add("noise:n", "noise")
    g.link(seed, "value", noise, "seed")
    g.link(unsharp, "width", noise, "width")
    g.link(unsharp, "height", noise, "height")
    i2l = g.add("i2l:e", "i2l", fp32=False, tile_size=tile_size, tiled=True)
    g.link(unsharp, "image", i2l, "image")
    l2i = g.add("l2i:i", "l2i", fp32=False, tile_size=tile_size, tiled=True, board=None, is_intermediate=False)
    tiled = g.add("tiled_multidiffusion_denoise_latents:t", "tiled_multi_diffusion_denoise_latents",
                  tile_height=tile_size, tile_width=tile_size, tile_overlap=128, steps=steps, cfg_scale=2,
                  scheduler="kdpm_2", denoising_start=((creativity * -1 + 10) * 4.99) / 100, denoising_end=1)
    pos_cond = g.add("pos_cond:pc", "compel")
    neg_cond = g.add("neg_cond:nc", "compel", prompt="")
    loader = g.add("sd1_model_loader:l", "main_model_loader", model=model)
    clip_skip = g.add("clip_skip:c", "clip_skip")
    g.link(loader, "clip", clip_skip, "clip")
    g.link(clip_skip, "clip", pos_cond, "clip")
    g.link(clip_skip, "clip", neg_cond, "clip")
    g.link(loader, "unet", tiled, "unet")
    g.link(positive, "value", pos_cond, "prompt")
    g.metadata.update(negative_prompt="", cfg_scale=2, model=model, steps=steps, scheduler="kdpm_2",
                      upscale_model=upscaler, creativity=creativity, structure=structure, tile_size=tile_size,
                      tile_overlap=128, upscale_initial_image=image, upscale_scale=scale)
    g.to_metadata(positive, "value", "positive_prompt")
    g.link(g.metadata, "metadata", l2i, "metadata")
    g.to_metadata(spandrel, "width", "width")
    g.to_metadata(spandrel, "height", "height")
    g.to_metadata(seed, "value", "seed")
    g.link(loader, "vae", i2l, "vae")
    g.link(loader, "vae", l2i, "vae")
    g.link(noise, "noise", tiled, "noise")
    g.link(i2l, "latents", tiled, "latents")
    g.link(pos_cond, "conditioning", tiled, "positive_conditioning")
    g.link(neg_cond, "conditioning", tiled, "negative_conditioning")
    g.link(tiled, "latents", l2i, "latents")
    first = g.add("controlnet_1", "controlnet", control_model=tile_controlnet, control_mode="balanced",
                  resize_mode="just_resize", control_weight=(structure + 10) * 0.0325 + 0.3, begin_step_percent=0,
                  end_step_percent=(structure + 10) * 0.025 + 0.3)
    second = g.add("controlnet_2", "controlnet", control_model=tile_controlnet, control_mode="balanced",
                   resize_mode="just_resize", control_weight=((structure + 10) * 0.0325 + 0.15) * 0.45,
                   begin_step_percent=(structure + 10) * 0.025 + 0.3, end_step_percent=0.85)
    g.link(unsharp, "image", first, "image")
    g.link(unsharp, "image", second, "image")
    collector = g.add("controlnet_collector:cc", "collect")
    g.link(first, "control", collector, "item")
    g.link(second, "control", collector, "item")
    g.link(collector, "collection", tiled, "control")
    return g


def with_canvas_layers(g: UIGraph, models: dict[str, dict], control_image: str, reference_image: str,
                       region_mask: str, region_prompt: str) -> UIGraph:
    """An SDXL graph with what the canvas adds (`addSDXLLoRAs`, `addControlNets`, `addIPAdapters`,
    `addRegions`): a LoRA through a collection loader, a ControlNet control layer, a global IP-Adapter
    reference, and a regional guidance layer (its own prompt inside its mask, the prompt's inverse
    as negative outside it, and a regional IP-Adapter)."""
    nodes = g.nodes
    loader, denoise = nodes["sdxl_model_loader:l"], nodes["denoise_latents:d"]
    pos_cond, neg_cond = nodes["pos_cond:pc"], nodes["neg_cond:nc"]
    pos_collect, neg_collect = nodes["pos_cond_collect:pcc"], nodes["neg_cond_collect:ncc"]
    g.edges = [e for e in g.edges if not (e["source"]["node_id"] == loader["id"]
                                         and e["source"]["field"] in ("unet", "clip", "clip2"))]
    selector = g.add("lora_selector:ls", "lora_selector", lora=models["lora"], weight=0.75)
    lora_collect = g.add("lora_collector:lc", "collect")
    loras = g.add("sdxl_lora_collection_loader:lcl", "sdxl_lora_collection_loader")
    g.link(selector, "lora", lora_collect, "item")
    g.link(lora_collect, "collection", loras, "loras")
    for part in ("unet", "clip", "clip2"):
        g.link(loader, part, loras, part)
    g.link(loras, "unet", denoise, "unet")
    control = g.add("control_net:cn", "controlnet", image={"image_name": control_image},
                    control_model=models["sdxl_controlnet"], control_weight=0.75, begin_step_percent=0,
                    end_step_percent=0.75, control_mode="balanced", resize_mode="just_resize")
    control_collect = g.add("control_net_collector:ccn", "collect")
    g.link(control, "control", control_collect, "item")
    g.link(control_collect, "collection", denoise, "control")
    ip_collect = g.add("ip_adapter_collector:cip", "collect")
    reference = g.add("ip_adapter:ip", "ip_adapter", image={"image_name": reference_image},
                      ip_adapter_model=models["sdxl_ip_adapter"], clip_vision_model="ViT-H", method="full", weight=1,
                      begin_step_percent=0, end_step_percent=1)
    g.link(reference, "ip_adapter", ip_collect, "item")
    mask = g.add("prompt_region_mask_to_tensor:rm", "alpha_mask_to_tensor", image={"image_name": region_mask})
    regional = g.add("prompt_region_positive_cond:rp", "sdxl_compel_prompt", prompt=region_prompt, style=region_prompt)
    inverted_mask = g.add("invert_tensor_mask:im", "invert_tensor_mask")
    inverted = g.add("prompt_region_positive_cond_inverted:ri", "sdxl_compel_prompt", prompt=region_prompt,
                     style=region_prompt)
    regional_ip = g.add("ip_adapter:rip", "ip_adapter", image={"image_name": reference_image},
                        ip_adapter_model=models["sdxl_ip_adapter"], clip_vision_model="ViT-H", method="style",
                        weight=0.5, begin_step_percent=0, end_step_percent=1)
    g.link(mask, "mask", regional, "mask")
    g.link(mask, "mask", inverted_mask, "mask")
    g.link(inverted_mask, "mask", inverted, "mask")
    g.link(mask, "mask", regional_ip, "mask")
    g.link(regional, "conditioning", pos_collect, "item")
    g.link(inverted, "conditioning", neg_collect, "item")
    g.link(regional_ip, "ip_adapter", ip_collect, "item")
    g.link(ip_collect, "collection", denoise, "ip_adapter")
    for cond in (pos_cond, neg_cond, regional, inverted):
        g.link(loras, "clip", cond, "clip")
        g.link(loras, "clip2", cond, "clip2")
    return g


def sd1_image_to_image(model: dict, initial_image: str, *, width: int, height: int, strength: float = 0.7,
                       steps: int = 4) -> UIGraph:
    """SD1.5 on the canvas in `img2img` mode, sizes unscaled (`addImageToImage`)."""
    g = sd1(model, width=width, height=height, steps=steps)
    g.metadata["generation_mode"] = "img2img"
    denoise, loader = g.nodes["denoise_latents:d"], g.nodes["sd1_model_loader:l"]
    denoise.update(denoising_start=round(1 - strength, 4), denoising_end=1)
    i2l = g.add("i2l:e", "i2l", fp32=False, image={"image_name": initial_image})
    g.link(loader, "vae", i2l, "vae")
    g.link(i2l, "latents", denoise, "latents")
    return g


def sd1_outpaint(model: dict, initial_image: str, mask_image: str, *, width: int, height: int,
                 strength: float = 0.7, steps: int = 4) -> tuple[UIGraph, Node]:
    """SD1.5 on the canvas in `outpaint` mode, sizes unscaled (`addOutpaint`'s second branch): the
    transparent part of the initial image joins the inpaint mask, is infilled, then repainted."""
    g = sd1(model, width=width, height=height, steps=steps)
    g.metadata["generation_mode"] = "outpaint"
    denoise, l2i, loader = g.nodes["denoise_latents:d"], g.nodes["l2i:i"], g.nodes["sd1_model_loader:l"]
    denoise.update(denoising_start=round(1 - strength, 4), denoising_end=1)
    initial = {"image_name": initial_image}
    infill = g.add("infill:f", "infill_tile", tile_size=32, seed=0, image=initial)
    alpha_mask = g.add("image_alpha_to_mask:a", "tomask", image=initial)
    combine = g.add("mask_combine:c", "mask_combine", mask1={"image_name": mask_image})
    gradient = g.add("create_gradient_mask:m", "create_gradient_mask", coherence_mode="Gaussian Blur",
                     minimum_denoise=0, edge_radius=16, fp32=False, image=initial)
    g.link(alpha_mask, "image", combine, "mask2")
    g.link(combine, "image", gradient, "mask")
    i2l = g.add("i2l:e", "i2l", fp32=False)
    g.link(infill, "image", i2l, "image")
    g.link(i2l, "latents", denoise, "latents")
    g.link(loader, "vae", i2l, "vae")
    g.link(loader, "vae", gradient, "vae")
    g.link(loader, "unet", gradient, "unet")
    g.link(gradient, "denoise_mask", denoise, "denoise_mask")
    expand = g.add("expand_mask_with_fade:x", "expand_mask_with_fade", fade_size_px=16)
    g.link(gradient, "expanded_mask_area", expand, "mask")
    blend = g.add("image_layer_blend:b", "invokeai_img_blend", layer_base=initial)
    g.link(l2i, "image", blend, "layer_upper")
    g.link(expand, "image", blend, "mask")
    return g, blend


def with_refiner(g: UIGraph, refiner: dict, *, start: float = 0.8, steps: int = 4) -> UIGraph:
    """`addSDXLRefiner`: the base denoise's latents go through the refiner before decoding."""
    denoise, l2i = g.nodes["denoise_latents:d"], g.nodes["l2i:i"]
    g.edges = [e for e in g.edges if not (e["source"]["node_id"] == denoise["id"] and e["source"]["field"] == "latents")
               and not (e["destination"]["node_id"] == l2i["id"] and e["destination"]["field"] == "latents")]
    loader = g.add("refiner_model_loader:rl", "sdxl_refiner_model_loader", model=refiner)
    positive = g.add("refiner_pos_cond:rp", "sdxl_refiner_compel_prompt", style="", aesthetic_score=6)
    negative = g.add("refiner_neg_cond:rn", "sdxl_refiner_compel_prompt", style="", aesthetic_score=2.5)
    refine = g.add("refiner_denoise_latents:rd", "denoise_latents", cfg_scale=7.5, steps=steps, scheduler="euler",
                   denoising_start=start, denoising_end=1)
    g.link(loader, "unet", refine, "unet")
    g.link(loader, "clip2", positive, "clip2")
    g.link(loader, "clip2", negative, "clip2")
    g.link(positive, "conditioning", refine, "positive_conditioning")
    g.link(negative, "conditioning", refine, "negative_conditioning")
    g.link(denoise, "latents", refine, "latents")
    g.link(refine, "latents", l2i, "latents")
    g.metadata.update(refiner_model=refiner, refiner_positive_aesthetic_score=6, refiner_negative_aesthetic_score=2.5,
                      refiner_cfg_scale=7.5, refiner_scheduler="euler", refiner_start=start, refiner_steps=steps)
    return g


def flux_fill_inpaint(models: dict[str, dict], initial_image: str, mask_image: str, *, width: int,
                      height: int) -> tuple[UIGraph, Node]:
    """FLUX Fill on the canvas in `inpaint` mode, sizes unscaled (`addFLUXFill`): the canvas mask
    (painted = opaque) becomes a tensor for `flux_fill`, and the result is blended over the image."""
    g = flux(models["flux_fill"], models["t5"], models["clip_embed"], models["flux_vae"], width=width, height=height)
    g.metadata["generation_mode"] = "flux_inpaint"
    denoise, l2i = g.nodes["flux_denoise:d"], g.nodes["flux_vae_decode:i"]
    denoise.update(denoising_start=0, denoising_end=1, guidance=30)
    fill = g.add("flux_fill:ff", "flux_fill", image={"image_name": initial_image})
    mask_alpha = g.add("alpha_to_mask:ma", "tomask", image={"image_name": mask_image}, invert=True)
    image_alpha = g.add("image_alpha_to_mask:ia", "tomask", image={"image_name": initial_image})
    combine = g.add("mask_combine:mc", "mask_combine")
    g.link(mask_alpha, "image", combine, "mask1")
    g.link(image_alpha, "image", combine, "mask2")
    to_tensor = g.add("image_mask_to_tensor:mt", "image_mask_to_tensor")
    g.link(combine, "image", to_tensor, "image")
    g.link(to_tensor, "mask", fill, "mask")
    g.link(fill, "fill_cond", denoise, "fill_conditioning")
    expand = g.add("expand_mask_with_fade:x", "expand_mask_with_fade", fade_size_px=16)
    g.link(combine, "image", expand, "mask")
    blend = g.add("image_layer_blend:b", "invokeai_img_blend", layer_base={"image_name": initial_image})
    g.link(l2i, "image", blend, "layer_upper")
    g.link(expand, "image", blend, "mask")
    return g, blend
