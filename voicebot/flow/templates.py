"""Templates and conditions: Jinja2's sandboxed environment, never a hand-written evaluator.

`render(source, names)` fills `{{ ... }}` text; `evaluate(expression, names)` computes a value
(`when:` conditions, `set:` values written as one `{{ expr }}` keep their type). Undefined names
are errors (StrictUndefined), so a misspelt `slots.acount` does not silently speak an empty
string: it raises `TemplateError`, which the engine routes to the flow's error handling.

Filters for speech: `spell` (digit by digit, "1234" -> "1 2 3 4"), `money` (locale currency,
42.17 -> "$42.17"), `date` (a date or ISO text -> "Tuesday, November 24"). Formatting uses babel.
In a Chinese locale (the context's, or `locale=` given: "zh-CN", "zh_CN") they read the
Chinese way (`voicebot.lang.zh_reading`): `spell` "13800138000" -> "幺三八零零幺三八零零零",
`money` 58.3 -> "五十八元三角" (yuan, unless another currency is given: `x | money('USD')`),
`date` -> "十二月三日星期四" (a babel pattern given as `fmt` is still babel's).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from babel.dates import format_date
from babel.numbers import format_currency
from jinja2 import (
    StrictUndefined,
    TemplateSyntaxError,
    Undefined,
    UndefinedError,
    nodes,
    pass_context,
)
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from voicebot.errors import TemplateError
from voicebot.lang import is_mandarin

NAMES = ("slots", "vars", "call", "contact", "env", "turn")
# formatting settings travel in the template context under names designers cannot type
CURRENCY, LOCALE = "__currency", "__locale"


def spell(value: Any) -> str:
    """Say a value character by character: '12345678' -> '1 2 3 4 5 6 7 8'."""
    return " ".join(ch for ch in str(value) if not ch.isspace())


@pass_context
def _spell_filter(ctx: Any, value: Any, locale: str | None = None) -> str:
    """`spell`, in the context's locale or the one given."""
    if is_mandarin(locale or ctx.get(LOCALE)):
        from voicebot.lang.zh_reading import read_digits

        return read_digits(value)
    return spell(value)


def _locale(value: str | None) -> str:
    return (value or "en_US").replace("-", "_")


@pass_context
def money(ctx: Any, value: Any, currency: str | None = None, locale: str | None = None) -> str:
    """An amount in the service's currency (settings), or the one given: `x | money('EUR')`."""
    locale = locale or ctx.get(LOCALE)
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValueError(f"money: {value!r} is not an amount") from None
    if is_mandarin(locale) and currency in (None, "CNY", "RMB"):
        from voicebot.lang.zh_reading import read_money

        return read_money(amount)
    currency = currency or ctx.get(CURRENCY) or "USD"
    return format_currency(amount, currency, locale=_locale(locale))


@pass_context
def date(ctx: Any, value: Any, fmt: str | None = None, locale: str | None = None) -> str:
    """A date as spoken: 'Tuesday, November 24' (babel pattern `fmt`, service locale)."""
    locale = locale or ctx.get(LOCALE)
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value[:10])
        except ValueError:
            raise ValueError(f"date: {value!r} is not a date (YYYY-MM-DD)") from None
    if isinstance(value, dt.datetime):
        value = value.date()
    if not isinstance(value, dt.date):
        raise ValueError(f"date: {value!r} is not a date")
    if fmt is None and is_mandarin(locale):
        from voicebot.lang.zh_reading import read_date

        return read_date(value)
    return format_date(value, fmt or "EEEE, MMMM d", locale=_locale(locale))


def _environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
    env.filters.update(spell=_spell_filter, money=money, date=date)
    return env


ENV = _environment()


@lru_cache(maxsize=2048)
def _template(source: str) -> Any:
    return ENV.from_string(source)


@lru_cache(maxsize=2048)
def _expression(source: str) -> Any:
    return ENV.compile_expression(source, undefined_to_none=False)


def is_template(text: str) -> bool:
    return "{{" in text or "{%" in text


