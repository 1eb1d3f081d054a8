"""Translations: pages in the reader's language, and catalogues that are complete and current.

logout_sso's source language is English; each language under ``logout_sso/locale/`` has its
catalogue (``django.po``) and the compiled ``django.mo`` Django reads, both committed and both in
the wheel (tests/core/test_packaging.py). The pages are read here in French, as a browser asking
for it (``Accept-Language: fr``, LocaleMiddleware in tests/settings.py) gets them. The catalogue
tests need GNU gettext (``msgfmt``, ``xgettext``, ``msgmerge``; Debian: ``apt-get install
gettext``), as ``make messages`` does.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from gettext import GNUTranslations
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import translation

from logout_sso.models import Organization

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "logout_sso"
LOCALES = sorted(path.name for path in (PACKAGE / "locale").iterdir() if path.is_dir())

#: French typography: a non-breaking space before ? : ; ! and inside « »; the apostrophe U+2019.
NBSP = "\u00a0"
APOSTROPHE = "\u2019"


@pytest.fixture(autouse=True)
def back_to_english() -> Iterator[None]:
    """LocaleMiddleware leaves the last request's language active in this thread."""
    yield
    translation.deactivate()


@pytest.fixture
def french() -> Client:
    return Client(headers={"accept-language": "fr"})


# --- Pages in French --------------------------------------------------------------------------


def test_the_logout_confirmation_is_in_the_browsers_language(french: Client) -> None:
    page = french.get(reverse("logout_sso:logout")).content.decode()

    assert '<html lang="fr">' in page
    assert "<title>Déconnexion</title>" in page
    assert f"<h1>Se déconnecter{NBSP}?</h1>" in page
    assert ">Se déconnecter</button>" in page


def test_english_stays_the_default(client: Client) -> None:
    page = client.get(reverse("logout_sso:logout")).content.decode()

    assert '<html lang="en">' in page
    assert "<h1>Log out?</h1>" in page


@pytest.mark.django_db
def test_a_failed_sign_in_says_why_in_french(french: Client, settings) -> None:
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = "https://idp.example.com/authorize"
    settings.OIDC_RP_CLIENT_ID = "client"
    response = french.get(reverse("logout_sso:login"), {"organization": "nobody-we-know"})
    page = response.content.decode()

    assert response.status_code == 400
    assert "<h1>Échec de la connexion</h1>" in page
    assert f"À quelle organisation vous connectez-vous{NBSP}?" in page
    assert f"Retour à la page d{APOSTROPHE}accueil" in page


@pytest.mark.django_db
def test_the_admin_organization_list_and_its_confirmation_page_in_french(
    french: Client, make_organization
) -> None:
    acme: Organization = make_organization("acme")
    french.force_login(User.objects.create_superuser("root"))
    changelist = reverse("admin:logout_sso_organization_changelist")

    listing = french.get(changelist).content.decode()
    confirmation = french.post(
        changelist, {"action": "log_out_everyone", "_selected_action": [acme.pk]}
    ).content.decode()

    assert "Déconnexion unique" in listing  # The app's name and the column's.
    assert "Déconnecter tous les utilisateurs de ces organisations" in listing
    assert "Mode SLO" in listing
    assert f"Déconnecter tous les utilisateurs{NBSP}?" in confirmation
    assert "Cela déconnecte 0 utilisateur" in confirmation
    assert "Ils devront se reconnecter partout." in confirmation
    assert 'value="Oui, les déconnecter tous"' in confirmation


@pytest.mark.django_db
def test_an_admin_warning_in_french(french: Client, make_organization) -> None:
    trapped: Organization = make_organization("globex", connection="globex-okta", auto_forward=True)
    french.force_login(User.objects.create_superuser("root"))

    response = french.get(reverse("admin:logout_sso_organization_change", args=[trapped.pk]))

    [warning] = [str(message) for message in response.context["messages"]]
    assert warning.startswith(f"L{APOSTROPHE}organisation «{NBSP}globex{NBSP}» redirige")
    assert "Activez la déconnexion fédérée" in warning


# --- The catalogues ---------------------------------------------------------------------------


@dataclass
class Entry:
    """One message of a .po file."""

    msgid: str
    msgctxt: str | None = None
    msgid_plural: str | None = None
    msgstr: list[str] = field(default_factory=list)
    flags: set[str] = field(default_factory=set)
    obsolete: bool = False

    @property
    def key(self) -> tuple[str | None, str]:
        return self.msgctxt, self.msgid

    def __str__(self) -> str:
        return repr(self.msgid) if self.msgctxt is None else f"{self.msgid!r} ({self.msgctxt})"


