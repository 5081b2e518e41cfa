"""Building ``conversation_initiation_client_data`` from the session config, and the history
context a new conversation starts with after a reconnect. Pure functions, no state."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Optional, Sequence, Tuple

from ..._models import RealtimeMessage, SessionConfig
from ..._provider import ResumeState
from .._common import deep_merge
from . import _wire as wire

if TYPE_CHECKING:
    from ._adapter import ElevenLabsRealtimeAdapter

__all__ = ["HISTORY_HEADER", "history_context", "initiation_frame", "is_text_only"]

HISTORY_HEADER = ("The connection to this conversation dropped and was re-established. The "
                  "conversation so far, oldest first:")


def is_text_only(adapter: ElevenLabsRealtimeAdapter, config: SessionConfig) -> bool:
    """Chat mode: ``text_only=`` on the adapter, else ``output_modalities`` without audio."""
    if adapter.text_only is not None:
        return adapter.text_only
    modalities = config.output_modalities
    return bool(modalities) and "audio" not in (modalities or ())


def initiation_frame(adapter: ElevenLabsRealtimeAdapter, config: SessionConfig,
                     resume: Optional[ResumeState]) -> Tuple[Dict[str, Any], bool]:
    """The initiation frame and whether the conversation is text-only.

    The override carries only what the app set (an agent whose overrides are disabled still
    connects when none is set): ``instructions`` -> ``agent.prompt.prompt``, ``model`` ->
    ``agent.prompt.llm``, ``voice`` -> ``tts.voice_id``, the adapter's ``first_message``,
    ``language``, ``client_events`` and chat mode (``conversation.text_only``, where the
    contract puts it). ``provider_options`` is deep-merged into the whole frame last.
    """
    agent: Dict[str, Any] = {}
    prompt: Dict[str, Any] = {}
    if config.instructions is not None:
        prompt["prompt"] = config.instructions
    if config.model is not None:
        prompt["llm"] = config.model
    if prompt:
        agent["prompt"] = prompt
    first = adapter.first_message
    if resume is not None and adapter.quiet_reconnect:
        first = ""  # a new conversation after a drop: no second greeting
    if first is not None:
        agent["first_message"] = first
    if adapter.language is not None:
        agent["language"] = adapter.language
    override: Dict[str, Any] = {}
    if agent:
        override["agent"] = agent
    if config.voice is not None:
        override["tts"] = {"voice_id": config.voice}
    text_only = is_text_only(adapter, config)
    conversation: Dict[str, Any] = {}
    if text_only:
        conversation["text_only"] = True
    if adapter.client_events is not None:
        conversation["client_events"] = list(adapter.client_events)
    if conversation:
        override["conversation"] = conversation
    frame: Dict[str, Any] = {"type": "conversation_initiation_client_data"}
    if override:
        frame["conversation_config_override"] = override
    if adapter.dynamic_variables:
        frame["dynamic_variables"] = dict(adapter.dynamic_variables)
    if adapter.user_id is not None:
        frame["user_id"] = adapter.user_id
    from ... import __version__

    frame["source_info"] = {"source": wire.SOURCE, "version": __version__}
    frame = deep_merge(frame, config.provider_options)
    merged = frame.get("conversation_config_override", {}).get("conversation", {})
    if isinstance(merged, dict) and merged.get("text_only") is not None:
        text_only = bool(merged["text_only"])
    return frame, text_only


def history_context(messages: Sequence[RealtimeMessage]) -> str:
    """The conversation so far as one ``contextual_update`` text (empty: nothing to carry)."""
    lines = []
    for msg in messages:
        text = msg.text.strip()
        if text:
            lines.append(f"{'User' if msg.role == 'user' else 'Agent'}: {text}")
    return "\n".join([HISTORY_HEADER, *lines]) if lines else ""
