"""Tuttle Twins ML dataset sync: episode sheets → the minimal S3 copies and deletes.

Modules, from pure to I/O: ``layout`` (keys and split rule), ``manifest``, ``sheet``,
``config``, ``planner`` (vectorised change sets), ``guards`` (what is held for a person),
``s3ops`` (listings, concurrent copies, batched deletes), ``steps`` (one function per DAG
task), ``approval`` (the ``approve_held_changes`` operator) and ``report``.
"""
