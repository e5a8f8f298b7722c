"""A session's graph run the way InvokeAI's GraphExecutionState runs it.

Source nodes are *prepared* into execution-graph nodes lazily: when nothing prepared is ready,
every node that can be prepared is (in topological order). A node downstream of `iterate` nodes
is prepared once per combination of their items (nested iterators make the full product); a
`collect` node is prepared once and gathers the output of every prepared copy feeding its `item`
into its `collection`. An `iterate` over an empty collection prepares nothing, and, as on the real
server, nothing that comes after it in topological order gets prepared either.

The next node to run is the real pick too: iterate copies by index first, each followed by what
it feeds, depth first; otherwise the first ready node in depth-first post-order.
"""

from __future__ import annotations

import copy
import itertools
import typing as t

NodeId = str


class DiGraph:
    """The little of a directed graph the executor needs, with insertion order kept everywhere."""

    def __init__(self, nodes: t.Iterable[NodeId] = (), edges: t.Iterable[tuple[NodeId, NodeId]] = ()) -> None:
        self.succ: dict[NodeId, list[NodeId]] = {}
        self.pred: dict[NodeId, list[NodeId]] = {}
        for node in nodes:
            self.add_node(node)
        for source, target in edges:
            self.add_edge(source, target)

    def add_node(self, node: NodeId) -> None:
        self.succ.setdefault(node, [])
        self.pred.setdefault(node, [])

    def add_edge(self, source: NodeId, target: NodeId) -> None:
        self.add_node(source)
        self.add_node(target)
        if target not in self.succ[source]:
            self.succ[source].append(target)
            self.pred[target].append(source)

    def topological_sort(self) -> list[NodeId]:
        """Generation by generation, as networkx sorts."""
        indegree = {node: len(preds) for node, preds in self.pred.items() if preds}
        generation = [node for node, preds in self.pred.items() if not preds]
        order: list[NodeId] = []
        while generation:
            order += generation
            following = []
            for node in generation:
                for child in self.succ[node]:
                    indegree[child] -= 1
                    if indegree[child] == 0:
                        following.append(child)
                        del indegree[child]
            generation = following
        return order

    def ancestors(self, node: NodeId) -> set[NodeId]:
        seen: set[NodeId] = set()
        stack = list(self.pred.get(node, []))
        while stack:
            current = stack.pop()
            if current not in seen:
                seen.add(current)
                stack += self.pred[current]
        return seen

    def has_path(self, source: NodeId, target: NodeId) -> bool:
        return source == target or source in self.ancestors(target)

    def dfs_postorder(self, source: NodeId | None = None) -> list[NodeId]:
        roots = [source] if source is not None else list(self.succ)
        seen: set[NodeId] = set()
        order: list[NodeId] = []
        for root in roots:
            if root in seen:
                continue
            seen.add(root)
            stack = [(root, iter(self.succ[root]))]
            while stack:
                parent, children = stack[-1]
                child = next((c for c in children if c not in seen), None)
                if child is None:
                    stack.pop()
                    order.append(parent)
                else:
                    seen.add(child)
                    stack.append((child, iter(self.succ[child])))
        return order


