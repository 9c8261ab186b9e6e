"""How the CLI reaches Prefect: find the API, check it answers, or say plainly that it does not.

Imported only by stage-changing commands, so read-only commands never pay Prefect's import cost.
"""

from __future__ import annotations

import os

import httpx

LOCAL_API = "http://127.0.0.1:4200/api"


def api_url() -> str:
    """PREFECT_API_URL (environment, else profile), else the local server `smartcity up` starts."""
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]  # no Prefect import (~1.5 s) when the environment says it
    from prefect.settings import get_current_settings

    return get_current_settings().api.url or LOCAL_API


def auth_headers() -> dict[str, str]:
    """Basic auth for a server run with PREFECT_SERVER_API_AUTH_STRING."""
    secret = os.environ.get("PREFECT_API_AUTH_STRING")
    if secret is None and not os.environ.get("PREFECT_API_URL"):
        from prefect.settings import get_current_settings

        value = get_current_settings().api.auth_string
        secret = value.get_secret_value() if value else None
    if not secret:
        return {}
    import base64

    return {"Authorization": "Basic " + base64.b64encode(secret.encode()).decode()}


def health(url: str, timeout: float = 2.0) -> str | None:
    """None when the API answers healthy, else a one-line reason."""
    try:
        # Not /health: the server lets /health through without credentials, so it cannot tell a 401.
        response = httpx.get(f"{url.rstrip('/')}/admin/version", headers=auth_headers(), timeout=timeout)
    except httpx.HTTPError as exc:
        return f"not reachable ({type(exc).__name__})"
    if response.status_code == 401:
        return "refused our credentials: set PREFECT_API_AUTH_STRING to the server's auth string"
    if response.status_code != 200:
        return f"answered HTTP {response.status_code}"
    return None


def use_api(url: str) -> None:
    """Point this process's Prefect client at `url`."""
    os.environ["PREFECT_API_URL"] = url
    from prefect.context import refresh_global_settings_context

    refresh_global_settings_context()
