"""The interactive ``chat`` screen, drawn by prompt_toolkit.

Finished messages scroll up above the prompt (``print_formatted_text`` prints above a
running prompt from any thread). A bottom toolbar shows what is streaming right now (the
pending user and assistant transcripts), the status and mode, the microphone, input and
output level meters and the keys; it is redrawn on every state change and ten times a second
for the meters. The input line sends typed text.

Keys: Enter sends the typed line; Ctrl+T is the talk key (push-to-talk: open the microphone,
press again to send; voice detection: mute and unmute); Esc interrupts the assistant;
Ctrl+D (on an empty line) or Ctrl+Q quits; Ctrl+C quits with status 130.

Threads: :meth:`ChatScreen.run` runs the prompt on the calling (main) thread; the client's
callbacks arrive on its dispatcher thread and only print or ask for a redraw.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Dict, List, Optional, Tuple

from .._client import RealtimeClient
from .._errors import RealtimeError
from .._models import RealtimeMessage
from ._errors import EXIT_INTERRUPTED, EXIT_OK, CliError, one_line

__all__ = ["ChatScreen", "meter", "require_prompt_toolkit"]

_METER_CELLS = 12
_STYLE = {
    "you": "ansicyan bold",
    "assistant": "ansigreen bold",
    "info": "ansibrightblack",
    "error": "ansired",
    "interrupted": "ansiyellow",
    "bottom-toolbar": "noreverse",
    "bar": "ansigreen",
    "bar.empty": "ansibrightblack",
    "key": "bold",
}

Fragments = List[Tuple[str, str]]


def require_prompt_toolkit() -> None:
    """Fail with an install hint when prompt_toolkit (the ``cli`` extra) is missing.

    Raises:
        CliError: prompt_toolkit cannot be imported.
    """
    try:
        import prompt_toolkit  # noqa: F401
    except ImportError:
        raise CliError("the interactive chat needs prompt_toolkit: pip install 'realtime-client[cli]' "
                       "(or pipe lines into it: printf 'hi\\n' | realtime-client chat)") from None


def meter(level: Optional[float], cells: int = _METER_CELLS) -> Fragments:
    """A level meter as styled fragments: filled cells for ``level`` (0-1); None: no audio."""
    if level is None:
        return [("class:bar.empty", "-" * cells)]
    filled = max(0, min(cells, round(float(level) * cells)))
    return [("class:bar", "\u2588" * filled), ("class:bar.empty", "\u00b7" * (cells - filled))]


def _tail(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else "\u2026" + text[-(width - 1):]


class ChatScreen:
    """The terminal conversation: build it, pass :meth:`callbacks` to the client, then :meth:`run`.

    Args:
        push_to_talk: the talk key opens and closes manual turns (else it mutes the mic).
        microphone: whether the client has a microphone at all (``--no-audio`` has none).
    """

    def __init__(self, *, push_to_talk: bool, microphone: bool) -> None:
        self.push_to_talk = push_to_talk
        self.microphone = microphone
        self._client: Optional[RealtimeClient] = None
        self._mic_open = microphone and not push_to_talk
        self._notice: Optional[Tuple[str, str]] = None
        self._app: Any = None

    # -- wiring -----------------------------------------------------------------------------

    def callbacks(self) -> Dict[str, Callable[..., Any]]:
        """The ``RealtimeClient`` callbacks that feed this screen."""
        return dict(on_message=self._on_message, on_error=self._on_error)

    def run(self, client: RealtimeClient, *, timeout: float, where: str = "the provider") -> int:
        """Connect, then run the prompt until the user quits; return the exit status.

        Raises:
            RealtimeError: connecting failed (the CLI prints it in one line).
        """
        from prompt_toolkit import PromptSession
        from prompt_toolkit.styles import Style

        self._client = client
        self._print([("class:info", f"connecting to {where} ...")])
        client.connect(timeout=timeout)
        if not self.microphone:
            how = "type and press Enter"
        elif self.push_to_talk:
            how = "type and press Enter, or press Ctrl+T, talk, and press Ctrl+T again"
        else:
            how = "talk, or type and press Enter"
        self._print([("class:info", f"connected: {how}. Esc interrupts, Ctrl+D quits.")])
        # The typed line is erased once sent: it comes back as a "you:" line with the others.
        session: Any = PromptSession(bottom_toolbar=self._toolbar, key_bindings=self._keys(),
                                     refresh_interval=0.1, style=Style.from_dict(_STYLE),
                                     erase_when_done=True)
        self._app = session.app
        self._app.ttimeoutlen = 0.05  # a lone Esc is an interrupt, not the start of a sequence
        unsubscribe = client.on_state_change(lambda state: self._redraw())
        try:
            while True:
                try:
                    text = session.prompt([("class:you", "> ")])
                except EOFError:
                    return EXIT_OK
                except KeyboardInterrupt:
                    return EXIT_INTERRUPTED
                line = text.strip()
                if line:
                    self._act(functools.partial(client.send_text, line))
        finally:
            unsubscribe()

    # -- keys -------------------------------------------------------------------------------

    def _keys(self) -> Any:
        from prompt_toolkit.key_binding import KeyBindings

        keys = KeyBindings()

        @keys.add("c-t")
        def _talk(event: Any) -> None:
            self.talk()

        @keys.add("escape", eager=True)
        def _interrupt(event: Any) -> None:
            self.interrupt()

        @keys.add("c-q")
        def _quit(event: Any) -> None:
            event.app.exit(exception=EOFError)

        return keys

    def talk(self) -> None:
        """The talk key: push-to-talk opens/sends a turn; otherwise it mutes/unmutes the mic."""
        client = self._client
        if client is None:
            return
        if not self.microphone:
            self._notice = ("class:info", "no microphone (--no-audio): type instead")
            return
        if self._mic_open:
            self._act(client.stop_listening)
            self._mic_open = False
        elif self._act(client.start_listening):
            self._mic_open = True
        self._redraw()

    def interrupt(self) -> None:
        """The interrupt key: cut the assistant off (nothing happens when it is quiet)."""
        if self._client is not None:
            self._act(self._client.interrupt)

    def _act(self, call: Callable[[], Any]) -> bool:
        try:
            call()
        except RealtimeError as exc:
            self._notice = ("class:error", one_line(exc))
            self._redraw()
            return False
        return True

    # -- output -----------------------------------------------------------------------------

    def _print(self, fragments: Fragments) -> None:
        from prompt_toolkit import print_formatted_text
        from prompt_toolkit.formatted_text import FormattedText
        from prompt_toolkit.styles import Style

        print_formatted_text(FormattedText(fragments), style=Style.from_dict(_STYLE))

    def _on_message(self, message: RealtimeMessage) -> None:
        who = "you" if message.role == "user" else "assistant"
        fragments: Fragments = [(f"class:{who}", f"{who}: "), ("", message.text or "(no words)")]
        if message.interrupted:
            fragments.append(("class:interrupted", "  [interrupted]"))
        self._print(fragments)

    def _on_error(self, error: RealtimeError) -> None:
        self._notice = ("class:error", one_line(error))
        self._redraw()

    def _redraw(self) -> None:
        app = self._app
        if app is not None:
            app.invalidate()  # thread-safe: schedules a redraw on the prompt's loop

    def _toolbar(self) -> Any:  # prompt_toolkit's StyleAndTextTuples
        client = self._client
        if client is None:
            return []
        width = 80
        if self._app is not None:
            width = max(30, self._app.output.get_size().columns)
        state = client.state
        lines: Fragments = []
        if state.pending_user_transcript:
            lines += [("class:you", "you: "), ("", _tail(state.pending_user_transcript, width - 6)),
                      ("", "\n")]
        if state.pending_assistant_transcript:
            lines += [("class:assistant", "assistant: "),
                      ("", _tail(state.pending_assistant_transcript, width - 12)), ("", "\n")]
        audio = client.audio
        if not self.microphone:
            mic = "no mic"
        elif self.push_to_talk:
            mic = "TALKING" if self._mic_open else "mic closed"
        else:
            mic = "mic on" if self._mic_open else "mic muted"
        lines += [("", f"{state.status.value} \u00b7 {state.mode.value} \u00b7 {mic} \u00b7 in ")]
        lines += meter(audio.input_level if audio is not None and self._mic_open else None)
        lines += [("", "  out ")]
        lines += meter(audio.output_level if audio is not None else None)
        talk = "talk/send" if self.push_to_talk else "mute"
        lines += [("", "\n"), ("class:key", "Enter"), ("", " send  "), ("class:key", "Ctrl+T"),
                  ("", f" {talk}  "), ("class:key", "Esc"), ("", " interrupt  "),
                  ("class:key", "Ctrl+D"), ("", " quit")]
        if state.error is not None and state.status.value == "error":
            lines += [("", "\n"), ("class:error", _tail(one_line(state.error), width))]
        elif self._notice is not None:
            lines += [("", "\n"), (self._notice[0], _tail(self._notice[1], width))]
        return lines