class GraphExecution:
    """Runs over a mock session dict (graph, execution_graph, results, the two mappings...).

    The execution graph is kept incrementally beside the session: which prepared nodes are ready,
    the prepared iterators each node descends from, each node's incoming edges. With those the
    real pick costs little even when an iterator has hundreds of items."""

    def __init__(self, session: dict, new_id: t.Callable[[], str]) -> None:
        self.session = session
        self.graph = session["graph"]
        self.nodes: dict[NodeId, dict] = self.graph["nodes"]
        self.edges: list[dict] = self.graph["edges"]
        self.new_id = new_id
        self.executed: set[NodeId] = set(session["executed"])
        self.execution = DiGraph()
        self.incoming: dict[NodeId, list[dict]] = {}
        self.iterators_above: dict[NodeId, frozenset[NodeId]] = {}  # prepared iterators with a path to the node
        self.iterator_rank: dict[NodeId, tuple[int, int]] = {}  # (index, order made): the real pick's order
        self.ready: set[NodeId] = set()
        self.remaining: dict[NodeId, int] = {}  # source -> prepared copies not yet run
        for node_id in session["execution_graph"]["nodes"]:
            self._track(node_id, [e for e in session["execution_graph"]["edges"]
                                  if e["destination"]["node_id"] == node_id])

    # -- the source graph ---------------------------------------------------------------------

    def _is(self, node_id: NodeId, node_type: str) -> bool:
        return self.nodes[node_id]["type"] == node_type

    def _flat(self) -> DiGraph:
        """Every node but a lone `iterate` (the real graph leaves those out until an edge adds them)."""
        g = DiGraph(n for n in self.nodes if not self._is(n, "iterate"))
        for edge in self.edges:
            g.add_edge(edge["source"]["node_id"], edge["destination"]["node_id"])
        return g

    def _iterator_graph(self) -> DiGraph:
        """The flat graph without the edges into collectors: a node's iterators are its ancestors here."""
        g = DiGraph(n for n in self.nodes if not self._is(n, "iterate"))
        for edge in self.edges:
            source, target = edge["source"]["node_id"], edge["destination"]["node_id"]
            g.add_node(source)
            g.add_node(target)
            if not self._is(target, "collect"):
                g.add_edge(source, target)
        return g

    def _input_edges(self, node_id: NodeId, field: str | None = None) -> list[dict]:
        return [e for e in self.edges if e["destination"]["node_id"] == node_id
                and (field is None or e["destination"]["field"] == field)]

    def _prepared(self, source: NodeId) -> list[NodeId]:
        return self.session["source_prepared_mapping"].get(source, [])

    # -- public -------------------------------------------------------------------------------

    def next(self) -> dict | None:
        """The next prepared node, its inputs filled from the results it reads; None when done."""
        node_id = self._next_ready()
        if node_id is None:
            while self._prepare() is not None:
                node_id = self._next_ready()
        if node_id is None:
            return None
        node = self.session["execution_graph"]["nodes"][node_id]
        self._fill_inputs(node)
        return node

    def fed_fields(self, node_id: NodeId) -> list[str]:
        """The inputs the node's edges set (a collector's items become its `collection`)."""
        fields = dict.fromkeys(e["destination"]["field"] for e in self.incoming.get(node_id, []))
        collector = self.session["execution_graph"]["nodes"][node_id]["type"] == "collect"
        return ["collection" if collector and field == "item" else field for field in fields]

    def complete(self, node_id: NodeId, output: dict) -> None:
        """A prepared node's result; the source node counts as run once all its copies have."""
        session = self.session
        session["results"][node_id] = output
        self._mark(node_id)
        self.ready.discard(node_id)
        for child in self.execution.succ.get(node_id, []):
            self._check_ready(child)
        source = session["prepared_source_mapping"][node_id]
        self.remaining[source] -= 1
        if self.remaining[source] == 0 and source not in self.executed:
            self._mark(source)
            session["executed_history"].append(source)

    def _mark(self, node_id: NodeId) -> None:
        self.executed.add(node_id)
        self.session["executed"].append(node_id)

    # -- the execution graph, kept as nodes are prepared --------------------------------------

    def _track(self, node_id: NodeId, incoming: list[dict]) -> None:
        session = self.session
        node = session["execution_graph"]["nodes"][node_id]
        self.execution.add_node(node_id)
        self.incoming[node_id] = incoming
        above: set[NodeId] = set()
        for edge in incoming:
            parent = edge["source"]["node_id"]
            self.execution.add_edge(parent, node_id)
            above |= self.iterators_above.get(parent, frozenset())
            if parent in self.iterator_rank:
                above.add(parent)
        self.iterators_above[node_id] = frozenset(above)
        if node["type"] == "iterate":
            self.iterator_rank[node_id] = (node.get("index", 0), len(self.iterator_rank))
        source = session["prepared_source_mapping"][node_id]
        if node_id not in self.executed:
            self.remaining[source] = self.remaining.get(source, 0) + 1
        self._check_ready(node_id)

    def _check_ready(self, node_id: NodeId) -> None:
        if node_id not in self.executed and all(p in self.executed for p in self.execution.pred[node_id]):
            self.ready.add(node_id)

    # -- preparing ----------------------------------------------------------------------------

    def _prepare(self) -> NodeId | None:
        g = self._flat()
        mapping = self.session["source_prepared_mapping"]
        candidate = next((n for n in g.topological_sort()
                          if n not in mapping
                          and not (self._is(n, "iterate") and not all(p in self.executed for p in g.pred[n]))
                          and not any(self._is(a, "iterate") and a not in self.executed for a in g.ancestors(n))),
                         None)
        if candidate is None:
            return None
        parents = list(g.pred[candidate])
        created: list[NodeId] = []
        if self._is(candidate, "collect"):
            mappings: list[tuple[NodeId, NodeId | None]] = [
                (parent, prepared) for parent in parents for prepared in self._prepared(parent)]
            created += self._create(candidate, mappings)
        else:
            iterators = [n for n in self._iterator_graph().ancestors(candidate) if self._is(n, "iterate")]
            iterators.sort(key=list(self.nodes).index)
            for combination in itertools.product(*(self._prepared(i) for i in iterators)):
                mappings = [(parent, self._iteration_node(parent, g, list(combination))) for parent in parents]
                created += self._create(candidate, mappings)
        return created[0] if created else None

    def _iteration_node(self, source: NodeId, g: DiGraph, iteration: list[NodeId]) -> NodeId | None:
        """Which prepared copy of a parent feeds this iteration."""
        prepared = self._prepared(source)
        if len(prepared) == 1:
            return prepared[0]
        own = next((p for p in prepared if p in iteration), None)
        if own is not None:
            return own
        mapping = self.session["prepared_source_mapping"]
        parent_iterators = [p for p in iteration if g.has_path(mapping[p], source)]
        return next((p for p in prepared if all(it in self.iterators_above[p] for it in parent_iterators)), None)

    def _create(self, node_id: NodeId, mappings: t.Sequence[tuple[NodeId, NodeId | None]]) -> list[NodeId]:
        """The prepared copies of a node (one per item for an iterator), wired to the given parents."""
        node = self.nodes[node_id]
        count = -1
        if self._is(node_id, "iterate"):
            edge = self._input_edges(node_id, "collection")[0]
            feeding = next(p for s, p in mappings if s == edge["source"]["node_id"])
            count = len(self.session["results"][feeding].get(edge["source"]["field"]) or [])
        if count == 0:
            return []
        new_edges = [(prepared, edge) for edge in self._input_edges(node_id)
                     for source, prepared in mappings if source == edge["source"]["node_id"]]
        created = []
        session = self.session
        for index in range(count) if count > 0 else [-1]:
            copy_node = copy.deepcopy(node)
            copy_node["id"] = self.new_id()
            if count > 0:
                copy_node["index"] = index
            session["execution_graph"]["nodes"][copy_node["id"]] = copy_node
            session["prepared_source_mapping"][copy_node["id"]] = node_id
            session["source_prepared_mapping"].setdefault(node_id, []).append(copy_node["id"])
            incoming = [{"source": {"node_id": prepared, "field": edge["source"]["field"]},
                         "destination": {"node_id": copy_node["id"], "field": edge["destination"]["field"]}}
                        for prepared, edge in new_edges]
            session["execution_graph"]["edges"] += incoming
            self._track(copy_node["id"], incoming)
            created.append(copy_node["id"])
        return created

    # -- picking the next node ----------------------------------------------------------------

    def _next_ready(self) -> NodeId | None:
        """The real pick: iterator copies in index order, each one first if ready, else the first
        ready node depth-first (post-order) under it; failing those, the first ready node of the
        whole graph in depth-first post-order."""
        if not self.ready:
            return None
        first: NodeId | None = None
        for node_id in self.ready:
            candidates = set(self.iterators_above[node_id])
            if node_id in self.iterator_rank:
                candidates.add(node_id)
            for iterator in candidates:
                if first is None or self.iterator_rank[iterator] < self.iterator_rank[first]:
                    first = iterator
        if first is not None:
            if first in self.ready:
                return first
            found = next((n for n in self.execution.dfs_postorder(first) if n in self.ready), None)
            if found is not None:
                return found
        return next((n for n in self.execution.dfs_postorder() if n in self.ready), None)

    def _fill_inputs(self, node: dict) -> None:
        """Inputs from the results of the nodes feeding it (deep copies: a node may change them);
        a collector's items become its `collection`."""
        results = self.session["results"]
        incoming = self.incoming[node["id"]]
        if node["type"] == "collect":
            node["collection"] = [copy.deepcopy(results[e["source"]["node_id"]].get(e["source"]["field"]))
                                  for e in incoming if e["destination"]["field"] == "item"]
            return
        for edge in incoming:
            node[edge["destination"]["field"]] = copy.deepcopy(
                results[edge["source"]["node_id"]].get(edge["source"]["field"]))
