"""A Python client of the hub's session API (``/sso/api/``), on requests, with timeouts.

client = HubClient("https://hub.example.com/sso/api/", credential)
client.register_session(sub="u1", session_id="abc", organization="acme")
client.report_logout(sub="u1", organization="acme")
etag, organizations = client.organizations() or ("", [])
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urljoin

import requests

from logout_sso.internal.untrusted import printable

__all__ = ["HubClient", "HubError"]

DEFAULT_TIMEOUT = (3.05, 10.0)


class HubError(Exception):
    """The hub answered with an error (``status``, ``error``), or could not be reached
    (``status`` None). It survives pickling (Celery stores and sends exceptions that way)."""

    def __init__(self, status: int | None, error: str, description: str) -> None:
        # The hub's words reach the worker's log with this exception: escaped.
        self._set(status, printable(error, limit=100), printable(description, limit=300))

    def _set(self, status: int | None, error: str, description: str) -> None:
        super().__init__(f"{status or 'unreachable'} {error}: {description}")
        self.status, self.error, self.description = status, error, description

    def __reduce__(self) -> tuple[Any, ...]:
        return (_unpickle_hub_error, (type(self), self.status, self.error, self.description))

    @property
    def transient(self) -> bool:
        """Worth retrying later: unreachable, overloaded or failing."""
        return self.status is None or self.status == 429 or self.status >= 500


def _unpickle_hub_error(
    cls: type[HubError], status: int | None, error: str, description: str
) -> HubError:
    """A pickled :class:`HubError` again: its text was escaped already, and is kept as is."""
    restored = cls.__new__(cls)
    restored._set(status, error, description)
    return restored


class HubClient:
    def __init__(
        self,
        api_url: str,
        credential: str,
        *,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
    ) -> None:
        self.api_url = api_url if api_url.endswith("/") else api_url + "/"
        self.timeout = timeout
        self.session = session or requests.Session()
        self.headers = {"Authorization": f"Bearer {credential}"}

    def _request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        """The hub's answer; :class:`HubError` when unreachable or for a 4xx/5xx."""
        try:
            response = self.session.request(
                method,
                urljoin(self.api_url, path),
                json=body,
                headers=self.headers | (headers or {}),
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise HubError(None, "unreachable", str(exc)) from exc
        if response.status_code >= 400:
            try:
                data = response.json()
            except ValueError:
                data = {}
            if not isinstance(data, dict):
                data = {}
            raise HubError(
                response.status_code,
                str(data.get("error", "error")),
                str(data.get("error_description", response.text[:200])),
            )
        return response

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self._request(method, path, body)
        return response.json() if response.content else None

    def register_session(
        self,
        *,
        sub: str,
        session_id: str,
        organization: str,
        sid: str = "",
        issuer: str = "",
        email: str = "",
        expires_at: str | None = None,
    ) -> dict[str, Any]:
        """Tell the hub about a new session (idempotent)."""
        body = {"sub": sub, "session_id": session_id, "organization": organization, "sid": sid}
        body |= {key: value for key, value in (("issuer", issuer), ("email", email)) if value}
        if expires_at:
            body["expires_at"] = expires_at
        result: dict[str, Any] = self._call("POST", "sessions/", body)
        return result

    def remove_session(self, session_id: str) -> bool:
        """Tell the hub a session ended here; False if the hub did not know it."""
        try:
            self._call("DELETE", f"sessions/{quote(session_id, safe='')}/")
        except HubError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def report_logout(
        self, *, sub: str = "", sid: str = "", organization: str = "", issuer: str = ""
    ) -> dict[str, Any]:
        """Report that the user logged out here: the hub logs them out everywhere."""
        body = {
            key: value
            for key, value in (
                ("sub", sub),
                ("sid", sid),
                ("organization", organization),
                ("issuer", issuer),
            )
            if value
        }
        result: dict[str, Any] = self._call("POST", "logouts/", body)
        return result

    def logout_event(self, event_id: int) -> dict[str, Any]:
        """A logout event with each delivery's state."""
        result: dict[str, Any] = self._call("GET", f"logouts/{event_id}/")
        return result

    def organizations(self, etag: str = "") -> tuple[str, list[dict[str, Any]]] | None:
        """The organizations this application serves at the hub, with their policies, and the
        answer's ``ETag``; ``None`` when ``etag`` is still current (304 Not Modified). Each
        organization is a dict as the hub sent it (``GET /sso/api/organizations/``), not
        validated further. Raises :class:`HubError` for an answer that is not a JSON object
        with a list of objects."""
        response = self._request(
            "GET", "organizations/", headers={"If-None-Match": etag} if etag else None
        )
        if response.status_code == 304:
            return None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict):
            raise HubError(
                response.status_code, "invalid_response", "The answer is not a JSON object."
            )
        organizations = body.get("organizations")
        if not isinstance(organizations, list) or not all(
            isinstance(item, dict) for item in organizations
        ):
            raise HubError(
                response.status_code,
                "invalid_response",
                "The answer's organizations are not a list of objects.",
            )
        return response.headers.get("ETag", ""), organizations
