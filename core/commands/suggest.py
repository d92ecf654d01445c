""" "Did you mean ...?": the known word a mistyped one most likely meant, by edit distance."""

from __future__ import annotations

from collections.abc import Iterable


def distance(a: str, b: str) -> int:
    """Edits (insert, delete, replace, swap two neighbours) that turn `a` into `b`: Damerau-Levenshtein
    in its restricted form, so `ra` is one edit from `ar`."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, char_b in enumerate(b, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b))
            if i > 1 and j > 1 and char_a == b[j - 2] and a[i - 2] == char_b:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[-1]


def tolerance(word: str) -> int:
    """Edits a word of this length may carry and still be recognised: none for one letter (any other
    letter is one edit away), one for short words, two for longer ones."""
    return 0 if len(word) <= 1 else 1 if len(word) <= 4 else 2


def closest(word: str, known: Iterable[str]) -> str | None:
    """The known word nearest to `word` (case-insensitively) within its tolerance; the first of equals."""
    lowered = word.casefold()
    allowed = tolerance(lowered)
    best: tuple[int, str] | None = None
    for candidate in known:
        folded = candidate.casefold()
        if abs(len(folded) - len(lowered)) > allowed:
            continue  # more edits apart than allowed: a long word costs nothing to turn down
        edits = distance(lowered, folded)
        if edits <= allowed and (best is None or edits < best[0]):
            best = (edits, candidate)
    return best[1] if best else None