def read_po(path: Path) -> list[Entry]:
    """The messages of a .po file, the header (msgid "") left out; obsolete ones (``#~``)
    included, marked."""
    entries: list[Entry] = []
    for block in re.split(r"\n\s*\n", path.read_text(encoding="utf-8")):
        entry: Entry | None = None
        keyword = ""
        obsolete = False
        flags: set[str] = set()
        for raw in block.splitlines():
            line = raw
            if line.startswith("#~|"):
                continue  # The previous msgid of a fuzzy obsolete message.
            if line.startswith("#~"):
                obsolete, line = True, line[2:].strip()
            elif line.startswith("#,"):
                flags |= {flag.strip() for flag in line[2:].split(",")}
                continue
            elif line.startswith("#") or not line.strip():
                continue
            if line.startswith('"'):
                value = ast.literal_eval(line)
            else:
                keyword, _, literal = line.partition(" ")
                value = ast.literal_eval(literal)
                if keyword == "msgctxt" or (keyword == "msgid" and entry is None):
                    entry = entry or Entry(msgid="")
                if entry is None:
                    raise AssertionError(f"{path}: {keyword} before msgid in {block!r}")
                if keyword.startswith("msgstr"):
                    entry.msgstr.append("")
            assert entry is not None, f"{path}: unexpected line {raw!r}"
            if keyword == "msgctxt":
                entry.msgctxt = (entry.msgctxt or "") + value
            elif keyword == "msgid":
                entry.msgid += value
            elif keyword == "msgid_plural":
                entry.msgid_plural = (entry.msgid_plural or "") + value
            elif keyword.startswith("msgstr"):
                entry.msgstr[-1] += value
        if entry is not None and (entry.msgid or entry.msgctxt is not None):
            entry.flags, entry.obsolete = flags, obsolete
            entries.append(entry)
    return entries


def catalogue(locale: str) -> Path:
    return PACKAGE / "locale" / locale / "LC_MESSAGES" / "django.po"


def gettext_program(name: str) -> str:
    program = shutil.which(name)
    assert program, (
        f"{name} (GNU gettext) is not installed: the catalogue checks and `make messages` need "
        "it (Debian: apt-get install gettext)."
    )
    return program


def test_there_is_a_french_translation() -> None:
    assert "fr" in LOCALES
    assert len(read_po(catalogue("fr"))) > 250


@pytest.mark.parametrize("locale", LOCALES)
def test_every_message_is_translated_and_none_is_fuzzy(locale: str) -> None:
    entries = read_po(catalogue(locale))
    untranslated = [str(e) for e in entries if not e.obsolete and not all(e.msgstr)]
    fuzzy = [str(e) for e in entries if not e.obsolete and "fuzzy" in e.flags]
    obsolete = [str(e) for e in entries if e.obsolete]

    assert not untranslated, f"{locale}: translate {', '.join(untranslated)}"
    assert not fuzzy, f"{locale}: check and unmark the fuzzy {', '.join(fuzzy)}"
    assert not obsolete, f"{locale}: run `make messages` to drop {', '.join(obsolete)}"


@pytest.mark.parametrize("locale", LOCALES)
def test_the_compiled_catalogue_is_the_po_files_and_keeps_its_placeholders(
    locale: str, tmp_path: Path
) -> None:
    """msgfmt --check refuses a translation whose placeholders (python-format) differ from
    its msgid's; the committed django.mo must hold every translation of the .po as it is."""
    po = catalogue(locale)
    fresh = tmp_path / "django.mo"
    result = subprocess.run(
        [gettext_program("msgfmt"), "--check", "-o", str(fresh), str(po)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    with po.with_suffix(".mo").open("rb") as committed:
        compiled = GNUTranslations(committed)
    stale = []
    for entry in read_po(po):
        context = entry.msgctxt
        if entry.msgid_plural is None:
            found = [
                compiled.pgettext(context, entry.msgid)
                if context is not None
                else compiled.gettext(entry.msgid)
            ]
        else:
            # French has two forms (n > 1): 1 for the first, 2 for the second.
            found = [
                compiled.npgettext(context, entry.msgid, entry.msgid_plural, n)
                if context is not None
                else compiled.ngettext(entry.msgid, entry.msgid_plural, n)
                for n in range(1, len(entry.msgstr) + 1)
            ]
        if found != entry.msgstr:
            stale.append(str(entry))
    assert not stale, f"{locale}: django.mo is older than django.po; run `make messages` ({stale})"


def makemessages_options() -> list[str]:
    """The options `make messages` runs makemessages with (the Makefile's)."""
    makefile = (ROOT / "Makefile").read_text()
    found = re.search(r"^MAKEMESSAGES_OPTIONS = (.*)$", makefile, re.MULTILINE)
    assert found, "Makefile: MAKEMESSAGES_OPTIONS is gone"
    return found.group(1).split()


def test_the_catalogues_have_every_marked_string_and_no_other(tmp_path: Path) -> None:
    """`make messages` on a copy of the package: a string marked for translation and missing
    from a catalogue, or one the code no longer has, fails here with its name."""
    for program in ("xgettext", "msgmerge", "msguniq"):
        gettext_program(program)
    copy = tmp_path / "logout_sso"
    shutil.copytree(
        PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "migrations")
    )
    # -P: the copy of the package is the working directory, not a place to import from. No
    # DJANGO_SETTINGS_MODULE: makemessages reads files and needs no project, as in the Makefile.
    environment = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-P", "-m", "django", "makemessages", "--all", *makemessages_options()],
        cwd=copy,
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr

    for locale in LOCALES:
        before = {entry.key: entry for entry in read_po(catalogue(locale)) if not entry.obsolete}
        after = {
            entry.key: entry
            for entry in read_po(copy / "locale" / locale / "LC_MESSAGES" / "django.po")
            if not entry.obsolete
        }
        missing = [str(after[key]) for key in after.keys() - before.keys()]
        gone = [str(before[key]) for key in before.keys() - after.keys()]
        assert not missing, (
            f"{locale}: new strings to translate: {', '.join(sorted(missing))}. Run `make "
            "messages`, translate them in django.po, run it again and commit django.po and "
            "django.mo."
        )
        assert not gone, (
            f"{locale}: strings the code no longer has: {', '.join(sorted(gone))}. Run `make "
            "messages` and commit django.po and django.mo."
        )
