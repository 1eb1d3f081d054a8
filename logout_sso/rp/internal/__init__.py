"""The relying party's private machinery: not part of the public API, it may change in any
release."""
