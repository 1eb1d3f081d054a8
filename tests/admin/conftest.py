"""Fixtures of the Django admin's tests (organization admins' scoping, the hub's admin
actions).

No fixture is shared among these modules yet: each module's own are in it (``world`` differs
from one to the other). They use the suite's ``make_organization``, ``make_application`` and
``make_org_admin`` (``tests/conftest.py``) and the hub's ``queued`` (``tests/hub_receivers.py``).
"""
