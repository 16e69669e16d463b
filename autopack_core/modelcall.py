"""Calling a model: provider lookup, retries, timing, cost, quotas and events.

``ModelCaller.call`` is the one way the engine talks to a model. It records
``ModelCallRequested`` before the first attempt and ``ModelCallAnswered`` or
``ModelCallFailed`` after the last, through the ``record`` callback it was
given (the executor passes its run session's ``record``); provider plugins
never see runs or events.

Retries use tenacity: it is already a dependency, runs on asyncio, and lets
the wait be computed per attempt, which is how a server's ``Retry-After``
overrides our own exponential backoff. Only errors marked ``transient`` are
retried, at most ``retries.max_attempts`` attempts in all.
"""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import attrs
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from ulid import ULID

from autopack_core import events as ev
from autopack_core.config import AutopackConfig, ModelConfig, RetriesConfig
from autopack_core.errors import (
    ConfigError,
    MalformedReply,
    MissingCredentials,
    NoRecordedAnswer,
    ProviderError,
    ProviderHTTPError,
    ProviderTimeout,
    ProviderUnreachable,
    QuotaExhausted,
)
from autopack_core.http import HttpClient
from autopack_core.providers import ModelRequest, Provider, ProviderContext

if TYPE_CHECKING:
    from autopack_core.router import QuotaTracker

#: Receives each call's events in order, e.g. ``lambda evs: session.record(*evs)``.
Record = Callable[[Sequence[ev.Event]], object]


@attrs.frozen(kw_only=True)
class CallResult:
    call_id: str
    text: str
    model: str
    provider: str
    input_tokens: int
    output_tokens: int
    cost_usd: float
    latency_ms: float
    attempts: int
    finish_reason: str = ""


def cost_usd(model: ModelConfig, input_tokens: int, output_tokens: int) -> float:
    """Cost of a call from the model's configured prices (per million tokens)."""
    return (input_tokens * model.price_per_mtok_in + output_tokens * model.price_per_mtok_out) / 1_000_000


def error_category(exc: BaseException) -> str:
    """The ``category`` a ``ModelCallFailed`` event carries for this error."""
    if isinstance(exc, ConfigError):
        return "config"
    if isinstance(exc, MalformedReply):
        return "malformed_reply"
    if isinstance(exc, MissingCredentials):
        return "missing_credentials"
    if isinstance(exc, NoRecordedAnswer):
        return "no_recorded_answer"
    if isinstance(exc, ProviderTimeout):
        return "timeout"
    if isinstance(exc, ProviderUnreachable):
        return "connection"
    if isinstance(exc, ProviderHTTPError) and exc.status is not None:
        if exc.status == 429:
            return "rate_limited"
        if exc.status >= 500:
            return "server_error"
        if exc.status in (401, 403):
            return "auth"
        return "client_error"
    return "provider_error"


class _Backoff:
    """tenacity ``wait``: the server's Retry-After if given, else capped exponential + jitter."""

    def __init__(self, cfg: RetriesConfig, rng: random.Random) -> None:
        self.cfg = cfg
        self.rng = rng

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        after = getattr(exc, "retry_after", None)
        if after is not None:
            return float(after)
        cfg = self.cfg
        step = min(cfg.backoff_max_seconds, cfg.backoff_base_seconds * (2 ** (state.attempt_number - 1)))
        return step + (self.rng.uniform(0, cfg.jitter_seconds) if cfg.jitter_seconds else 0.0)


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, ProviderError) and exc.transient


