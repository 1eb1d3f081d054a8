"""The test suite's fixtures, for the benchmarks (run with ``make benchmark``)."""

from tests.conftest import make_organization

__all__ = ["make_organization"]
