"""Fixtures of the example project's tests (its configuration by environment variables, the
demo's topology), which run it as an operator does, in processes of its own.

No fixture is shared among these modules yet: each module's own are in it. What they share is
which environment variables configure the example project, ``CONFIG_PREFIXES`` of
``tests/relying_parties.py``, and ``REPO_ROOT``, ``free_port`` and ``wait_for`` of
``tests/services.py``.
"""
