"""The popup's "verified by" line: who placed and checked a point, in the reader's language (consensus README, "Trust").

The consensus stores the evidence as numbers (``consensus.evidence.evidence_summary``): people who placed or checked
the point, coordinators among them, the others with a track record and the best record. The line is written here,
on the server, because its words depend on those numbers (plural forms differ by language: gettext knows them, the
map script does not). Evidence stored before coordinators were counted apart shows a coordinator as a "volunteer
with a record" of 0 correct answers: a record is never 0 (``Crisis.trusted_min_record`` is at least 1), so such a
person is read as the coordinator they are.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import ngettext


def trust_key(evidence: dict, *, trusted: bool) -> tuple:
    """What the line depends on, as a hashable key (lines are memoised per response)."""
    people = int(evidence.get("volunteers", 0))
    with_record = int(evidence.get("with_record", 0))
    best = int(evidence.get("best_record", 0))
    coordinators = int(evidence.get("coordinators", 0))
    if with_record and not best:
        # An older summary: the only trusted person without a record is a coordinator.
        coordinators, with_record = max(coordinators, 1), with_record - 1
    return (
        str(evidence.get("reviewed_by") or ""),
        bool(trusted),
        people,
        coordinators,
        with_record,
        best,
        int(evidence.get("best_record_gold", 0)),
        bool(evidence.get("streetview")),
    )


def trust_line(key: tuple) -> str:
    """The sentence for a ``trust_key``, in the active language."""
    reviewed_by, trusted, n, coordinators, k, record, gold, streetview = key
    if reviewed_by == "coordinator":
        line = _("Checked by a coordinator")
    elif reviewed_by == "reviewer":
        line = _("Checked by a reviewer with a track record")
    elif coordinators and n <= 1:
        line = _("Verified by a coordinator")
    elif coordinators:
        line = ngettext(
            "Verified by %(n)d person, including a coordinator", "Verified by %(n)d people, including a coordinator", n
        ) % {"n": n}
    elif not trusted or not k:
        line = ngettext(
            "Agreed by %(n)d volunteer without a track record (this crisis does not require one)",
            "Agreed by %(n)d volunteers, none with a track record (this crisis does not require one)",
            n,
        ) % {"n": n}
    else:
        line = _("%(people)s; %(record)s") % {"people": _people(n, k), "record": _record(record, gold, k)}
    return _("%(line)s · Street View match") % {"line": line} if streetview else line


def _people(n: int, k: int) -> str:
    if n <= 1:
        return _("Verified by a volunteer with a track record")
    if k == 1:
        return ngettext(
            "Verified by %(n)d volunteer, one with a track record",
            "Verified by %(n)d volunteers, one with a track record",
            n,
        ) % {"n": n}
    return ngettext(
        "Verified by %(n)d volunteer, %(k)d with a track record",
        "Verified by %(n)d volunteers, %(k)d with a track record",
        n,
    ) % {"n": n, "k": k}


def _record(record: int, gold: int, k: int) -> str:
    if k > 1:
        answers = ngettext(
            "the best record: %(record)d correct checked answer",
            "the best record: %(record)d correct checked answers",
            record,
        ) % {"record": record}
    else:
        answers = ngettext("%(record)d correct checked answer", "%(record)d correct checked answers", record) % {
            "record": record
        }
    if not gold:
        return answers
    return ngettext(
        "%(answers)s, %(gold)d of them on a practice image",
        "%(answers)s, %(gold)d of them on practice images",
        gold,
    ) % {"answers": answers, "gold": gold}