def single_expression(text: str) -> str | None:
    """'{{ expr }}' alone -> 'expr' (so `set:` keeps the value's type), else None."""
    stripped = text.strip()
    if stripped.startswith("{{") and stripped.endswith("}}") and stripped.count("{{") == 1:
        return stripped[2:-2].strip()
    return None


def _fail(source: str, exc: Exception) -> TemplateError:
    if isinstance(exc, UndefinedError):
        return TemplateError(source, f"undefined name: {exc.message}")
    if isinstance(exc, TemplateSyntaxError):
        return TemplateError(source, f"syntax error: {exc.message}")
    if isinstance(exc, SecurityError):
        return TemplateError(source, f"not allowed: {exc}")
    return TemplateError(source, f"{type(exc).__name__}: {exc}")


def render(source: str, names: dict[str, Any]) -> str:
    """Fill a template; plain text is returned as it is, without touching Jinja2."""
    if not is_template(source):
        return source
    try:
        return str(_template(source).render(names))
    except Exception as exc:  # any failure inside a template is the flow's, not the call's
        raise _fail(source, exc) from None


def evaluate(expression: str, names: dict[str, Any]) -> Any:
    """Evaluate an expression (`slots.more`, `turn.confidence < 0.6`, `{{ x + 1 }}`)."""
    inner = single_expression(expression)
    source = inner if inner is not None else expression
    try:
        value = _expression(source)(**names)
        if isinstance(value, Undefined):  # a missing name fails here, not later in `if value`
            value._fail_with_undefined_error()
        return value
    except Exception as exc:
        raise _fail(expression, exc) from None


def check_syntax(source: str, *, expression: bool = False) -> str | None:
    """None when the template parses, else the reason (used by `flow check`)."""
    try:
        if expression:
            _expression(single_expression(source) or source)
        elif is_template(source):
            _template(source)
    except TemplateSyntaxError as exc:
        return exc.message or "syntax error"
    return None


def _parsed(source: str, expression: bool) -> nodes.Template | None:
    """The template's tree (an expression is wrapped in {{ }}); None for plain text or a
    template that does not parse."""
    if expression:
        source = "{{ " + (single_expression(source) or source) + " }}"
    elif not is_template(source):
        return None
    try:
        return ENV.parse(source)
    except TemplateSyntaxError:
        return None


def references(source: str, *, expression: bool = False) -> set[tuple[str, str]]:
    """(namespace, key) pairs a template reads, e.g. {('slots', 'account'), ('env', 'API')}."""
    tree = _parsed(source, expression)
    if tree is None:
        return set()
    found: set[tuple[str, str]] = set()
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        assert isinstance(node, nodes.Getattr | nodes.Getitem)
        base = node.node
        if isinstance(base, nodes.Name) and base.name in NAMES:
            if isinstance(node, nodes.Getattr):
                found.add((base.name, node.attr))
            elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
                found.add((base.name, node.arg.value))
    return found


def defaulted(source: str) -> set[tuple[str, str]]:
    """The (namespace, key) pairs a template reads through a `default` filter, e.g.
    {('env', 'AGENT_QUEUE')} for `{{ env.AGENT_QUEUE | default('sip:...') }}`: optional."""
    tree = _parsed(source, False)
    if tree is None:
        return set()
    found: set[tuple[str, str]] = set()
    for node in tree.find_all(nodes.Filter):
        assert isinstance(node, nodes.Filter)
        inner = node.node
        if node.name in ("default", "d") and isinstance(inner, nodes.Getattr):
            if isinstance(inner.node, nodes.Name) and inner.node.name in NAMES:
                found.add((inner.node.name, inner.attr))
    return found


def undeclared_names(source: str, *, expression: bool = False) -> set[str]:
    """Top-level names a template uses that are not among NAMES."""
    from jinja2 import meta

    tree = _parsed(source, expression)
    return set() if tree is None else set(meta.find_undeclared_variables(tree)) - set(NAMES)
