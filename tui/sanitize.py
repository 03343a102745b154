"""Make untrusted text (model output, pasted or imported text) safe to show in a terminal or write to a file.

Control characters and escape sequences are not removed but made visible: the user sees that the model
emitted an ESC or a BEL, and nothing reaches the terminal that could clear it, ring it or move the cursor.
Rich markup needs no escaping here: the app renders text as `Text`/`Content` without markup parsing.
"""

from __future__ import annotations

import re

# C0 controls except tab and newline, DEL, and C1 controls (0x80-0x9f: 8-bit CSI/OSC in some terminals).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]")
# Bidirectional overrides can make text display in a different order than it is stored.
_BIDI = re.compile(r"[\u202a-\u202e\u2066-\u2069]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)  # Unicode "control pictures": ␛ for ESC, ␇ for BEL
    if code == 0x7F:
        return "\u2421"
    return f"\\x{code:02x}"


def neutralize(text: str) -> str:
    """Replace control characters (but tab and newline) with visible stand-ins; normalise CRLF to LF."""
    text = text.replace("\r\n", "\n")
    text = _CONTROL.sub(_visible, text)
    return _BIDI.sub(lambda m: f"<U+{ord(m.group()):04X}>", text)


def has_controls(text: str) -> bool:
    return bool(_CONTROL.search(text.replace("\r\n", "\n")) or _BIDI.search(text))
