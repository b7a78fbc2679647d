"""The one exception tree of voicebot.

    VoicebotError                 anything voicebot raises on purpose
    ├── ConfigError               settings file or environment is wrong
    ├── FlowError                 a flow file cannot be used
    │   ├── FlowSyntaxError       not YAML, tabs, duplicate keys
    │   └── FlowValidationError   YAML, but not a valid flow (carries every problem found)
    ├── TemplateError             a Jinja2 template or condition failed at run time
    ├── FlowTestError             a flow test file is malformed (not a failing test)
    ├── SpeechError               recogniser / synthesiser cannot work (model missing, ...)
    ├── SipError                  a SIP command pjsua2 refused, or the endpoint cannot start
    └── CampaignError             a campaign cannot be created or changed (name, state)
        └── ContactsError         the contacts file as a whole cannot be used

User-facing errors carry a `Location` (file:line:column) and a hint, and their `str()` is the
message the CLI prints: ``support.yaml:31:11: steps.account.next: unknown step 'acount'
(did you mean 'account'?)``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    """A place in a source file; line and column are 1-based (0 = unknown)."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line <= 0:
            return self.file
        if self.column <= 0:
            return f"{self.file}:{self.line}"
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Problem:
    """One located finding: an error that stops a flow loading, or a lint warning."""

    location: Location
    path: str  # dotted path inside the document, e.g. "steps.account.next"
    message: str
    hint: str = ""
    severity: str = "error"  # "error" | "warning"
    code: str = ""  # short id for lint warnings, e.g. "unreachable-step"

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location.file else ""
        what = f"{self.path}: " if self.path else ""
        tail = f" ({self.hint})" if self.hint else ""
        kind = "warning: " if self.severity == "warning" else ""
        return f"{where}{kind}{what}{self.message}{tail}"


class VoicebotError(Exception):
    """Base of every error voicebot raises on purpose."""


class ConfigError(VoicebotError):
    """Settings file or environment is wrong."""


class FlowError(VoicebotError):
    """A flow file cannot be used."""

    def __init__(self, problems: list[Problem] | Problem):
        self.problems = [problems] if isinstance(problems, Problem) else list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class FlowSyntaxError(FlowError):
    """The file is not usable YAML (syntax, tabs, duplicate keys)."""


class FlowValidationError(FlowError):
    """The YAML does not describe a valid flow."""


class TemplateError(VoicebotError):
    """A template or condition failed while a call was running."""

    def __init__(self, source: str, reason: str):
        self.source = source
        self.reason = reason
        super().__init__(f"template {source!r}: {reason}")


class FlowTestError(FlowError):
    """A flow test file is malformed."""


class SpeechError(VoicebotError):
    """The recogniser or synthesiser cannot work (model missing, engine failure)."""


class SipError(VoicebotError):
    """A SIP command pjsua2 refused, or the endpoint could not start."""


class TooLate(SipError):
    """An outbound call's turn had passed when the SIP thread came to send its INVITE: it was
    not sent (a campaign's calls-per-second promise holds however busy the thread was)."""


class CampaignError(VoicebotError):
    """A campaign cannot be created, found or moved to the state asked for."""


class ContactsError(CampaignError):
    """The contacts file as a whole cannot be used; `str()` is the located message."""
