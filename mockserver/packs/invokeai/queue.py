"""The `/api/v1/queue/{queue_id}` operations, over the SessionQueue in `session_queue.py`. Every
handler first runs the processor forward to the engine clock's "now", so what it reads is current."""

from __future__ import annotations

import json

from mockserver.engine.http import Request
from mockserver.engine.issues import ApiError
from mockserver.engine.pack import Handlers
from mockserver.packs.invokeai.session_queue import FINISHED, SessionQueue, item_dto, totals
from mockserver.packs.invokeai.session_runs import settle
from mockserver.packs.invokeai.store import InvokeStore

handlers = Handlers()


async def _queue(request: Request[InvokeStore]) -> tuple[InvokeStore, SessionQueue, str]:
    store = request.state
    await settle(store)
    return store, store.queue, request.params["queue_id"]


def _item(queue: SessionQueue, queue_id: str, item_id: int) -> dict:
    item = queue.get(queue_id, item_id)
    if item is None:
        raise ApiError(404, f"Queue item with id {item_id} not found in queue {queue_id}")
    return item


@handlers("enqueue_batch")
async def enqueue_batch(request: Request[InvokeStore]) -> dict:
    store, queue, queue_id = await _queue(request)
    with store.lock:
        result = queue.enqueue(queue_id, request.body["batch"], bool(request.body.get("prepend", False)),
                               given=_batch_as_sent(request))
    # After a change the processor may act on at once (instant speed runs it to the end).
    await settle(store)
    return result


def _batch_as_sent(request: Request[InvokeStore]) -> dict | None:
    """The batch before the spec's defaults were filled in: what pydantic shows as a refused
    batch's `input`, and what the node checks read (a node's defaults are its type's, not the
    spec's generic node's)."""
    try:
        body = json.loads(request.raw_body)
    except ValueError:
        return None
    batch = body.get("batch") if isinstance(body, dict) else None
    return batch if isinstance(batch, dict) else None


@handlers("list_all_queue_items")
async def list_all_queue_items(request: Request[InvokeStore]) -> list:
    store, queue, queue_id = await _queue(request)
    destination = request.params.get("destination")
    items = [i for i in queue.in_queue(queue_id) if destination is None or i["destination"] == destination]
    items.sort(key=lambda item: (-item["priority"], item["item_id"]))
    return [item_dto(item) for item in items]


@handlers("get_queue_item_ids")
async def get_queue_item_ids(request: Request[InvokeStore]) -> dict:
    store, queue, queue_id = await _queue(request)
    ids = queue.index.item_ids(queue_id, request.params.get("order_dir", "DESC") == "DESC")
    return {"item_ids": ids, "total_count": len(ids)}


@handlers("get_queue_items_by_item_ids")
async def get_queue_items_by_item_ids(request: Request[InvokeStore]) -> list:
    store, queue, queue_id = await _queue(request)
    found = (queue.get(queue_id, item_id) for item_id in request.body["item_ids"])
    return [item_dto(item) for item in found if item is not None]


@handlers("resume")
async def resume(request: Request[InvokeStore]) -> dict:
    store, queue, _ = await _queue(request)
    with store.lock:
        queue.resume(store.runtime.clock.now())
        status = queue.processor_status()
    # After a change the processor may act on at once (instant speed runs it to the end).
    await settle(store)
    return status


@handlers("pause")
async def pause(request: Request[InvokeStore]) -> dict:
    store, queue, _ = await _queue(request)
    with store.lock:
        queue.pause()
    return queue.processor_status()


@handlers("cancel_all_except_current")
async def cancel_all_except_current(request: Request[InvokeStore]) -> dict:
    store, queue, queue_id = await _queue(request)
    with store.lock:
        canceled = queue.cancel_where(queue_id, lambda item: item["status"] == "pending")
    # After a change the processor may act on at once (instant speed runs it to the end).
    await settle(store)
    return {"canceled": canceled}


@handlers("delete_all_except_current")
async def delete_all_except_current(request: Request[InvokeStore]) -> dict:
    store, queue, queue_id = await _queue(request)
    with store.lock:
        deleted = queue.delete_where(queue_id, lambda item: item["status"] == "pending")
    return {"deleted": deleted}


@handlers("cancel_by_batch_ids")
async def cancel_by_batch_ids(request: Request[InvokeStore]) -> dict:
    store, queue, queue_id = await _queue(request)
    batch_ids = set(request.body["batch_ids"])
    with store.lock:
        canceled = queue.cancel_where(queue_id, lambda item: item["batch_id"] in batch_ids)
    # After a change the processor may act on at once (instant speed runs it to the end).
    await settle(store)
    return {"canceled": canceled}


