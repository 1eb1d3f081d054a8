"""The machinery of inbound signals: what the admin, the commands and the views call (which
source sent a token, its keys, the token's checks, the subjects it names, what each signal
does, the transmitter's streams)."""
