"""The back-channel logout receiver: OpenID Connect Back-Channel Logout 1.0 tokens from trusted
issuers (the project's IdP, a logout_sso hub, ...) end every local session they name."""
