"""The session queue and its processor: batches expanded into items, items run one at a time on the
engine clock (pending → in_progress → completed / failed / canceled), and the events the real server
pushes for each step.

Time is simulated, not slept: `advance(now)` moves the processor to `now`. In `realtime` speed an
item starts `PICKUP_SECONDS` after the processor is free (as the recorded server did) and takes
`NODE_SECONDS` per node; in `instant` speed everything runs at once. Handlers advance before they
read, and the pack's background task advances continuously so socket.io clients get their events
without polling.
"""

from __future__ import annotations

import collections
import copy
import itertools
import typing as t

from mockserver.packs.invokeai.catalogue import Catalogue
from mockserver.packs.invokeai.graph_validation import GraphChecker
from mockserver.packs.invokeai.queue_index import QueueIndex
from mockserver.packs.invokeai.runners.context import TensorStore, traceback_for
from mockserver.packs.invokeai.runners.metadata import without_none
from mockserver.packs.invokeai.runtime import QUEUE_SECTIONS, timestamp
from mockserver.packs.invokeai.session_runs import SessionRun
from mockserver.packs.invokeai.workflows import check_meta_version

if t.TYPE_CHECKING:
    from mockserver.packs.invokeai.store import InvokeStore

PICKUP_SECONDS = 0.45  # from "pending" to "in_progress" on the recorded server
DEQUEUE_SECONDS = 0.006  # the recorded server stamps started_at when it takes the item, ~6 ms in
NODE_SECONDS = 0.005
FINISHED = ("completed", "failed", "canceled")
STATUSES = ("pending", "in_progress", "completed", "failed", "canceled")
MAX_QUEUE_SIZE = 10000  # InvokeAI's default `max_queue_size`


class StatusCounts:
    """Item counts by status, per queue and per (queue, batch), kept as items change so the status
    answers and every status event are O(1) rather than a walk over the whole queue."""

    def __init__(self) -> None:
        self.by_queue: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        self.by_batch: dict[tuple[str, str], collections.Counter] = collections.defaultdict(collections.Counter)

    def add(self, item: dict, step: int) -> None:
        self.by_queue[item["queue_id"]][item["status"]] += step
        self.by_batch[(item["queue_id"], item["batch_id"])][item["status"]] += step

    def recount(self, items: t.Iterable[dict]) -> None:
        self.by_queue.clear()
        self.by_batch.clear()
        for item in items:
            self.add(item, +1)

    def pending(self) -> int:
        """Pending items in every queue."""
        return sum(counts["pending"] for counts in self.by_queue.values())

    def of_queue(self, queue_id: str) -> dict:
        return totals(self.by_queue[queue_id])

    def of_batch(self, queue_id: str, batch_id: str) -> dict:
        return totals(self.by_batch[(queue_id, batch_id)])


def totals(counter: collections.Counter) -> dict:
    """The API's counts: one per status, and their total."""
    counts = {status: counter[status] for status in STATUSES}
    return {**counts, "total": sum(counts.values())}


