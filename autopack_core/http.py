"""The one aiohttp client every HTTP provider shares, and how its failures are classified.

One ``ClientSession`` per ``ModelCaller`` keeps connections pooled across
providers and calls. ``post_json`` makes a single attempt and turns every way
it can fail into a ``ProviderError`` subclass whose ``transient`` flag tells
the retry loop what to do: 429, 408 and 5xx (529 included), timeouts and
connection errors are transient; other 4xx are not and say what is wrong.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from typing import Any, Mapping

import aiohttp
import orjson

from autopack_core.config import RetriesConfig
from autopack_core.errors import (
    MalformedReply,
    ProviderHTTPError,
    ProviderTimeout,
    ProviderUnreachable,
)

TRANSIENT_STATUS = frozenset({408, 425, 429})
_HINTS = {
    400: "the server refused the request as invalid",
    401: "the API key was refused",
    403: "the API key is not allowed to do this",
    404: "not found: check the provider's base_url and the model name",
    413: "the request is too large for this model",
    422: "the server could not process the request",
}
_JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _error_detail(body: bytes) -> str:
    # Providers put the human-readable reason in different places; show it if found.
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", "replace").strip()
        return text[:200]
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            msg = err.get("message") or err.get("type") or err.get("status")
            if isinstance(msg, str):
                return msg[:200]
        elif isinstance(err, str):
            return err[:200]
    return orjson.dumps(data).decode()[:200]


class HttpClient:
    """A lazily opened ``aiohttp.ClientSession`` with the configured timeouts."""

    def __init__(self, retries: RetriesConfig) -> None:
        self._timeout = aiohttp.ClientTimeout(
            total=None,
            sock_connect=retries.connect_timeout_seconds,
            sock_read=retries.read_timeout_seconds,
        )
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def post_json(self, url: str, body: Any, *, headers: Mapping[str, str], who: str) -> Any:
        """POST ``body`` as JSON once; the decoded JSON reply, or a ``ProviderError``.

        :param who: names the provider in messages (``"provider 'openai'"``).
        """
        data = orjson.dumps(body)
        try:
            async with self.session.post(url, data=data, headers={**_JSON_HEADERS, **headers}) as resp:
                raw = await resp.read()
                status = resp.status
                if status >= 400:
                    raise self._http_error(who, url, status, resp.reason or "", resp.headers, raw)
        except (asyncio.TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise ProviderTimeout(
                f"{who}: timed out waiting for {url} ({type(exc).__name__})", transient=True
            ) from None
        except aiohttp.ClientPayloadError as exc:
            raise MalformedReply(f"{who}: malformed reply: the body was cut off ({exc})") from None
        except aiohttp.ClientConnectionError as exc:
            raise ProviderUnreachable(f"{who}: cannot reach {url}: {exc}", transient=True) from None
        except aiohttp.InvalidURL as exc:
            raise ProviderUnreachable(f"{who}: invalid URL {exc}") from None
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            snippet = raw[:120].decode("utf-8", "replace")
            kind = "truncated or not JSON" if raw else "empty"
            raise MalformedReply(f"{who}: malformed reply: body is {kind} ({exc}; starts {snippet!r})") from None

    @staticmethod
    def _http_error(
        who: str, url: str, status: int, reason: str, headers: Mapping[str, str], raw: bytes
    ) -> ProviderHTTPError:
        transient = status >= 500 or status in TRANSIENT_STATUS
        hint = _HINTS.get(status, "rate limited" if status == 429 else "server error" if status >= 500 else "")
        detail = _error_detail(raw)
        parts = [f"{who}: HTTP {status}{' ' + reason if reason else ''}"]
        if hint:
            parts.append(hint)
        if detail:
            parts.append(detail)
        message = ": ".join(parts) + f" ({url})"
        return ProviderHTTPError(
            message, transient=transient, status=status, retry_after=parse_retry_after(headers.get("Retry-After"))
        )
