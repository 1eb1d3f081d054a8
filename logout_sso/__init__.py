"""Single Logout for multi-tenant B2B Django products."""

__version__ = "0.1.0"