class SessionQueue:
    """The items of every queue id, the processor that runs them one at a time, and the events and
    status answers about them. It changes the store (`store`) through its runtime (ids, time,
    events) and, by the sessions it runs, its gallery. A little over 300 lines: enqueueing,
    cancelling, processing and the status events all move the same item records and counts, and
    a split between them would have each part reach into the other's fields."""

    def __init__(self, store: InvokeStore, catalogue: Catalogue) -> None:
        self.store = store
        self.catalogue = catalogue
        self.checker = GraphChecker(catalogue)
        self.items: dict[int, dict] = {}
        self.index = QueueIndex()  # listing order and per-destination counts: told of every change
        self.next_item_id = 1
        self.started = True
        self.speed = "realtime"
        self.current: int | None = None
        self.idle_since = 0.0
        self.finish_at = 0.0
        self.in_flight: SessionRun | None = None  # the item whose nodes are running (session_runs.py)
        self._waiting: collections.deque | None = None  # pending items in the order they are taken
        self._waiting_made = 0  # next_item_id when that order was made
        self.status_counts = StatusCounts()
        # Latents, masks and conditioning by name, for every session (a cached output may name one)
        self.tensors = TensorStore()
        self.read_prompt_file: t.Callable[[str], str | None] = lambda path: None  # seed.py sets the folder

    # -- reading ------------------------------------------------------------------------------

    def get(self, queue_id: str, item_id: int) -> dict | None:
        item = self.items.get(item_id)
        return item if item is not None and item["queue_id"] == queue_id else None

    def in_queue(self, queue_id: str) -> list[dict]:
        return [item for item in self.items.values() if item["queue_id"] == queue_id]

    def pending_order(self, queue_id: str | None = None) -> list[dict]:
        """Pending items in the order the processor takes them: priority, then first in."""
        rows = [i for i in self.items.values() if i["status"] == "pending" and queue_id in (None, i["queue_id"])]
        return sorted(rows, key=lambda item: (-item["priority"], item["item_id"]))

    def _count(self, item: dict, step: int) -> None:
        self.status_counts.add(item, step)
        self.index.count(item, step)

    def _set_status(self, item: dict, status: str, **changes: t.Any) -> None:
        """Every status change goes through here, so the counts follow."""
        self._count(item, -1)
        item.update(status=status, **changes)
        self._count(item, +1)

    def _recount(self) -> None:
        self.status_counts.recount(self.items.values())

    def counts(self, items: t.Iterable[dict]) -> dict:
        return totals(collections.Counter(item["status"] for item in items))

    def queue_status(self, queue_id: str) -> dict:
        current = self.items.get(self.current) if self.current is not None else None
        if current is not None and current["queue_id"] != queue_id:
            current = None
        return {"queue_id": queue_id, "item_id": current and current["item_id"],
                "batch_id": current and current["batch_id"], "session_id": current and current["session_id"],
                **self.status_counts.of_queue(queue_id)}

    def batch_status(self, queue_id: str, batch_id: str, item: dict | None = None) -> dict:
        """A batch's counts; `item` (one of the batch's) saves looking up its origin and destination."""
        if item is None:
            item = next((i for i in self.items.values()
                         if i["queue_id"] == queue_id and i["batch_id"] == batch_id), {})
        return {"queue_id": queue_id, "batch_id": batch_id, "origin": item.get("origin"),
                "destination": item.get("destination"), **self.status_counts.of_batch(queue_id, batch_id)}

    def processor_status(self) -> dict:
        return {"is_started": self.started, "is_processing": self.current is not None}

    # -- enqueueing ---------------------------------------------------------------------------

    def enqueue(self, queue_id: str, batch: dict, prepend: bool, given: dict | None = None) -> dict:
        """`given`: the batch as sent, when it differs from `batch` (the spec's defaults filled in)."""
        if isinstance(batch.get("workflow"), dict):
            check_meta_version(batch["workflow"], ("body", "batch", "workflow"))
        graph = self.checker.check_batch(given if given is not None else batch)
        combinations = expand(batch.get("data"), graph, self.checker)
        runs = batch.get("runs", 1)
        requested = runs * len(combinations)
        room = MAX_QUEUE_SIZE - self.status_counts.pending()
        store = self.store
        batch_id = batch.get("batch_id") or store.runtime.new_id()
        priority = (max((i["priority"] for i in self.pending_order(queue_id)), default=0) + 1) if prepend else 0
        now = store.runtime.now()
        item_ids: list[int] = []
        # Lazily: `runs` has no maximum, and only as many items as the queue has room for are made.
        sessions = (combination for _ in range(runs) for combination in combinations)
        for field_values, session_graph in itertools.islice(sessions, max(room, 0)):
            item = self._new_item(queue_id, batch, batch_id, priority, now, field_values, session_graph)
            item_ids.append(item["item_id"])
        echoed = {"batch_id": batch_id, "origin": batch.get("origin"), "destination": batch.get("destination"),
                  "data": batch.get("data"), "graph": graph, "workflow": batch.get("workflow"), "runs": runs}
        store.runtime.emit("batch_enqueued", {"queue_id": queue_id, "batch_id": batch_id, "enqueued": len(item_ids),
                                              "requested": requested, "priority": priority,
                                              "origin": batch.get("origin")},
                           room=queue_id)
        store.changed(*QUEUE_SECTIONS)
        return {"queue_id": queue_id, "enqueued": len(item_ids), "requested": requested, "batch": echoed,
                "priority": priority, "item_ids": sorted(item_ids, reverse=True)}

    def _new_item(self, queue_id: str, batch: dict, batch_id: str, priority: int, now: float,
                  field_values: list[dict], graph: dict, retried_from: int | None = None) -> dict:
        item_id = self.next_item_id
        self.next_item_id += 1
        session_id = self.store.runtime.new_id()
        item = {
            "item_id": item_id, "status": "pending", "priority": priority, "batch_id": batch_id,
            "origin": batch.get("origin"), "destination": batch.get("destination"), "session_id": session_id,
            "error_type": None, "error_message": None, "error_traceback": None,
            "created_at": now, "updated_at": now, "started_at": None, "completed_at": None,
            "queue_id": queue_id, "field_values": field_values, "retried_from_item_id": retried_from,
            "is_api_validation_run": False, "published_workflow_id": None, "credits": None,
            "session": new_session(session_id, graph, self.store.runtime.new_id()),
            "workflow": batch.get("workflow"),
        }
        self.items[item_id] = item
        self.index.add(item)
        self._count(item, +1)
        return item

    def retry(self, queue_id: str, item_ids: list[int]) -> list[int]:
        retried = []
        now = self.store.runtime.now()
        for item_id in item_ids:
            old = self.get(queue_id, item_id)
            if old is None or old["status"] not in ("failed", "canceled"):
                continue
            batch = {"origin": old["origin"], "destination": old["destination"], "workflow": old["workflow"]}
            # A retry of a retry still points at the first item of the chain.
            origin = old["retried_from_item_id"] or item_id
            self._new_item(queue_id, batch, old["batch_id"], old["priority"], now, copy.deepcopy(old["field_values"]),
                           copy.deepcopy(old["session"]["graph"]), retried_from=origin)
            retried.append(item_id)
        if retried:  # no event of its own: the recorded server only announced the new items' runs
            self.store.changed(*QUEUE_SECTIONS)
        return retried

    # -- cancelling and deleting -------------------------------------------------------------

    def cancel(self, item: dict, now: float | None = None) -> bool:
        if item["status"] in FINISHED:
            return False
        now = self.store.runtime.now() if now is None else now
        if self.current == item["item_id"]:
            self.current = None
            self.idle_since = now
        self._set_status(item, "canceled", updated_at=now, completed_at=now)
        self._status_event(item)
        self.store.changed(*QUEUE_SECTIONS)
        return True

    def cancel_where(self, queue_id: str, keep: t.Callable[[dict], bool]) -> int:
        """Cancel the matching unfinished items; the count is of pending ones only, as the real
        server counts (the running item is stopped all the same)."""
        chosen = [item for item in self.in_queue(queue_id) if keep(item) and item["status"] not in FINISHED]
        pending = sum(item["status"] == "pending" for item in chosen)
        for item in chosen:
            self.cancel(item)
        return pending

    def delete_where(self, queue_id: str, keep: t.Callable[[dict], bool]) -> int:
        doomed = [item for item in self.in_queue(queue_id) if keep(item)]
        for item in doomed:
            if self.current == item["item_id"]:
                self.cancel(item)
            del self.items[item["item_id"]]
            self.index.remove(item)
            self._count(item, -1)
        if doomed:
            self.store.changed(*QUEUE_SECTIONS)
        return len(doomed)

    def pause(self) -> None:
        self.started = False
        self.store.changed(*QUEUE_SECTIONS)

    def resume(self, now: float) -> None:
        if not self.started:
            self.started = True
            self.idle_since = max(self.idle_since, now)
            self.store.changed(*QUEUE_SECTIONS)

    # -- processing ---------------------------------------------------------------------------

    def advance(self, now: float) -> None:
        """Run the processor forward to `now`, every due session's nodes inline. The server runs
        them off the event loop instead (`session_runs.settle`); both take the same steps."""
        while (run := self.next_run(now)) is not None:
            run.execute()
            self.conclude(run)

    def next_run(self, now: float) -> SessionRun | None:
        """Move the processor towards `now` (items picked up, their status events) until an item's
        nodes are due: that item's run, now in flight, or None when nothing is due (or a run is
        in flight already: nothing moves until it is concluded)."""
        if self.in_flight is not None:
            return None
        while True:
            if self.current is not None:
                if self.speed == "realtime" and now < self.finish_at:
                    return None
                self.in_flight = SessionRun(self, self.items[self.current],
                                            now if self.speed == "instant" else self.finish_at)
                return self.in_flight
            if not self.started or not self.status_counts.pending():
                return None
            item = self._next_pending()
            if item is None:
                return None
            taken = max(self.idle_since, item["created_at"]) + DEQUEUE_SECONDS
            start = now if self.speed == "instant" else taken - DEQUEUE_SECONDS + PICKUP_SECONDS
            if start > now:
                return None
            # The real server stamps started_at when it takes the item and reports it in progress
            # about 0.45 s later, once the session is ready: both are kept apart here too.
            self._start(item, start, started_at=start if self.speed == "instant" else taken)

    def _next_pending(self) -> dict | None:
        """The pending item the processor takes next. The order is sorted once and kept until
        items are added (an instant run through 10,000 items must not sort 10,000 times); items
        that have left the queue or stopped pending since are skipped."""
        if self._waiting is None or self._waiting_made != self.next_item_id:
            self._waiting = collections.deque(self.pending_order())
            self._waiting_made = self.next_item_id
        waiting = self._waiting
        while waiting and (waiting[0]["status"] != "pending" or self.items.get(waiting[0]["item_id"]) is not waiting[0]):
            waiting.popleft()
        return waiting[0] if waiting else None

    def _start(self, item: dict, when: float, started_at: float) -> None:
        self.current = item["item_id"]
        self._set_status(item, "in_progress", started_at=started_at, updated_at=when)
        count = max(len(item["session"]["graph"].get("nodes", {})), 1)
        self.finish_at = when + count * NODE_SECONDS
        self._status_event(item)
        self.store.changed(*QUEUE_SECTIONS)

    def conclude(self, run: SessionRun) -> None:
        """Finish the item whose nodes `run` ran: completed, or failed at its failing node."""
        if self.in_flight is run:
            self.in_flight = None
        if not run.finished:  # the task awaiting it was cancelled (shutdown): the item runs again later
            return
        item, when = run.item, run.when
        item["session"] = run.session
        if not run.live():  # canceled, deleted or reset while it ran: that said all there is to say
            self.store.changed()
            return
        self.current = None
        self.idle_since = when
        if run.failure is None:
            self._set_status(item, "completed", updated_at=when, completed_at=when)
            self._status_event(item)
        else:
            node, prepared_id, error = run.failure
            self._set_status(item, "failed", updated_at=when, completed_at=when, error_type=error.error_type,
                             error_message=error.message, error_traceback=traceback_for(error))
            # The real server reports the item's failure first, then the node's error.
            self._status_event(item)
            self.node_event(item, item["session"], "invocation_error", node,
                            {"error_type": error.error_type, "error_message": error.message,
                             "error_traceback": item["error_traceback"], "user_id": None, "project_id": None})
        # Nodes change the store only through add_image (which names what it adds) and the cache.
        self.store.changed(*QUEUE_SECTIONS, ("cache", ""))

    # -- events -------------------------------------------------------------------------------

    def _base(self, item: dict) -> dict:
        return {"queue_id": item["queue_id"], "item_id": item["item_id"], "batch_id": item["batch_id"],
                "origin": item["origin"], "destination": item["destination"]}

    def _status_event(self, item: dict) -> None:
        self.store.runtime.emit("queue_item_status_changed", {
            **self._base(item), "status": item["status"], "error_type": item["error_type"],
            "error_message": item["error_message"], "error_traceback": item["error_traceback"],
            "created_at": timestamp(item["created_at"]), "updated_at": timestamp(item["updated_at"]),
            "started_at": item["started_at"] and timestamp(item["started_at"]),
            "completed_at": item["completed_at"] and timestamp(item["completed_at"]),
            "batch_status": self.batch_status(item["queue_id"], item["batch_id"], item),
            "queue_status": self.queue_status(item["queue_id"]),
            "session_id": item["session_id"], "credits": None}, room=item["queue_id"])

    def node_event(self, item: dict, session: dict, name: str, node: dict, extra: dict | None = None) -> None:
        """An invocation event; `session` is the one running (a run's private copy until it ends)."""
        source = session["prepared_source_mapping"].get(node["id"], node["id"])
        self.store.runtime.emit(name, {**self._base(item), "session_id": item["session_id"],
                                       "invocation": copy.deepcopy(node), "invocation_source_id": source,
                                       **(extra or {})},
                                room=item["queue_id"])

    # -- state file ---------------------------------------------------------------------------

    def export(self) -> dict:
        return {"items": list(self.items.values()), "next_item_id": self.next_item_id, "started": self.started,
                "speed": self.speed, "current": self.current, "idle_since": self.idle_since,
                "finish_at": self.finish_at}

    def load(self, data: dict) -> None:
        self.items = {item["item_id"]: item for item in data.get("items", [])}
        self._recount()
        self.index.rebuild(self.items.values())
        self.next_item_id = int(data.get("next_item_id", max(self.items, default=0) + 1))
        self.started = bool(data.get("started", True))
        self.speed = data.get("speed", self.speed)
        self.current = data.get("current")
        self.idle_since = float(data.get("idle_since", 0.0))
        self.finish_at = float(data.get("finish_at", 0.0))


