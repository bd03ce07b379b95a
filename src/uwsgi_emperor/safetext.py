"""Text that came from an app (its log, its argv, its stats), made safe for root's terminal.

An app writes what it likes into its log and its process title: escape sequences that retitle
the terminal, clear it, move the cursor, or a carriage return that overwrites the line with a
forged one. Every such character is shown as a visible escape instead (\\x1b, \\r, \\u202e), so
what the admin reads is exactly what the app wrote, and nothing more happens.
"""

import unicodedata

# C0 and C1 controls, DEL, the format characters (bidi overrides, zero-width joiners) and the
# line and paragraph separators: nothing of them is printed as is.
_UNSAFE_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"}


def _escape(char):
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def visible(text):
    """TEXT (str, or bytes decoded as UTF-8 with errors replaced) with every control or
    format character shown as a backslash escape; one line stays one line."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return "".join(_escape(c) if unicodedata.category(c) in _UNSAFE_CATEGORIES else c
                   for c in text)


def visible_lines(data, count):
    """The last COUNT lines of DATA (bytes from a log), each made visible."""
    lines = data.decode("utf-8", "replace").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [visible(line.removesuffix("\r")) for line in lines[-count:]]
