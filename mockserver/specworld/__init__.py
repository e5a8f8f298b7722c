"""`mockserver serve --spec FILE`: any OpenAPI 3.0/3.1 document as a stateful mock world.

document.py reads and bundles the document (cached), schema31.py brings 3.1 schemas to the dialect
the engine reads, infer.py finds resources, handlers.py and store.py keep them, bodies.py makes
examples and generated bodies, errors.py words errors in the document's schemas, and pack.py puts
it together as a pack.
"""
