"""Every command a user can type, with its arguments: what each door registers and `/help` lists.

The words of a command live in the catalogs: `menu.<name>` (a one-line description, the doors' command
menus) and `options.<name>.<option>` (an argument); `help.text` names every published command (a test
holds it, and the README's table, to this catalogue). A door with typed arguments (Discord's slash
commands) turns them back into the command's words, in the order given here; the core reads them as
if they had been typed.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.i18n import LANGUAGES
from core.messages import ActionKind
from core.privacy.consent import Choice as Consent

SWITCH = ("on", "off")


@dataclass(frozen=True, slots=True)
class Option:
    """One argument: free text, or a whole number within `low`..`high`, or one of `choices`."""

    name: str
    required: bool = False
    integer: bool = False
    low: int | None = None
    high: int | None = None
    choices: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Entry:
    name: str
    options: tuple[Option, ...] = ()
    menu: bool = False  # among the main commands a door lists in its menu
    staff: bool = False  # for admins only: listed nowhere, to anyone else it does not exist


IMAGE = Option("image", integer=True, low=1)

CATALOGUE: tuple[Entry, ...] = (
    Entry("imagine", menu=True),  # its arguments are the prompt's flags: each door types them its own way
    Entry("balance", menu=True),
    Entry("buy", (Option("item"),), menu=True),
    Entry("history", menu=True),
    Entry(
        "settings",
        (Option("setting", choices=("ar", "style", "res", "model", "tz", "reset")), Option("value")),
        menu=True,
    ),
    Entry("styles", menu=True),
    Entry("language", (Option("language", choices=LANGUAGES),), menu=True),
    Entry("cancel", (Option("job", integer=True, low=1),), menu=True),
    Entry("support", (Option("message"),), menu=True),
    Entry("privacy", (Option("setting", choices=("keep",)), Option("switch", choices=SWITCH)), menu=True),
    Entry("help", menu=True),
    Entry("start"),
    Entry(
        "action",
        (
            Option("job", required=True, integer=True, low=1),
            Option("kind", required=True, choices=tuple(kind.value for kind in ActionKind)),
            IMAGE,
        ),
    ),
    Entry("original", (Option("job", required=True, integer=True, low=1), IMAGE)),
    Entry("report", (Option("job", required=True, integer=True, low=1), Option("reason"))),
    Entry("subscription", (Option("manage", choices=("cancel", "portal")),)),
    Entry("invoices"),
    Entry("group", (Option("setting", choices=("wallet", "quota", "cap")), Option("value"))),
    Entry("terms"),
    Entry("accept"),
    Entry("export"),
    Entry(
        "profile",
        (
            Option("change", choices=("set", "clear")),
            Option("field", choices=("name", "email", "language")),
            Option("value"),
        ),
    ),
    Entry(
        "consent",
        (
            Option("consent", choices=tuple(choice.value for choice in Consent)),
            Option("switch", choices=SWITCH),
        ),
    ),
    Entry("marketing", (Option("switch", choices=SWITCH),)),
    Entry("delete", (Option("code"),)),
    Entry("link", (Option("code"),)),
    Entry("unlink"),
    Entry("redeem", (Option("code", required=True),)),
    Entry("invite"),
    Entry("grant", staff=True),
)
"""In the order the doors list them; the menu's commands first."""

PUBLISHED: tuple[Entry, ...] = tuple(entry for entry in CATALOGUE if not entry.staff)
MENU: tuple[str, ...] = tuple(entry.name for entry in CATALOGUE if entry.menu)


def words(entry: Entry, given: dict[str, object]) -> str:
    """The command as typed from its arguments (`/original 3 2`), the missing ones left out."""
    values = [str(given[option.name]) for option in entry.options if given.get(option.name) is not None]
    return " ".join([f"/{entry.name}", *values])
