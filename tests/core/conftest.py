"""Fixtures of the tests of what every role shares: models, settings, system checks,
validators, migrations, the public API, the import layout, packaging and the documentation.

No fixture is shared among these modules yet: each module's own are in it; the suite's are in
``tests/conftest.py``.
"""
