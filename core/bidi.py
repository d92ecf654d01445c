"""Text one person wrote, shown to someone else: without the controls that reorder how it reads."""

from __future__ import annotations

# Embeddings and overrides (U+202A-U+202E) and isolates (U+2066-U+2069): a prompt or ticket carrying
# them can make a caption or a support card read differently from what it says ("Trojan Source").
BIDI_CONTROLS = frozenset(map(chr, [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]))
_REMOVE = dict.fromkeys(map(ord, BIDI_CONTROLS))


def neutralize_bidi(text: str) -> str:
    """`text` without bidirectional embedding, override and isolate controls."""
    return text.translate(_REMOVE)