class ModelCaller:
    """Calls configured models through their provider plugins, over one HTTP client.

    Use as ``async with ModelCaller(...) as caller:`` (or call ``aclose()``) so
    the shared connection pool is closed in the loop that opened it.

    :param config: the loaded config.
    :param kinds: provider kind -> factory (or the ``Registered`` entries of
        ``PluginSet.registry("providers")``).
    :param record: receives the events of each call, in order; optional.
    :param quotas: checked before each call; optional. Give it the run's view
        (``QuotaTracker(config, session.view)``) so the quotas read the run's own fold.
    """

    def __init__(
        self,
        config: AutopackConfig,
        kinds: Mapping[str, Any],
        *,
        record: Record | None = None,
        quotas: "QuotaTracker | None" = None,
        env: Mapping[str, str] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.kinds = {k: getattr(v, "obj", v) for k, v in kinds.items()}
        self.record = record
        self.quotas = quotas
        self.http = HttpClient(config.retries)
        self.context = ProviderContext(config=config, http=self.http, **({"env": env} if env is not None else {}))
        self._providers: dict[str, Provider] = {}
        self._wait = _Backoff(config.retries, rng or random.Random())
        self._stop = stop_after_attempt(config.retries.max_attempts)
        self._retry = retry_if_exception(_retryable)

    async def __aenter__(self) -> "ModelCaller":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.http.close()

    def provider(self, name: str) -> Provider:
        """The provider instance for a configured provider name (built on first use)."""
        inst = self._providers.get(name)
        if inst is None:
            pcfg = self.config.providers[name]
            factory = self.kinds.get(pcfg.kind)
            if factory is None:
                known = ", ".join(sorted(self.kinds)) or "none"
                raise ConfigError(
                    f"{self.config.source}: providers.{name}.kind: no installed plugin provides kind "
                    f"{pcfg.kind!r} (installed: {known})"
                )
            inst = factory(name, pcfg, self.context)
            self._providers[name] = inst
        return inst

    def _emit(self, *events: ev.Event) -> None:
        if self.record is not None:
            self.record(events)
        if self.quotas is not None:
            self.quotas.observe(events)

    async def call(
        self,
        model: str,
        prompt: str,
        *,
        system: str = "",
        role: str = "prompt",
        phase_id: str | None = None,
        max_tokens: int | None = None,
    ) -> CallResult:
        """Send one prompt to the configured model ``model`` and return its answer.

        Raises ``QuotaExhausted`` (nothing sent, nothing recorded) when a quota
        is used up, ``ConfigError`` for an unknown model, and a
        ``ProviderError`` once retries are spent or the error is not
        transient; a ``ModelCallFailed`` event is recorded first.
        """
        mcfg = self.config.model(model)
        pname = mcfg.provider
        if self.quotas is not None:
            exhausted = self.quotas.check(model, phase_id=phase_id)
            if exhausted is not None:
                raise QuotaExhausted(
                    f"{exhausted.budget} quota used up ({exhausted.used:g} of {exhausted.limit:g}); "
                    f"no call made to {model}",
                    exhausted,
                )
        kind = self.config.providers[pname].kind
        if kind not in self.kinds:
            self.provider(pname)  # raises the ConfigError naming the kind; nothing recorded
        call_id = str(ULID())
        self._emit(
            ev.ModelCallRequested(
                call_id=call_id, role=role, provider=pname, model=model, prompt=prompt, system=system, phase_id=phase_id
            )
        )
        request = ModelRequest(
            model=model,
            wire_model=mcfg.wire_name(model),
            prompt=prompt,
            system=system,
            role=role,
            max_tokens=max_tokens or mcfg.max_output_tokens,
            temperature=mcfg.temperature,
        )
        attempts = 0
        started = time.perf_counter()
        try:
            provider = self.provider(pname)
            attempts = 1
            failed: ProviderError | None = None
            try:
                reply = await self._complete_once(provider, request, pname)
            except ProviderError as exc:
                if not _retryable(exc):
                    raise
                failed = exc
            if failed is not None:
                # Most calls succeed at once, so tenacity is set up only after a failure. The failed
                # first attempt is replayed into it: its stop rule and wait see every attempt made.
                retrying = AsyncRetrying(stop=self._stop, wait=self._wait, retry=self._retry, reraise=True)
                async for attempt in retrying:
                    with attempt:
                        if failed is not None:
                            replayed, failed = failed, None
                            raise replayed
                        attempts += 1
                        reply = await self._complete_once(provider, request, pname)
        except (ProviderError, ConfigError) as exc:
            # ConfigError: a provider refused its settings (e.g. a bad cassette).
            latency = (time.perf_counter() - started) * 1000
            message = self._explain(exc, pname, attempts)
            self._emit(
                ev.ModelCallFailed(
                    call_id=call_id,
                    role=role,
                    provider=pname,
                    model=model,
                    category=error_category(exc),
                    message=message,
                    status=getattr(exc, "status", None),
                    attempts=attempts,
                    latency_ms=latency,
                    phase_id=phase_id,
                )
            )
            if message != str(exc):
                exc.args = (message,)
            raise
        latency = (time.perf_counter() - started) * 1000
        cost = cost_usd(mcfg, reply.input_tokens, reply.output_tokens)
        self._emit(
            ev.ModelCallAnswered(
                call_id=call_id,
                role=role,
                provider=pname,
                model=model,
                text=reply.text,
                input_tokens=reply.input_tokens,
                output_tokens=reply.output_tokens,
                cost_usd=cost,
                latency_ms=latency,
                attempts=attempts,
                phase_id=phase_id,
                finish_reason=reply.finish_reason,
            )
        )
        return CallResult(
            call_id=call_id,
            text=reply.text,
            model=model,
            provider=pname,
            input_tokens=reply.input_tokens,
            output_tokens=reply.output_tokens,
            cost_usd=cost,
            latency_ms=latency,
            attempts=attempts,
            finish_reason=reply.finish_reason,
        )

    async def _complete_once(self, provider: Provider, request: ModelRequest, pname: str) -> Any:
        try:
            return await provider.complete(request)
        except ProviderHTTPError as exc:
            self._check_retry_after(exc, pname)
            raise

    def _check_retry_after(self, exc: ProviderHTTPError, provider: str) -> None:
        limit = self.config.retries.max_retry_after_seconds
        if exc.transient and exc.retry_after is not None and exc.retry_after > limit:
            exc.transient = False
            exc.args = (
                f"{exc}; the server asked to retry after {exc.retry_after:g}s, "
                f"more than retries.max_retry_after_seconds ({limit:g}s)",
            )

    def _explain(self, exc: ProviderError | ConfigError, provider: str, attempts: int) -> str:
        message = str(exc)
        if isinstance(exc, ProviderHTTPError) and exc.status in (401, 403):
            var = self.config.providers[provider].api_key_env
            if var:
                message += f" (key from {var})"
        if getattr(exc, "transient", False) and attempts > 1:
            message += f" (gave up after {attempts} attempts)"
        return message
