"""Thin FastStream subscribers: one per `tickets.v1.*` queue, each over one use case."""

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from faststream.rabbit import RabbitRouter
from faststream.rabbit.annotations import RabbitMessage
from pydantic import BaseModel, ValidationError

from contracts import commands as cmd
from contracts import names
from contracts.actors import SystemActor
from contracts.enums import ErrorCode
from contracts.replies import OkReply
from contracts.tickets import Ticket
from infra.messaging import command_queue, error_reply
from infra.subscribers import subscriber
from services.ticket_service.access import with_visible_key
from services.ticket_service.domain.errors import DomainError
from services.ticket_service.sla_usecases import record_sla_breach
from services.ticket_service.ticket_edits import update_ticket
from services.ticket_service.usecases import TicketUseCases

log = logging.getLogger(__name__)

SYSTEM_ACTOR = SystemActor()
UseCase = Callable[[TicketUseCases, Any], Awaitable[BaseModel]]


def _data(result: BaseModel, command: BaseModel) -> Any:
    if isinstance(result, Ticket):
        actor = getattr(command, "actor", SYSTEM_ACTOR)
        return with_visible_key(actor, result.to_wire())
    return result.model_dump(mode="json", by_alias=True)


ROUTES: dict[str, tuple[type[BaseModel], UseCase]] = {
    names.CREATE: (cmd.CreateTicket, TicketUseCases.create),
    names.GET: (cmd.GetTicket, TicketUseCases.get),
    names.LIST: (cmd.ListTickets, TicketUseCases.list),
    names.ASSIGN: (cmd.AssignTicket, TicketUseCases.assign),
    names.UNASSIGN: (cmd.UnassignTicket, TicketUseCases.unassign),
    names.CHANGE_STATUS: (cmd.ChangeStatus, TicketUseCases.change_status),
    names.ADD_NOTE: (cmd.AddNote, TicketUseCases.add_note),
    names.MARK_FIRST_RESPONSE: (cmd.MarkFirstResponse, TicketUseCases.mark_first_response),
    names.RATE: (cmd.RateTicket, TicketUseCases.rate),
    names.ESCALATE_PRIORITY: (cmd.EscalatePriority, TicketUseCases.escalate),
    names.CUSTOMER_MESSAGE: (cmd.CustomerMessage, TicketUseCases.customer_message),
    names.RECORD_SLA_BREACH: (cmd.RecordSlaBreach, record_sla_breach),
    names.UPDATE: (cmd.UpdateTicket, update_ticket),
}


def invalid_fields(error: ValidationError) -> dict[str, Any]:
    """The `validation` reply naming every field that does not fit the command."""
    details = error.errors(include_url=False, include_context=False, include_input=False)
    fields = ", ".join(".".join(map(str, e["loc"])) or "body" for e in details)
    return error_reply(
        ErrorCode.VALIDATION, f"Invalid fields: {fields}", [dict(d) for d in details]
    )


async def execute(
    use_cases: TicketUseCases, use_case: UseCase, command: BaseModel
) -> dict[str, Any]:
    """Run, and map the outcome (or the typed error) to the reply envelope."""
    try:
        result = await use_case(use_cases, command)
    except DomainError as error:
        log.info("command refused", extra={"code": error.code, "reason": error.message})
        return error_reply(error.code, error.message, error.details())
    except Exception:
        log.exception("command failed", extra={"command": type(command).__name__})
        return error_reply(ErrorCode.INTERNAL, "Internal error; the request was not applied")
    return OkReply(data=_data(result, command)).model_dump(mode="json")


def build_router(use_cases: Callable[[], TicketUseCases]) -> RabbitRouter:
    """`use_cases` is resolved per message so the router can be built before start-up."""
    router = RabbitRouter()
    for queue, (model, use_case) in ROUTES.items():
        _subscribe(router, queue, model, use_case, use_cases)
    return router


def _subscribe(
    router: RabbitRouter,
    queue: str,
    model: type[BaseModel],
    use_case: UseCase,
    use_cases: Callable[[], TicketUseCases],
) -> None:
    async def handle(command: BaseModel, _message: RabbitMessage) -> dict[str, Any]:
        return await execute(use_cases(), use_case, command)

    handle.__name__ = f"handle_{queue.rsplit('.', 1)[-1]}"
    handle.__doc__ = f"{model.__doc__ or model.__name__} Replies with the envelope."
    subscriber(router, command_queue(queue), model, refuse=invalid_fields)(handle)