@handlers("cancel_by_destination")
async def cancel_by_destination(request: Request[InvokeStore]) -> dict:
    store, queue, queue_id = await _queue(request)
    destination = request.params["destination"]
    with store.lock:
        canceled = queue.cancel_where(queue_id, lambda item: item["destination"] == destination)
    # After a change the processor may act on at once (instant speed runs it to the end).
    await settle(store)
    return {"canceled": canceled}


@handlers("delete_by_destination")
async def delete_by_destination(request: Request[InvokeStore]) -> dict:
    store, queue, queue_id = await _queue(request)
    destination = request.params["destination"]
    with store.lock:
        deleted = queue.delete_where(queue_id, lambda item: item["destination"] == destination)
    # After a change the processor may act on at once (instant speed runs it to the end).
    await settle(store)
    return {"deleted": deleted}


@handlers("retry_items_by_id")
async def retry_items_by_id(request: Request[InvokeStore]) -> dict:
    store, queue, queue_id = await _queue(request)
    with store.lock:
        retried = queue.retry(queue_id, list(request.body))
    # After a change the processor may act on at once (instant speed runs it to the end).
    await settle(store)
    return {"queue_id": queue_id, "retried_item_ids": retried}


@handlers("clear")
async def clear(request: Request[InvokeStore]) -> dict:
    store, queue, queue_id = await _queue(request)
    with store.lock:
        deleted = queue.delete_where(queue_id, lambda item: True)
        store.runtime.emit("queue_cleared", {"queue_id": queue_id}, room=queue_id)
    return {"deleted": deleted}


@handlers("prune")
async def prune(request: Request[InvokeStore]) -> dict:
    store, queue, queue_id = await _queue(request)
    with store.lock:
        deleted = queue.delete_where(queue_id, lambda item: item["status"] in FINISHED)
    return {"deleted": deleted}


@handlers("get_current_queue_item")
async def get_current_queue_item(request: Request[InvokeStore]) -> dict | None:
    store, queue, queue_id = await _queue(request)
    item = queue.get(queue_id, queue.current) if queue.current is not None else None
    return item_dto(item) if item is not None else None


@handlers("get_next_queue_item")
async def get_next_queue_item(request: Request[InvokeStore]) -> dict | None:
    store, queue, queue_id = await _queue(request)
    pending = queue.pending_order(queue_id)
    return item_dto(pending[0]) if pending else None


@handlers("get_queue_status")
async def get_queue_status(request: Request[InvokeStore]) -> dict:
    store, queue, queue_id = await _queue(request)
    return {"queue": queue.queue_status(queue_id), "processor": queue.processor_status()}


@handlers("get_batch_status")
async def get_batch_status(request: Request[InvokeStore]) -> dict:
    store, queue, queue_id = await _queue(request)
    return queue.batch_status(queue_id, request.params["batch_id"])


@handlers("get_queue_item")
async def get_queue_item(request: Request[InvokeStore]) -> dict:
    store, queue, queue_id = await _queue(request)
    # This one route leaves null fields out (FastAPI's response_model_exclude_none).
    return item_dto(_item(queue, queue_id, request.params["item_id"]), exclude_none=True)


@handlers("delete_queue_item")
async def delete_queue_item(request: Request[InvokeStore]) -> None:
    store, queue, queue_id = await _queue(request)
    item_id = request.params["item_id"]
    with store.lock:
        # An unknown id is no error: the real server answers null for it all the same.
        queue.delete_where(queue_id, lambda item: item["item_id"] == item_id)
    # After a change the processor may act on at once (instant speed runs it to the end).
    await settle(store)


@handlers("cancel_queue_item")
async def cancel_queue_item(request: Request[InvokeStore]) -> dict:
    store, queue, queue_id = await _queue(request)
    with store.lock:
        item = _item(queue, queue_id, request.params["item_id"])
        queue.cancel(item)
    # After a change the processor may act on at once (instant speed runs it to the end).
    await settle(store)
    return item_dto(item)


@handlers("counts_by_destination")
async def counts_by_destination(request: Request[InvokeStore]) -> dict:
    store, queue, queue_id = await _queue(request)
    destination = request.params["destination"]
    counts = queue.index.destination_counts(queue_id, destination)
    return {"queue_id": queue_id, "destination": destination, **totals(counts)}
