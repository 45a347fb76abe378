"""One customer message in, one reply out: the model runs with the tools until it answers.

The model's time is bounded per request (SDK timeout and retries) and per message (the
turn budget); when it fails, is too slow, or never answers, the customer gets the polite
fallback reply. Tool calls run one after another, in the order the model made them, each
charged to the turn's budget (calls, notes, escalations, and the turn's time, checked
before every call) and the conversation's; when one runs out, that call and the rest of
the round are refused, the model is not asked again, and the customer is told a person
will take over (the turn is recorded like a fallback: on a ticket a person will see).
"""

import asyncio
import hashlib
import logging
from dataclasses import dataclass

from openai import OpenAIError

from contracts.enums import Language
from services.assistant_gateway.domain.budget import Limits, TurnBudget
from services.assistant_gateway.domain.calls import ToolCall
from services.assistant_gateway.domain.messages import Text, say
from services.assistant_gateway.domain.prompt import instructions
from services.assistant_gateway.domain.tools import TOOLS
from services.assistant_gateway.domain.transcript import (
    AssistantMessage,
    Entry,
    FunctionCall,
    FunctionOutput,
    UserMessage,
)
from services.assistant_gateway.executor import BUDGET_EXCEEDED, Sender, ToolExecutor
from services.assistant_gateway.llm_client import Model, ModelStep
from services.assistant_gateway.metrics import BUDGET_SPENT, HAND_OFFS

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TurnOutcome:
    reply: str
    entries: list[Entry]
    fallback: bool
    """No model answer: the turn goes on a ticket for a person."""
    handed_off: bool = False
    """A budget ran out and the assistant stopped (`fallback` too)."""


class ModelUnavailable(Exception):
    """No model configured, or it failed, timed out or never gave an answer."""


class BudgetSpent(Exception):
    """A budget of the turn or the conversation ran out; args[0] names it."""


class Assistant:
    def __init__(
        self,
        model: Model | None,
        executor: ToolExecutor,
        *,
        max_rounds: int,
        turn_timeout: float,
        turn_limits: Limits,
    ) -> None:
        self._model = model
        self._executor = executor
        self._max_rounds = max_rounds
        self._turn_timeout = turn_timeout
        self._turn_limits = turn_limits

    async def turn(
        self,
        history: list[Entry],
        text: str,
        sender: Sender,
        language: Language,
        message_id: str,
    ) -> TurnOutcome:
        entries: list[Entry] = [UserMessage(text=text)]
        try:
            reply = await self._run(history, entries, sender, language, message_id)
        except ModelUnavailable as error:
            log.warning("model unavailable, fallback reply", extra={"reason": str(error)})
            fallback = say(Text.FALLBACK_REPLY, language)
            return TurnOutcome(fallback, [*entries, AssistantMessage(text=fallback)], True)
        except BudgetSpent as spent:
            log.warning("budget spent, handed to a person", extra={"budget": str(spent)})
            HAND_OFFS.inc()
            handed = say(Text.HANDED_OFF, language)
            return TurnOutcome(handed, [*entries, AssistantMessage(text=handed)], True, True)
        return TurnOutcome(reply, entries, False)

    async def _run(
        self,
        history: list[Entry],
        entries: list[Entry],
        sender: Sender,
        language: Language,
        message_id: str,
    ) -> str:
        clock = asyncio.get_running_loop()
        deadline = clock.time() + self._turn_timeout
        budget = TurnBudget(self._turn_limits, deadline)
        keys = _Keys(message_id)
        for _ in range(self._max_rounds):
            step = await self._step(instructions(language), [*history, *entries], deadline)
            if step.text:
                entries.append(AssistantMessage(text=step.text))
            if not step.calls:
                if step.text:
                    return step.text
                raise ModelUnavailable("empty answer")
            outputs: list[Entry] = []
            spent: str | None = None
            for call in step.calls:
                result, spent = await self._call(call, sender, language, budget, keys, spent)
                outputs.append(
                    FunctionOutput(call_id=call.call_id, output=self._executor.encode(result))
                )
            entries.extend([*step.calls, *outputs])
            if spent is not None:
                raise BudgetSpent(spent)
        raise ModelUnavailable(f"no answer after {self._max_rounds} rounds")

    async def _call(
        self,
        call: FunctionCall,
        sender: Sender,
        language: Language,
        budget: TurnBudget,
        keys: "_Keys",
        spent: str | None,
    ) -> tuple[dict[str, object], str | None]:
        """One call's output, and the budget spent so far in this round (once one is,
        every later call of the round answers the same refusal without running)."""
        if spent is None and (over := budget.charge(call.name, asyncio.get_running_loop().time())):
            BUDGET_SPENT.labels(over).inc()
            spent = over
        if spent is not None:
            return self._executor.refusal(call.name, spent, language), spent
        spec = TOOLS.get(call.name)
        key = keys.next() if spec is not None and spec.changes_state else None
        result = await self._executor.execute(
            ToolCall(call.call_id, call.name, call.arguments), sender, language, key
        )
        if result.get("error") == BUDGET_EXCEEDED:
            return result, str(result.get("detail"))
        return result, None

    async def _step(self, prompt: str, entries: list[Entry], deadline: float) -> ModelStep:
        if self._model is None:
            raise ModelUnavailable("no model configured (OPENAI_API_KEY unset)")
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            raise ModelUnavailable("turn budget spent")
        try:
            return await asyncio.wait_for(self._model.step(prompt, entries), remaining)
        except (OpenAIError, TimeoutError) as error:
            raise ModelUnavailable(f"{type(error).__name__}: {error}") from error
        except Exception as error:  # an answer the SDK cannot read: the same for the customer
            log.exception("unexpected model failure")
            raise ModelUnavailable(type(error).__name__) from error


class _Keys:
    """Idempotency keys deterministic per inbound message and state-changing call
    position: when a crashed turn is run again, the model's call ids are new, but the
    ticket it opens is the same one."""

    def __init__(self, message_id: str) -> None:
        self._digest = hashlib.sha256(message_id.encode()).hexdigest()[:32]
        self._changes = 0

    def next(self) -> str:
        key = f"wa:{self._digest}:{self._changes}"
        self._changes += 1
        return key
