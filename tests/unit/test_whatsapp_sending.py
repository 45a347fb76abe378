"""The WhatsApp channel's sending rules: retries, the 24-hour window, the request body."""

from datetime import UTC, datetime, timedelta

import pytest

from contracts.whatsapp import WhatsAppTemplate
from contracts.window import window_state
from services.whatsapp_channel.domain.sending import (
    GraphAnswer,
    RetryPolicy,
    TemplatePattern,
    Verdict,
    WindowRule,
    after_attempt,
    message_body,
    parse_retry_after,
    plan_send,
    render,
)

NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
POLICY = RetryPolicy(
    max_attempts=4,
    first_delay=timedelta(seconds=2),
    max_delay=timedelta(seconds=60),
    retry_after_max=timedelta(hours=1),
)
UPDATE = TemplatePattern("ticket_update", "es", ("{ticketId}", "{text}"))
CSAT = TemplatePattern("csat_request", "en", ("{ticketId}",))
TEMPLATE_RULE = WindowRule("template", {"reply": UPDATE, "csat": CSAT})
REFUSE_RULE = WindowRule("refuse", {"reply": UPDATE})


def test_a_success_is_sent() -> None:
    outcome = after_attempt(POLICY, 1, GraphAnswer(200, whatsapp_message_id="wamid.1"), NOW)
    assert outcome.verdict is Verdict.SENT


@pytest.mark.parametrize(
    ("answer", "delay"),
    [
        (GraphAnswer(429, retry_after=timedelta(seconds=30)), timedelta(seconds=30)),
        (GraphAnswer(429), timedelta(seconds=2)),
        (GraphAnswer(503), timedelta(seconds=2)),
        (GraphAnswer(None, error_message="connection refused"), timedelta(seconds=2)),
        (GraphAnswer(400, error_code=131000), timedelta(seconds=2)),
        (GraphAnswer(429, retry_after=timedelta(days=3)), timedelta(hours=1)),
    ],
)
def test_temporary_failures_are_retried_honouring_retry_after(
    answer: GraphAnswer, delay: timedelta
) -> None:
    outcome = after_attempt(POLICY, 1, answer, NOW)
    assert outcome.verdict is Verdict.RETRY
    assert outcome.next_attempt_at == NOW + delay


def test_backoff_doubles_up_to_the_cap_then_gives_up() -> None:
    delays = [after_attempt(POLICY, n, GraphAnswer(500), NOW).next_attempt_at for n in (1, 2, 3)]
    assert delays == [NOW + timedelta(seconds=s) for s in (2, 4, 8)]
    assert after_attempt(POLICY, 4, GraphAnswer(500), NOW).verdict is Verdict.DEAD


@pytest.mark.parametrize(
    "answer",
    [GraphAnswer(400, error_code=100), GraphAnswer(401, error_code=190), GraphAnswer(404)],
)
def test_permanent_errors_are_dead_at_once(answer: GraphAnswer) -> None:
    assert after_attempt(POLICY, 1, answer, NOW).verdict is Verdict.DEAD


def test_an_unanswered_request_is_never_sent_again_by_itself() -> None:
    answer = GraphAnswer(None, error_message="ReadTimeout", reached=True)
    assert after_attempt(POLICY, 1, answer, NOW).verdict is Verdict.UNKNOWN


def test_whatsapps_window_error_is_told_apart() -> None:
    answer = GraphAnswer(400, error_code=131047)
    assert after_attempt(POLICY, 1, answer, NOW).verdict is Verdict.WINDOW_CLOSED


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("30", timedelta(seconds=30)),
        (" 5 ", timedelta(seconds=5)),
        ("Sun, 29 Nov 2026 10:01:00 GMT", timedelta(seconds=60)),
        ("Sun, 29 Nov 2026 09:00:00 GMT", timedelta(0)),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_is_seconds_or_a_date(header: str | None, expected: timedelta | None) -> None:
    assert parse_retry_after(header, NOW) == expected


def test_the_window_is_open_for_24_hours_minus_the_margin() -> None:
    last = NOW - timedelta(hours=23, minutes=58)
    assert window_state(last, NOW, timedelta(minutes=1)).open
    assert not window_state(last, NOW, timedelta(minutes=3)).open
    closed = window_state(NOW - timedelta(hours=25), NOW)
    assert not closed.open
    assert closed.closes_at == NOW - timedelta(hours=1)
    never = window_state(None, NOW)
    assert (never.open, never.closes_at) == (False, None)


def test_inside_the_window_free_text_goes_as_text() -> None:
    window = window_state(NOW - timedelta(hours=1), NOW)
    plan = plan_send("Hola", None, window, TEMPLATE_RULE, {"ticketId": "T-1"})
    assert (plan.template, plan.refusal) == (None, None)


def test_outside_the_window_free_text_becomes_the_configured_template() -> None:
    window = window_state(NOW - timedelta(hours=30), NOW)
    plan = plan_send("Ya está\nresuelto", None, window, TEMPLATE_RULE, {"ticketId": "T-1"})
    assert plan.template == WhatsAppTemplate(
        name="ticket_update", language="es", parameters=["T-1", "Ya está resuelto"]
    )


def test_outside_the_window_refusal_says_when_it_closed() -> None:
    window = window_state(NOW - timedelta(hours=30), NOW)
    plan = plan_send("Hola", None, window, REFUSE_RULE, {})
    assert plan.template is None
    assert plan.refusal is not None
    assert "2026-11-29T04:00:00+00:00" in plan.refusal
    no_template = WindowRule("template", {})
    assert plan_send("Hola", None, window, no_template, {}).refusal is not None


def test_a_requested_template_is_sent_whatever_the_window() -> None:
    csat = WhatsAppTemplate(name="csat", language="en", parameters=["T-1"])
    plan = plan_send("Rate us", csat, window_state(None, NOW), REFUSE_RULE, {})
    assert plan.template == csat


def test_template_parameters_are_flattened_and_cut() -> None:
    assert render("{text}", {"text": "a\tb\n\n c     d"}) == "a b c d"
    assert render("{text}", {"text": ""}) == "-"
    assert len(render("{text}", {"text": "x" * 5000})) == 1024


def test_the_request_body_is_metas_shape() -> None:
    assert message_body("+34600000001", "Hola", None, "msg-1") == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "34600000001",
        "biz_opaque_callback_data": "msg-1",
        "type": "text",
        "text": {"body": "Hola", "preview_url": False},
    }
    template = WhatsAppTemplate(name="ticket_update", language="es", parameters=["T-1"])
    body = message_body("+34600000001", "Hola", template, "msg-1")
    assert body["type"] == "template"
    assert body["template"] == {
        "name": "ticket_update",
        "language": {"code": "es"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "T-1"}]}],
    }
    long_text = message_body("+34600000001", "x" * 5000, None, "m")["text"]
    assert isinstance(long_text, dict)
    assert len(long_text["body"]) == 4096


def test_outside_the_window_a_csat_question_uses_its_own_template() -> None:
    window = window_state(NOW - timedelta(hours=30), NOW)
    values = {"ticketId": "T-1"}
    csat = plan_send("¿Qué tal?", None, window, TEMPLATE_RULE, values, "csat")
    nudge = plan_send("¿Sigues ahí?", None, window, TEMPLATE_RULE, values, "nudge")
    assert csat.template == WhatsAppTemplate(name="csat_request", language="en", parameters=["T-1"])
    assert nudge.template is not None
    assert nudge.template.name == "ticket_update"  # no nudge template: the reply's
