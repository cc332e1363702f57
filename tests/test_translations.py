"""Every string a person sees is translated in each catalogue, and the catalogues hold every string of the code.

The catalogues are regenerated with ``make messages`` (makemessages + compilemessages); these tests say so when
one is stale, incomplete, or its compiled ``.mo`` does not match its ``.po``.
"""

import gettext
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parents[1]
LANGUAGES = ("pt", "fr", "es")
MAKEMESSAGES_IGNORE = ["var/*", "bench/*", "tests/*", "test-artifacts/*", "static/vendor/*", "docs/*"]


@dataclass
class Entry:
    msgctxt: str | None = None
    msgid: str = ""
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    fuzzy: bool = False

    @property
    def key(self) -> tuple[str | None, str]:
        return self.msgctxt, self.msgid


ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


def _unquote(line: str) -> str:
    """The text of one quoted .po line, C escapes resolved (the file is UTF-8: other characters stay)."""
    return re.sub(r"\\(.)", lambda match: ESCAPES.get(match.group(1), match.group(1)), line[1:-1])


def po_entries(path: Path) -> list[Entry]:
    """The live entries of a .po file (obsolete ``#~`` ones left out), header excluded."""
    entries, entry, target = [], Entry(), None
    for raw in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        line = raw.strip()
        if not line:
            if target is not None:
                entries.append(entry)
            entry, target = Entry(), None
            continue
        if line.startswith("#,") and "fuzzy" in line:
            entry.fuzzy = True
        elif line.startswith("#"):
            continue
        elif line.startswith("msgctxt "):
            entry.msgctxt, target = _unquote(line[8:]), ("msgctxt", None)
        elif line.startswith("msgid_plural "):
            entry.msgid_plural, target = _unquote(line[13:]), ("msgid_plural", None)
        elif line.startswith("msgid "):
            entry.msgid, target = _unquote(line[6:]), ("msgid", None)
        elif line.startswith("msgstr["):
            index = int(line[7 : line.index("]")])
            entry.msgstr[index] = _unquote(line[line.index("]") + 2 :])
            target = ("msgstr", index)
        elif line.startswith("msgstr "):
            entry.msgstr[0], target = _unquote(line[7:]), ("msgstr", 0)
        elif line.startswith('"') and target is not None:
            name, index = target
            if name == "msgstr":
                entry.msgstr[index] += _unquote(line)
            else:
                setattr(entry, name, (getattr(entry, name) or "") + _unquote(line))
    return [e for e in entries if e.msgid]


def catalogue(language: str, root: Path = ROOT) -> Path:
    return root / "locale" / language / "LC_MESSAGES" / "django.po"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_string_is_translated(language):
    untranslated = [
        entry.msgid
        for entry in po_entries(catalogue(language))
        if entry.fuzzy or not entry.msgstr or any(not text.strip() for text in entry.msgstr.values())
    ]
    assert not untranslated, (
        f"{len(untranslated)} strings untranslated or fuzzy in {language} (translate them in "
        f"locale/{language}/LC_MESSAGES/django.po, then `make messages`): {untranslated[:15]}"
    )


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_compiled_catalogue_matches_its_source(language):
    with catalogue(language).with_suffix(".mo").open("rb") as compiled:
        translations = gettext.GNUTranslations(compiled)
    stale = []
    for entry in po_entries(catalogue(language)):
        if entry.fuzzy or entry.msgid_plural or not entry.msgstr.get(0):
            continue
        msgid = entry.msgid if entry.msgctxt is None else f"{entry.msgctxt}\x04{entry.msgid}"
        if translations._catalog.get(msgid) != entry.msgstr[0]:
            stale.append(entry.msgid)
    assert not stale, f"locale/{language}/LC_MESSAGES/django.mo is stale: run `make messages` ({stale[:5]})"


def source_copy(destination: Path) -> None:
    """The files makemessages reads, copied: it writes beside the sources it finds, never into the checkout."""
    for path in ROOT.rglob("*"):
        relative = path.relative_to(ROOT)
        if path.suffix not in (".py", ".html", ".txt") or relative.parts[0].startswith("."):
            continue
        if any(
            relative.match(pattern) or relative.parts[0] == pattern.split("/")[0] for pattern in MAKEMESSAGES_IGNORE
        ):
            continue
        (destination / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, destination / relative)
    shutil.copytree(ROOT / "locale", destination / "locale")


def test_the_catalogues_hold_every_string_of_the_code(tmp_path, settings, monkeypatch):
    if shutil.which("xgettext") is None:
        pytest.fail("xgettext not found: install Debian's gettext package")
    source_copy(tmp_path)
    settings.LOCALE_PATHS = [tmp_path / "locale"]
    monkeypatch.chdir(tmp_path)
    call_command("makemessages", locale=list(LANGUAGES), ignore_patterns=MAKEMESSAGES_IGNORE, verbosity=0)
    for language in LANGUAGES:
        known = {entry.key for entry in po_entries(catalogue(language))}
        missing = [entry.msgid for entry in po_entries(catalogue(language, tmp_path)) if entry.key not in known]
        assert not missing, (
            f"{len(missing)} strings of the code are not in locale/{language} (run `make messages` and translate "
            f"them): {missing[:15]}"
        )
