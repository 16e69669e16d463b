"""The ``recorded`` provider and its answer sources (cassettes, past runs' events).

``provider_recorded.py`` registers it; this module is imported when a recorded
provider is first made, not at every start. The format is in
``docs/providers.md``.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import attrs

import autopack_core

from autopack_core.errors import ConfigError, NoRecordedAnswer

if TYPE_CHECKING:
    from autopack_core.config import ProviderConfig
    from autopack_core.providers import ModelReply, ModelRequest, ProviderContext

# Not imported from autopack_core.config: plugins load on every CLI start.
BUILTIN_CASSETTE = Path(autopack_core.__file__).parent / "defaults" / "cassette.yaml"


@attrs.define
class Answer:
    text: str
    role: str | None = None
    model: str | None = None
    prompt: str | None = None
    prompt_contains: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    repeat: bool = False
    # State, not a key of a cassette (``init=False`` keeps it out of files).
    used: bool = attrs.field(default=False, init=False)

    def matches(self, r: ModelRequest) -> bool:
        return (
            (self.role is None or self.role == r.role)
            and (self.model is None or self.model == r.model)
            and (self.prompt is None or self.prompt == r.prompt)
            and (self.prompt_contains is None or self.prompt_contains in r.prompt)
        )


@functools.lru_cache(maxsize=1)
def _converter() -> Any:
    from autopack_core import strict

    return strict.converter()


def _describe(exc: BaseException) -> str:
    from autopack_core import strict

    # Cassette messages name the Python type ("expected str, got 1").
    if isinstance(exc, strict.WrongType):
        return f"expected {exc.expected.__name__}, got {exc.value!r}"
    return strict.message(exc)


def _answer(obj: Any, where: str, raw: Any = None, lines: Callable[..., str] | None = None) -> Answer:
    """One answer, strictly; ``where`` prefixes each problem, ``lines`` adds its line."""
    from autopack_core import strict

    if not isinstance(obj, dict):
        raise ConfigError(f"{where}: expected a mapping with at least 'text'")
    try:
        return _converter().structure(obj, Answer)
    except strict.ClassValidationError as exc:

        def at(path: Any, at_key: bool = True) -> str:
            return lines(path, at_key) if lines is not None else where

        found = strict.problems(exc, raw if raw is not None else obj, Answer, at, _describe)
        raise ConfigError(strict.join(found, "cassette")) from None


def _cassette_yaml(path: Path) -> Iterator[Answer]:
    from autopack_core import strict

    raw = strict.parse_yaml(path.read_text(encoding="utf-8"), str(path))
    doc = strict.plain(raw)
    if not isinstance(doc, dict) or not isinstance(doc.get("answers"), list):
        raise ConfigError(f"{path}: a cassette is a mapping with an 'answers' list")
    for i, obj in enumerate(doc["answers"]):
        item = raw["answers"][i]

        def lines(p: Any, at_key: bool, _i: int = i, _item: Any = item) -> str:
            line = strict.line_of(raw, ("answers", _i) + tuple(p), at_key=at_key)
            return f"{path}:{line or '?'}: answers[{_i}]"

        yield _answer(obj, f"{path}: answers[{i}]", item, lines)


def _jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    import orjson  # here, not at the top: plugins load on every CLI start

    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                obj = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise ConfigError(f"{path}:{lineno}: not valid JSON ({exc})") from None
            if not isinstance(obj, dict):
                raise ConfigError(f"{path}:{lineno}: expected a JSON object")
            yield lineno, obj


def _cassette_jsonl(path: Path) -> Iterator[Answer]:
    for lineno, obj in _jsonl(path):
        yield _answer(obj, f"{path}:{lineno}")


def _event_log(path: Path, match_prompt: bool) -> Iterator[Answer]:
    """Answers from a run's events: each answered call, matched by role and model."""
    prompts: dict[str, str] = {}
    for lineno, obj in _jsonl(path):
        payload = obj.get("payload")
        if not isinstance(payload, dict):
            continue  # export header and footer lines
        kind = obj.get("type") or payload.get("type")
        if kind == "model_call_requested":
            prompts[str(payload.get("call_id"))] = str(payload.get("prompt", ""))
        elif kind == "model_call_answered":
            try:
                yield Answer(
                    text=str(payload["text"]),
                    role=str(payload["role"]),
                    model=str(payload["model"]),
                    prompt=prompts.get(str(payload.get("call_id"))) if match_prompt else None,
                    input_tokens=int(payload.get("input_tokens", 0)),
                    output_tokens=int(payload.get("output_tokens", 0)),
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise ConfigError(f"{path}:{lineno}: model_call_answered event without {exc}") from None


class RecordedProvider:
    def __init__(self, name: str, config: ProviderConfig, context: ProviderContext) -> None:
        self.who = f"provider {name!r}"
        src = config.event_log or config.cassette
        if src is not None:
            path = Path(src)
            if not path.is_absolute() and Path(context.config.source).is_file():
                # A relative path is looked up next to the config file, then in
                # the workspace (<ws>/config/models.yaml), then the current folder.
                here = Path(context.config.source).resolve().parent
                for base in (here, here.parent, Path.cwd()):
                    if (base / path).is_file():
                        path = base / path
                        break
            if not path.is_file():
                field = "event_log" if config.event_log else "cassette"
                raise ConfigError(f"{context.config.source}: providers.{name}.{field}: no such file {src}")
        else:
            path = BUILTIN_CASSETTE
        self.source = path
        if config.event_log:
            answers = _event_log(path, config.match == "prompt")
        elif path.suffix in (".jsonl", ".ndjson"):
            answers = _cassette_jsonl(path)
        else:
            answers = _cassette_yaml(path)
        self.answers = list(answers)
        # Answers before this index are all used: a replay consumes them in
        # order, so each call starts where the last left off instead of
        # rescanning from the top (which made a long replay quadratic).
        self._first_unused = 0

    async def complete(self, request: ModelRequest) -> ModelReply:
        answers = self.answers
        start = self._first_unused
        while start < len(answers) and answers[start].used:
            start += 1
        self._first_unused = start
        for i in range(start, len(answers)):
            a = answers[i]
            if not a.used and a.matches(request):
                a.used = not a.repeat
                from autopack_core.providers import ModelReply

                return ModelReply(text=a.text, input_tokens=a.input_tokens, output_tokens=a.output_tokens)
        left = sum(1 for a in self.answers if not a.used)
        raise NoRecordedAnswer(
            f"{self.who}: no recorded answer for role={request.role} model={request.model} "
            f"prompt={request.prompt[:60]!r} in {self.source} ({left} unused answers left, none match)"
        )
