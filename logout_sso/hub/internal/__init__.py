"""The logout service's private machinery (outbox, sender, transport, keys, limits): not part
of the public API, it may change in any release."""
