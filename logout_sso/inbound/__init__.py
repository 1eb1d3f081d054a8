"""Logout signals from organizations' own identity providers: Universal Logout (Global Token
Revocation) and Shared Signals (CAEP and RISC events)."""
