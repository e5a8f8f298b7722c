"""Running InvokeAI invocations: one runner per node type (`registry.py` gathers them), the session's
graph expanded and run as the real server runs it (`graph_execution.py`), and what a runner may touch
while it runs (`context.py`).

Nodes that need no model compute their real result. Nodes that would run a model (text encoders,
denoisers, VAEs, detectors, vision-language models) give deterministic stand-ins of the real output
type, sizes and fields: the same inputs always give the same output, and a generated picture follows
the seed, the prompt and, for image-to-image and inpainting, the input image and mask.
"""
