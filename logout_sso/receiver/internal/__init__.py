"""The receiver's private machinery (token validation, trusted issuers): not part of the
public API, it may change in any release."""
