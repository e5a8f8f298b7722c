"""Running one queue item's session: its graph's nodes, one after another, in a worker thread.

A node may take seconds of Pillow and numpy work (a `blank_image` of 8192², an upscale), and every
API shares one event loop, so `settle` runs the nodes off the loop while the processor's state moves
on it, under the store's lock:

1. on the loop, `SessionQueue.next_run` moves the processor to "now" (items picked up, statuses,
   their events) until an item's nodes are due, and hands back that item's `SessionRun`;
2. in a worker, `SessionRun.execute` runs the nodes against a private copy of the session. What it
   reads or adds in the store (images, models, the invocation cache) it takes under the store's lock,
   briefly; the heavy work (decoding, the nodes, PNG encoding) holds no lock. Its invocation events
   go out as they happen, in the order the real server sends them;
3. back on the loop, `SessionQueue.conclude` puts the session in the item and finishes it (completed
   or failed, with its status event), then the next item is due.

One run is in flight at a time, as the real processor runs one session at a time; whoever settles
meanwhile (a handler, the background tick) waits for it. A cancel while it runs stops it before its
next node, as the real processor stops a canceled session.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import typing as t

from PIL import Image

from mockserver.engine.threads import off_loop
from mockserver.packs.invokeai import imaging
from mockserver.packs.invokeai.field_validation import Invalid
from mockserver.packs.invokeai.runners.context import NodeFailed, RunContext, data_url
from mockserver.packs.invokeai.runners.graph_execution import GraphExecution


def _runners() -> t.Any:
    """The node runners, imported when the first node runs: they bring numpy and the image
    machinery, which a server that never runs a graph does not need at start-up."""
    from mockserver.packs.invokeai.runners import registry

    return registry


if t.TYPE_CHECKING:
    from mockserver.packs.invokeai.session_queue import SessionQueue
    from mockserver.packs.invokeai.store import InvokeStore

Failure = tuple[dict, str, NodeFailed]  # (the failing node, its prepared id, why)


class SessionRun:
    """One item's nodes, run as the real server runs a session (`runners/graph_execution.py`:
    iterate expands what it feeds, collect gathers it back)."""

    def __init__(self, queue: SessionQueue, item: dict, when: float) -> None:
        self.queue = queue
        self.store = queue.store
        self.item = item
        self.when = when  # the simulated moment the nodes ran: images made now are stamped with it
        self.session: dict = item["session"]  # a private copy once `execute` starts
        self.failure: Failure | None = None
        self.stopped = False  # canceled, deleted or reset while it ran: nothing more is reported
        self.finished = False  # every node ran (or one failed): there is an outcome to report
        self._node: dict | None = None  # the node running, for its progress events
        self.future: asyncio.Future | None = None  # the task running it, for whoever settles meanwhile

    # -- running ------------------------------------------------------------------------------

    def execute(self) -> None:
        """Run every node (blocking: a worker thread, or inline for the synchronous `advance`)."""
        self.session = copy.deepcopy(self.item["session"])
        try:
            self.failure = self._run()
        except Exception as error:  # never leave an item running: it would wedge the queue
            self.failure = ({"id": self.item["session_id"], "type": "session"}, self.item["session_id"],
                            NodeFailed(type(error).__name__, str(error), "services/session_processor"))
        self.finished = True

    def live(self) -> bool:
        """Still the item the processor runs: not canceled, deleted or reset away meanwhile."""
        if self.stopped:
            return False
        item, queue = self.item, self.queue
        self.stopped = (self.store.retired or item["status"] != "in_progress"
                        or queue.current != item["item_id"] or queue.items.get(item["item_id"]) is not item)
        return not self.stopped

    def _run(self) -> Failure | None:
        """None when it ran out of nodes, else the failing node."""
        session = self.session
        execution = GraphExecution(session, self.store.runtime.new_id)
        context = self._context()
        while (node := execution.next()) is not None:
            if not self.live():
                return None
            refused = self._incoming_problem(context, node, execution.fed_fields(node["id"]))
            if refused is not None:  # as `next()` fails on the real server: before the node starts
                session["errors"][node["id"]] = f"{refused.error_type}: {refused.message}"
                return node, node["id"], refused
            self._emit("invocation_started", node)
            self._node = node
            try:
                output = self._output(context, node)
            except NodeFailed as error:
                session["errors"][node["id"]] = f"{error.error_type}: {error.message}"
                return node, node["id"], error
            finally:
                self._node = None
            execution.complete(node["id"], output)
            self._emit("invocation_complete", node, {"result": output})
        return None

    def _emit(self, name: str, node: dict, extra: dict | None = None) -> None:
        if self.live():
            self.queue.node_event(self.item, self.session, name, node, extra)

    def _incoming_problem(self, context: RunContext, node: dict, fed: list[str]) -> NodeFailed | None:
        """Values from edges are assigned with pydantic's checks on the real server: each is
        validated (and coerced, 1 → 1.0 for a float) against its field, then the node's own
        validators judge them."""
        spec = self.queue.catalogue.node(node["type"])
        for name in fed:
            field = spec.inputs.get(name) if spec is not None else None
            if field is None:
                continue
            try:
                node[name] = self.queue.checker.fields.validate(node[name], field.schema, ())
            except Invalid:
                return _runners().input_error(node, name)
        return _runners().validator_problem(context, node, fed)

    def _output(self, context: RunContext, node: dict) -> dict:
        """A node's output, from the invocation cache when it is on and has seen these inputs."""
        store = self.store
        key = None
        with store.lock:
            cache = store.runtime.cache
            if cache["enabled"] and node.get("use_cache", True) and node["type"] not in CACHE_SKIP:
                inputs = {k: v for k, v in node.items() if k != "id"}  # the real key: everything but the id
                key = hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()
                if key in cache["entries"]:
                    cache["hits"] += 1
                    return copy.deepcopy(cache["entries"][key])
                cache["misses"] += 1
        output = {"output_meta": None, **_runners().run_node(context, node)}
        if key is not None:
            with store.lock:
                cache = store.runtime.cache
                cache["entries"][key] = copy.deepcopy(output)
                while len(cache["entries"]) > cache["max_size"]:
                    cache["entries"].pop(next(iter(cache["entries"])))
        return output

    # -- what a node may touch ------------------------------------------------------------------

    def _context(self) -> RunContext:
        store = self.store

        def model(key: str) -> dict | None:
            with store.lock:
                return store.models.get_record(key)

        def search_models(name: str, model_type: str) -> list[dict]:
            with store.lock:
                return store.models.list_records(model_type=model_type, model_name=name)

        return RunContext(save_image=self._save_image, load_image=self._load_image, model=model,
                          rng=store.runtime.prompt_rng, progress=self._progress, tensors=self.queue.tensors,
                          image_metadata=self._image_metadata, read_prompt_file=self.queue.read_prompt_file,
                          search_models=search_models, node_spec=self.queue.catalogue.node)

    def _save_image(self, picture: Image.Image, node: dict, node_id: str, category: str = "general") -> dict:
        item = self.item
        board = (node.get("board") or {}).get("board_id") or item["destination"]
        metadata = node.get("metadata")
        graph_text = json.dumps(self.session["graph"])
        workflow_text = json.dumps(item["workflow"]) if item["workflow"] else None
        metadata_text = json.dumps(metadata) if isinstance(metadata, dict) else None
        data = imaging.png_bytes(picture, {"invokeai_metadata": metadata_text, "invokeai_workflow": workflow_text,
                                           "invokeai_graph": graph_text})
        return self.store.gallery.add_image(data, picture.width, picture.height, category=category,
                                            is_intermediate=bool(node.get("is_intermediate")), board_id=board,
                                            session_id=item["session_id"], node_id=node_id,  # the prepared node's id
                                            origin="internal", metadata=metadata_text,
                                            workflow=workflow_text, graph=graph_text, when=self.when)

    def _load_image(self, name: str) -> Image.Image:
        with self.store.lock:
            data = self.store.gallery.image_bytes[name]  # KeyError: the node's "not found"
        try:
            return imaging.open_image(data)
        except imaging.ImageTooLarge as error:
            raise NodeFailed("OverflowError", f"Image {name}: {error}",
                             "services/image_files/image_files_disk.py") from error

    def _image_metadata(self, name: str) -> dict | None:
        with self.store.lock:
            text = (self.store.gallery.images.get(name) or {}).get("metadata")
        return json.loads(text) if text else None

    def _progress(self, message: str, percentage: float | None = None, image: Image.Image | None = None,
                  size: tuple[int, int] | None = None) -> None:
        if self._node is not None:
            preview = None
            if image is not None:
                width, height = size or image.size
                preview = {"width": width, "height": height, "dataURL": data_url(image)}
            self._emit("invocation_progress", self._node, {"message": message, "percentage": percentage,
                                                           "image": preview})


CACHE_SKIP = {"rand_int", "rand_float", "random_range"}  # random nodes are never served from the cache


async def settle(store: InvokeStore, *, wait: bool = True) -> None:
    """Move the queue processor and the model jobs to the clock's "now", running due sessions off
    the event loop; returns once nothing more is due (or the store was replaced meanwhile). With
    `wait=False` it starts what is due and returns at once (the background tick, which must keep
    delivering a running session's events while it runs)."""
    queue: SessionQueue = store.queue
    while not store.retired:
        with store.lock:
            now = store.runtime.clock.now()
            store.advance_models(now)
            run = queue.in_flight
            if run is None:
                run = queue.next_run(now)
                if run is None:
                    return
                run.future = asyncio.ensure_future(_execute(store, run))
        if not wait:
            return
        assert run.future is not None  # an in-flight run was started above or on an earlier tick
        await asyncio.shield(run.future)


async def _execute(store: InvokeStore, run: SessionRun) -> None:
    try:
        await off_loop(run.execute, lane="sessions")
    finally:
        with store.lock:
            store.queue.conclude(run)
