"""docs/configuration.md holds every setting, as the settings classes say it: a setting
added without a description, or without regenerating the table, fails here."""

import re
from typing import get_args

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from infra import settings_doc
from infra.settings import NotifierSettings
from infra.startup import SCRIPT_VARIABLES, known_variables


def documented() -> str:
    return settings_doc.DOCUMENT.read_text(encoding="utf-8")


def test_the_table_in_the_docs_is_the_one_the_settings_generate() -> None:
    assert settings_doc.current(documented()) == settings_doc.render(), (
        "docs/configuration.md is stale: run .venv/bin/python -m infra.settings_doc"
    )


def test_every_setting_has_a_description() -> None:
    assert settings_doc.undocumented() == []


def test_every_variable_the_settings_read_is_in_the_table() -> None:
    """Groups (`TICKETS_NOTIFIER`) are spelt out field by field; an optional JSON value
    (a calendar, a template) is one row, not its inner fields."""
    table = settings_doc.current(documented())
    rows = set(re.findall(r"^\| `([A-Z0-9_]+)` \|", table, flags=re.MULTILINE))
    variables = list(known_variables())
    groups = {v.name for v in variables if _model(v.field.annotation)}
    json_values = [
        v.name + "__" for v in variables if any(_model(a) for a in get_args(v.field.annotation))
    ]
    seen: set[tuple[str, ...]] = set()
    for variable in variables:
        if variable.path in seen:
            continue  # a second name (TICKETS_MONGODB_URL for MONGODB_URL)
        seen.add(variable.path)
        inside = variable.name.startswith(tuple(json_values))
        assert variable.name in rows or variable.name in groups or inside, variable.name
    assert {"TICKETS_NOTIFIER", "TICKETS_SLA", "TICKETS_WHATSAPP"} <= groups
    assert len(rows) > 90
    text = documented()
    for name in SCRIPT_VARIABLES:
        assert f"`{name}`" in text, name


def _model(annotation: object) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def test_a_new_setting_without_a_description_is_caught() -> None:
    field = FieldInfo(default=1, annotation=int)
    undocumented = NotifierSettings.model_fields["recent_event_ids"]
    NotifierSettings.model_fields["recent_event_ids"] = field
    try:
        assert "TICKETS_NOTIFIER__RECENT_EVENT_IDS" in settings_doc.undocumented()
        assert settings_doc.render() != settings_doc.current(documented())
    finally:
        NotifierSettings.model_fields["recent_event_ids"] = undocumented
    assert settings_doc.undocumented() == []


def test_defaults_are_written_as_an_operator_types_them() -> None:
    table = settings_doc.render()
    assert "| `TICKETS_SLA__AUTO_CLOSE_AFTER` | `PT24H` |" in table
    assert "| `TICKETS_SLA__REOPEN_WINDOW` | `P7D` |" in table
    assert "| `TICKETS_HTTP_PORT` | `8000` |" in table
    assert "| `MONGODB_URL` | unset |" in table
    assert "| `TICKETS_NOTIFIER__WEBHOOK_TIMEOUT_SECONDS` | `10` |" in table
