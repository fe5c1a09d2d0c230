"""Risk-screen answers in words (issue 14): what review, the queue, the CLI and the next sheet show.

A risk field is a ``choice`` field of a template whose group (or key) names
risk, such as the session form's "Risk screen" (suicidal and homicidal
ideation, self-harm). Every answer other than "none" is a risk answer, written
as "<label>: <answer>" ("suicidal ideation: active"); a multiple choice whose
options are the risks themselves (the group form's "Risk noted") gives the
answer alone ("self-harm"). A checkbox of the same group that names a safety
plan, left unticked beside a risk answer, adds "safety plan: not reviewed".

The value used is the confirmed one where the field is confirmed, else the
machine reading: an unconfirmed "active" is exactly what must not slip past.
Pure functions over field rows and the template, plus one vault reader.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:
    from scanner.vault.vault import Vault

from scanner.values import is_risk_field

NO_RISK = "none"
NOT_REVIEWED = "safety plan: not reviewed"


def is_safety_plan(field) -> bool:
    """A progress checkbox that says a safety plan was reviewed."""
    return (field.kind == "checkbox" and getattr(field, "privacy", "progress") == "progress"
            and "safety" in f"{field.key} {field.label or ''}".lower())


def _answers(value: Any) -> list[str]:
    if value is None:
        return []
    values = value if isinstance(value, list) else [value]
    return [str(v) for v in values if str(v).strip() and str(v).strip().lower() != NO_RISK]


def _label_of(field, option: str) -> str:
    for o in getattr(field, "options", None) or []:
        if str(o.value) == option:
            return str(o.label or o.value)
    return option


def shown_value(row: dict[str, Any]) -> Any:
    """The value a row stands for: confirmed where confirmed, else the machine reading."""
    return row.get("confirmed_value") if row.get("status") == "confirmed" else row.get("value")


def risk_keys(template) -> tuple[set[str], set[str]]:
    """(keys of risk choice fields, keys of safety-plan checkboxes) of a template."""
    risk = {f.key for f in template.fields if is_risk_field(f)}
    plans = {f.key for f in template.fields if is_safety_plan(f)}
    return risk, plans


def risk_words(template, rows: Iterable[dict[str, Any]]) -> list[str]:
    """The risk answers of one session's field rows, in printed order, as words."""
    by_key = {r["key"]: r for r in rows}
    words: list[str] = []
    for f in template.fields:
        if not is_risk_field(f) or f.key not in by_key:
            continue
        label = (f.label or f.key).strip()
        option_values = {str(o.value).lower() for o in (f.options or [])}
        for answer in _answers(shown_value(by_key[f.key])):
            text = _label_of(f, answer)
            # "Risk noted: self-harm" says nothing "self-harm" does not.
            if f.multiple and option_values and label.lower().startswith("risk"):
                words.append(text.lower())
            else:
                words.append(f"{label.lower()}: {text.lower()}")
    if words:
        for f in template.fields:
            if is_safety_plan(f) and f.key in by_key and not shown_value(by_key[f.key]):
                words.append(NOT_REVIEWED)
    return words


def flagged_keys(template, rows: Iterable[dict[str, Any]]) -> set[str]:
    """Keys review must show for a closer look: risk fields answered other than "none",
    and an unticked safety plan beside them; and a single-answer risk question left
    without an answer (a skipped suicide question is not a "none"). Never confirmed in bulk."""
    rows = list(rows)
    by_key = {r["key"]: r for r in rows}
    risk, plans = risk_keys(template)
    out = {k for k in risk if k in by_key and _answers(shown_value(by_key[k]))}
    if out:
        out |= {k for k in plans if k in by_key and not shown_value(by_key[k])}
    return out | {f.key for f in template.fields
                  if f.key in risk and f.key in by_key and not f.multiple and _unanswered(shown_value(by_key[f.key]))}


def _unanswered(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _template(name: str, template_dirs: Iterable = (), cache: dict | None = None):
    from forms import catalog

    if cache is not None and name in cache:
        return cache[name]
    try:
        t = catalog.template(name, template_dirs)
    except catalog.FormUnavailable:
        t = None  # a user template that has gone: no risk fields known, nothing to say
    if cache is not None:
        cache[name] = t
    return t


def session_risk(vault: Vault, session: str | int, template_dirs: Iterable = (), _cache: dict | None = None) -> list[str]:
    """The risk list of one session, as words (e.g. ["suicidal ideation: active"])."""
    from scanner.vault import store

    return _sheet_risk(vault, store.get_sheet(vault, session), template_dirs, _cache)


def _sheet_risk(vault: Vault, sheet: dict[str, Any], template_dirs: Iterable, cache: dict | None) -> list[str]:
    """The risk words of a sheet row (with its ``template`` and ``sheet_id``)."""
    from scanner.vault import store

    template = _template(sheet["template"], template_dirs, cache)
    if template is None:
        return []
    return risk_words(template, store.session_fields(vault, sheet["sheet_id"]))


def add_risk(vault: Vault, sessions: list[dict[str, Any]], template_dirs: Iterable = ()) -> list[dict[str, Any]]:
    """Give each row of ``store.list_sessions`` its ``risk`` list (in place; returned)."""
    cache: dict = {}
    for s in sessions:
        s["risk"] = _sheet_risk(vault, s, template_dirs, cache) if s.get("pages") else []
    return sessions


def last_screen(vault: Vault, client: str, before: str | None, template) -> dict[str, str]:
    """What the next sheet prints beside its risk screen: the client's last confirmed risk screen.

    From the latest session of ``client`` dated strictly before ``before`` whose
    risk fields were confirmed (a draft is not carried, as with carry-forward).
    Returns {group heading: line} for :class:`forms.render.SheetSpec` ``notes``,
    or {} when there is none.
    """
    from scanner.vault import store

    risky = [f for f in template.fields if is_risk_field(f)]
    if not risky or not client or not any(f.group for f in risky):
        return {}
    row = store.last_confirmed_sheet(vault, client, template.name, [f.key for f in risky], before)
    if row is None:
        return {}
    confirmed = [f for f in store.session_fields(vault, row[0]) if f["status"] == "confirmed"]
    words = risk_words(template, confirmed)
    line = f"Last session ({row[1][:10]}): " + ("; ".join(words) if words else "no risk answers") + "."
    return {next(f.group for f in risky if f.group): line}
