"""Settings as an operator meets them: a bad value is one line naming the environment
variable and the form it expects, and a misspelt `TICKETS_*` variable is pointed out with
the closest name we know, instead of being silently ignored."""

import difflib
import json
import os
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Union, get_args, get_origin

from pydantic import AliasChoices, BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import SettingsError

from infra.settings import EMPTY_MEANS_UNSET, Settings

PREFIX = "TICKETS_"
DELIMITER = "__"
SCRIPT_VARIABLES = frozenset({"TICKETS_PYTHON", "TICKETS_RABBITMQ_WAIT"})
"""Read by scripts/bootstrap.sh, not by the settings model."""

_SECRET_WORDS = ("SECRET", "KEY", "PASSWORD", "TOKEN", "URL")
_SHOWN_CHARACTERS = 60


class StartupError(Exception):
    """A reason the process cannot start, worded as the one line an operator reads."""


@dataclass(frozen=True)
class Variable:
    """One environment variable the settings read, and where its value lands."""

    name: str
    path: tuple[str, ...]
    field: FieldInfo
    open_below: bool
    """A mapping: any `NAME__<key>...` below it is a setting too."""


def load_settings() -> Settings:
    """`Settings()` from the environment, or a StartupError naming the variable at fault."""
    _drop_empty_optional_values()
    environ = {key.upper(): value for key, value in os.environ.items()}
    _check_json_values(environ)
    try:
        return Settings()
    except ValidationError as error:
        raise StartupError(_validation_line(error, environ)) from None
    except SettingsError as error:
        raise StartupError(f"a setting could not be read: {error}") from None


def _drop_empty_optional_values() -> None:
    """`OPENAI_BASE_URL=` (what compose's `${OPENAI_BASE_URL:-}` passes) means unset: it is
    removed from the environment, because libraries read some of these variables themselves
    (the OpenAI SDK would call an empty base URL)."""
    for variable in known_variables():
        value = os.environ.get(variable.name)
        if value is not None and not value.strip() and variable.path[0] in EMPTY_MEANS_UNSET:
            del os.environ[variable.name]


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """One warning per `TICKETS_*` variable that no setting reads."""
    known = list(known_variables())
    names = {v.name for v in known} | SCRIPT_VARIABLES
    open_prefixes = tuple(v.name + DELIMITER for v in known if v.open_below)
    warnings = []
    for name in sorted(key.upper() for key in environ):
        if not name.startswith(PREFIX) or name in names or name.startswith(open_prefixes):
            continue
        close = _closest(name, names)
        hint = f"; did you mean {close}?" if close else ""
        warnings.append(f"unknown setting {name} is ignored{hint}")
    return warnings


def _closest(name: str, known: set[str]) -> str | None:
    """Compared without the shared prefix, which would make every name look alike."""
    stripped = {candidate.removeprefix(PREFIX): candidate for candidate in known}
    close = difflib.get_close_matches(name.removeprefix(PREFIX), sorted(stripped), n=1)
    return stripped[close[0]] if close else None


def known_variables() -> Iterator[Variable]:
    for name, field in Settings.model_fields.items():
        for env_name in _env_names(name, field):
            yield from _walk(env_name, (name,), field)


def _env_names(name: str, field: FieldInfo) -> list[str]:
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return [choice.upper() for choice in alias.choices if isinstance(choice, str)]
    if isinstance(alias, str):
        return [alias.upper()]
    return [PREFIX + name.upper()]


def _walk(env_name: str, path: tuple[str, ...], field: FieldInfo) -> Iterator[Variable]:
    model = _model_of(field.annotation)
    yield Variable(env_name, path, field, open_below=_is_mapping(field.annotation))
    if model is None:
        return
    for sub_name, sub_field in model.model_fields.items():
        yield from _walk(f"{env_name}{DELIMITER}{sub_name.upper()}", (*path, sub_name), sub_field)


def _unwrap_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        inner = [arg for arg in get_args(annotation) if arg is not type(None)]
        return inner[0] if len(inner) == 1 else annotation
    return annotation


def _model_of(annotation: Any) -> type[BaseModel] | None:
    inner = _unwrap_optional(annotation)
    return inner if isinstance(inner, type) and issubclass(inner, BaseModel) else None


def _is_mapping(annotation: Any) -> bool:
    return get_origin(_unwrap_optional(annotation)) is dict


def _is_json(annotation: Any) -> bool:
    """Values pydantic-settings parses as JSON before validating them."""
    inner = _unwrap_optional(annotation)
    return _model_of(inner) is not None or get_origin(inner) in (dict, list, set, frozenset)


def _check_json_values(environ: Mapping[str, str]) -> None:
    for variable in known_variables():
        value = environ.get(variable.name)
        if value is None or not _is_json(variable.field.annotation):
            continue
        try:
            json.loads(value)
        except json.JSONDecodeError:
            raise StartupError(
                f"{_shown(variable.name, value)}: expected JSON{_example(variable.field)}"
            ) from None


def _example(field: FieldInfo) -> str:
    if not field.examples:
        return ""
    return f", e.g. {json.dumps(field.examples[0], ensure_ascii=False)}"


_EXPECTED = {
    "missing": "missing",
    "time_delta_parsing": "expected a duration: ISO 8601 (PT15M, P3D) or seconds",
    "time_delta_type": "expected a duration: ISO 8601 (PT15M, P3D) or seconds",
    "bool_parsing": "expected true or false",
    "extra_forbidden": "not a known field",
}


def _validation_line(error: ValidationError, environ: Mapping[str, str]) -> str:
    """Every problem on one line, grouped by the variable that caused it."""
    present = [v for v in known_variables() if v.name in environ]
    by_path = {v.path: v.name for v in present} | {(v.name,): v.name for v in present}
    grouped: dict[str, list[str]] = {}
    for detail in error.errors():
        location = tuple(str(part) for part in detail["loc"])
        name, inner = _variable_for(location, by_path)
        message = detail["msg"].removeprefix("Value error, ")
        expected = _EXPECTED.get(detail["type"]) or message.replace("Input should be", "expected")
        where = f"{'.'.join(inner)}: " if inner and name else ""
        shown = _shown(name, environ[name]) if name else f"setting {'.'.join(location)}"
        grouped.setdefault(shown, []).append(f"{where}{expected}")
    return "; ".join(f"{shown}: {', '.join(problems)}" for shown, problems in grouped.items())


def _variable_for(
    location: tuple[str, ...], by_path: Mapping[tuple[str, ...], str]
) -> tuple[str | None, tuple[str, ...]]:
    """The most specific variable that was set on the way to `location`, and the rest."""
    for cut in range(len(location), 0, -1):
        name = by_path.get(location[:cut])
        if name is not None:
            return name, location[cut:]
    return None, location


def _shown(name: str, value: str) -> str:
    """`NAME='value'`, except for secrets and URLs (they may carry a password)."""
    if any(word in name for word in _SECRET_WORDS):
        return name
    if len(value) > _SHOWN_CHARACTERS:
        value = value[:_SHOWN_CHARACTERS] + "..."
    return f"{name}={value!r}"
