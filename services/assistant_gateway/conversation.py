"""One customer message in, one reply out: the model runs with the tools until it answers.

The model's time is bounded per request (SDK timeout and retries) and per message (the
turn budget); when it fails, is too slow, or never answers, the customer gets the polite
fallback reply. Tool calls run one after another, in the order the model made them.
"""

import asyncio
import hashlib
import logging
from dataclasses import dataclass

from openai import OpenAIError

from contracts.enums import Language
from services.assistant_gateway.domain.calls import ToolCall
from services.assistant_gateway.domain.messages import Text, say
from services.assistant_gateway.domain.prompt import instructions
from services.assistant_gateway.domain.tools import TOOLS
from services.assistant_gateway.domain.transcript import (
    AssistantMessage,
    Entry,
    FunctionOutput,
    UserMessage,
)
from services.assistant_gateway.executor import Sender, ToolExecutor
from services.assistant_gateway.model import Model, ModelStep

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TurnOutcome:
    reply: str
    entries: list[Entry]
    fallback: bool


class ModelUnavailable(Exception):
    """No model configured, or it failed, timed out or never gave an answer."""


class Assistant:
    def __init__(
        self,
        model: Model | None,
        executor: ToolExecutor,
        *,
        max_rounds: int,
        turn_timeout: float,
    ) -> None:
        self._model = model
        self._executor = executor
        self._max_rounds = max_rounds
        self._turn_timeout = turn_timeout

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
        return TurnOutcome(reply, entries, False)

    async def _run(
        self,
        history: list[Entry],
        entries: list[Entry],
        sender: Sender,
        language: Language,
        message_id: str,
    ) -> str:
        deadline = asyncio.get_running_loop().time() + self._turn_timeout
        changes = 0
        for _ in range(self._max_rounds):
            step = await self._step(instructions(language), [*history, *entries], deadline)
            if step.text:
                entries.append(AssistantMessage(text=step.text))
            if not step.calls:
                if step.text:
                    return step.text
                raise ModelUnavailable("empty answer")
            outputs: list[Entry] = []
            for call in step.calls:
                spec = TOOLS.get(call.name)
                key = None
                if spec is not None and spec.changes_state:
                    key, changes = _idempotency_key(message_id, changes), changes + 1
                result = await self._executor.execute(
                    ToolCall(call.call_id, call.name, call.arguments), sender, language, key
                )
                outputs.append(
                    FunctionOutput(call_id=call.call_id, output=self._executor.encode(result))
                )
            entries.extend([*step.calls, *outputs])
        raise ModelUnavailable(f"no answer after {self._max_rounds} rounds")

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


def _idempotency_key(message_id: str, index: int) -> str:
    """Deterministic per inbound message and call position: when a crashed turn is run
    again, the model's call ids are new, but the ticket it opens is the same one."""
    digest = hashlib.sha256(message_id.encode()).hexdigest()[:32]
    return f"wa:{digest}:{index}"