def item_dto(item: dict, *, exclude_none: bool = False) -> dict:
    """A queue item as the API shows it (times as InvokeAI's timestamps)."""
    rendered = {**item}
    for key in ("created_at", "updated_at", "started_at", "completed_at"):
        rendered[key] = item[key] and timestamp(item[key])
    rendered = copy.deepcopy(rendered)
    return without_none(rendered) if exclude_none else rendered


def new_session(session_id: str, graph: dict, execution_id: str) -> dict:
    return {"id": session_id, "graph": graph, "execution_graph": {"id": execution_id, "nodes": {}, "edges": []},
            "executed": [], "executed_history": [], "results": {}, "errors": {},
            "prepared_source_mapping": {}, "source_prepared_mapping": {}}


def expand(data: list | None, graph: dict, checker: GraphChecker) -> list[tuple[list[dict], dict]]:
    """Every (field values, graph) combination of a batch's data (checked already), in the real
    server's order: the outer list is a product of groups, each group zips its items."""
    if not data:
        return [([], copy.deepcopy(graph))]
    groups = []
    for group in data:
        length = len(group[0].get("items") or []) if group else 0
        groups.append([[{"node_path": d["node_path"], "field_name": d["field_name"], "value": d["items"][i]}
                        for d in group] for i in range(length)])
    combinations = []
    for choice in itertools.product(*groups):
        field_values = [value for group in choice for value in group]
        session_graph = copy.deepcopy(graph)
        for value in field_values:
            node = session_graph["nodes"][value["node_path"]]
            node[value["field_name"]] = checker.coerce(node["type"], value["field_name"], copy.deepcopy(value["value"]))
        combinations.append((field_values, session_graph))
    return combinations

