"""The machinery of inbound signals: what the admin, the commands and the views call."""
