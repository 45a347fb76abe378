"""What the customer reads, in Spanish (the default) and English."""

import re
from enum import StrEnum

from contracts.enums import Language


class Text(StrEnum):
    INVALID_ARGUMENTS = "invalid_arguments"
    UNKNOWN_TOOL = "unknown_tool"
    NOT_FOUND = "not_found"
    RATE_LIMITED = "rate_limited"
    TICKET_CLOSED = "ticket_closed"
    NOT_ALLOWED = "not_allowed"
    TRY_AGAIN = "try_again"
    UNAVAILABLE = "unavailable"
    CREATED = "created"
    COMMENT_ADDED = "comment_added"
    HUMAN_REQUESTED = "human_requested"
    NO_OPEN_TICKET = "no_open_ticket"
    FALLBACK_REPLY = "fallback_reply"
    HANDED_OFF = "handed_off"
    RATED = "rated"
    ALREADY_RATED = "already_rated"
    NOT_RESOLVED_YET = "not_resolved_yet"
    NOTHING_TO_RATE = "nothing_to_rate"


TEXTS: dict[Text, dict[Language, str]] = {
    Text.INVALID_ARGUMENTS: {
        Language.ES: "Faltan datos o no son válidos. ¿Puedes darme más detalles?",
        Language.EN: "Some details are missing or not valid. Could you tell me a bit more?",
    },
    Text.UNKNOWN_TOOL: {
        Language.ES: "No puedo hacer eso desde aquí. Un agente puede ayudarte.",
        Language.EN: "I can't do that from here. An agent can help you.",
    },
    Text.NOT_FOUND: {
        Language.ES: "No se encontró el ticket solicitado. Verifica el número de ticket.",
        Language.EN: "We couldn't find that ticket. Please check the ticket number.",
    },
    Text.RATE_LIMITED: {
        Language.ES: "Ya tienes varios tickets abiertos o recientes. Te ayudamos con ellos; "
        "si es un problema nuevo, inténtalo más tarde.",
        Language.EN: "You already have several open or recent tickets. We're working on them; "
        "if this is a new problem, please try again later.",
    },
    Text.TICKET_CLOSED: {
        Language.ES: "Ese ticket ya está cerrado. Si el problema continúa, puedo abrir uno nuevo.",
        Language.EN: "That ticket is already closed. "
        "If the problem continues, I can open a new one.",
    },
    Text.NOT_ALLOWED: {
        Language.ES: "No es posible hacer eso con este ticket.",
        Language.EN: "That isn't possible for this ticket.",
    },
    Text.TRY_AGAIN: {
        Language.ES: "El ticket se estaba actualizando. Inténtalo de nuevo en un momento.",
        Language.EN: "The ticket was being updated. Please try again in a moment.",
    },
    Text.UNAVAILABLE: {
        Language.ES: "Hubo un problema procesando tu solicitud. Nuestro equipo fue notificado.",
        Language.EN: "There was a problem processing your request. Our team has been notified.",
    },
    Text.CREATED: {
        Language.ES: "Ticket {ticket_id} creado. Nuestro equipo lo revisará pronto.",
        Language.EN: "Ticket {ticket_id} created. Our team will look at it soon.",
    },
    Text.COMMENT_ADDED: {
        Language.ES: "Añadimos tu información al ticket {ticket_id}.",
        Language.EN: "We added your information to ticket {ticket_id}.",
    },
    Text.HUMAN_REQUESTED: {
        Language.ES: "Un agente de soporte atenderá tu ticket {ticket_id} lo antes posible.",
        Language.EN: "A support agent will take over your ticket {ticket_id} as soon as possible.",
    },
    Text.NO_OPEN_TICKET: {
        Language.ES: "No tienes tickets abiertos.",
        Language.EN: "You have no open tickets.",
    },
    Text.HANDED_OFF: {
        Language.ES: "Una persona de nuestro equipo seguirá con tu consulta y te escribirá por "
        "aquí lo antes posible.",
        Language.EN: "A person from our team will take over your request and write to you "
        "here as soon as possible.",
    },
    Text.FALLBACK_REPLY: {
        Language.ES: "Gracias por tu mensaje. Ahora mismo no puedo responder, pero lo hemos "
        "recibido y te contestaremos lo antes posible.",
        Language.EN: "Thanks for your message. I can't answer right now, but we have received "
        "it and will get back to you as soon as possible.",
    },
}


TEXTS |= {
    Text.RATED: {
        Language.ES: "¡Gracias! Registramos tu valoración de {rating} para el ticket {ticket_id}.",
        Language.EN: "Thank you! We recorded your rating of {rating} for ticket {ticket_id}.",
    },
    Text.ALREADY_RATED: {
        Language.ES: "Ya registramos tu valoración de {rating} para el ticket {ticket_id}.",
        Language.EN: "We already recorded your rating of {rating} for ticket {ticket_id}.",
    },
    Text.NOT_RESOLVED_YET: {
        Language.ES: "El ticket {ticket_id} aún no está resuelto; podrás valorarlo cuando lo esté.",
        Language.EN: "Ticket {ticket_id} is not resolved yet; you can rate it once it is.",
    },
    Text.NOTHING_TO_RATE: {
        Language.ES: "No tienes tickets resueltos que valorar.",
        Language.EN: "You have no resolved tickets to rate.",
    },
}


def say(key: Text, language: Language, **values: str) -> str:
    return TEXTS[key][language].format(**values)


_WORDS = re.compile(r"[a-záéíóúñü]+")
_SPANISH = frozenset(
    [
        "el",
        "la",
        "los",
        "las",
        "de",
        "que",
        "y",
        "en",
        "un",
        "una",
        "mi",
        "mis",
        "es",
        "no",
        "por",
        "para",
        "con",
        "hola",
        "gracias",
        "pedido",
        "estado",
        "problema",
        "ayuda",
        "tengo",
        "está",
        "cuál",
        "qué",
        "cómo",
        "quiero",
        "necesito",
    ]
)
_ENGLISH = frozenset(
    [
        "the",
        "a",
        "an",
        "of",
        "and",
        "in",
        "my",
        "is",
        "not",
        "for",
        "with",
        "hello",
        "hi",
        "thanks",
        "order",
        "status",
        "problem",
        "help",
        "have",
        "has",
        "what",
        "how",
        "want",
        "need",
        "please",
        "where",
        "why",
    ]
)


def guess_language(text: str) -> Language | None:
    """A cheap guess from common words; None when the text does not say."""
    words = _WORDS.findall(text.lower()[:2000])
    spanish = sum(word in _SPANISH for word in words)
    english = sum(word in _ENGLISH for word in words)
    if spanish == english:
        return None
    return Language.ES if spanish > english else Language.EN
