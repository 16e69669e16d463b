"""The ``recorded`` provider kind: answers from a cassette or a past run's events.

No network: runs work offline and replays are deterministic. The answers come
from, in order of preference, ``event_log`` (a run exported with
``autopack export`` or listed with ``autopack events --json``: its
``model_call_answered`` events, in order), ``cassette`` (YAML or JSON Lines,
format in ``docs/providers.md``), or the built-in cassette
``autopack_core/defaults/cassette.yaml``.

A request takes the first answer, in file order, that is not used up and whose
matchers (``role``, ``model``, ``prompt``, ``prompt_contains``) all match. An
answer is used up once given unless it has ``repeat: true``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import attrs

import autopack_core

from autopack_core.errors import ConfigError, NoRecordedAnswer
from autopack_core.hookspecs import hookimpl
from autopack_core.providers import ModelReply, ModelRequest, ProviderContext

if TYPE_CHECKING:
    from autopack_core.config import ProviderConfig

# Not imported from autopack_core.config: plugins load on every CLI start.
BUILTIN_CASSETTE = Path(autopack_core.__file__).parent / "defaults" / "cassette.yaml"
_FIELDS = {"role": str, "model": str, "prompt": str, "prompt_contains": str, "text": str,
           "input_tokens": int, "output_tokens": int, "repeat": bool}


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
    used: bool = False

    def matches(self, r: ModelRequest) -> bool:
        return (
            (self.role is None or self.role == r.role)
            and (self.model is None or self.model == r.model)
            and (self.prompt is None or self.prompt == r.prompt)
            and (self.prompt_contains is None or self.prompt_contains in r.prompt)
        )


def _answer(obj: Any, where: str) -> Answer:
    if not isinstance(obj, dict):
        raise ConfigError(f"{where}: expected a mapping with at least 'text'")
    for key, value in obj.items():
        typ = _FIELDS.get(key)
        if typ is None:
            raise ConfigError(f"{where}: {key}: unknown key (expected one of: {', '.join(_FIELDS)})")
        if isinstance(value, bool) and typ is not bool or not isinstance(value, typ):
            raise ConfigError(f"{where}: {key}: expected {typ.__name__}, got {value!r}")
    if "text" not in obj:
        raise ConfigError(f"{where}: text: required key missing")
    return Answer(**obj)


def _cassette_yaml(path: Path) -> Iterator[Answer]:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        doc = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("answers"), list):
        raise ConfigError(f"{path}: a cassette is a mapping with an 'answers' list")
    for i, obj in enumerate(doc["answers"]):
        yield _answer(obj, f"{path}: answers[{i}]")


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
                raise ConfigError(f"providers.{name}.{field}: no such file {src}")
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

    async def complete(self, request: ModelRequest) -> ModelReply:
        for a in self.answers:
            if not a.used and a.matches(request):
                a.used = not a.repeat
                return ModelReply(text=a.text, input_tokens=a.input_tokens, output_tokens=a.output_tokens)
        left = sum(1 for a in self.answers if not a.used)
        raise NoRecordedAnswer(
            f"{self.who}: no recorded answer for role={request.role} model={request.model} "
            f"prompt={request.prompt[:60]!r} in {self.source} ({left} unused answers left, none match)"
        )


@hookimpl
def register_providers(register: Callable[..., None]) -> None:
    register("recorded", RecordedProvider)
