"""Scenario files as TOML text: the one writer of scenario documents.

`to_toml(data)` writes a plain document (the dicts the tests, the importer and
scenarios/make_sriov_2000.py build) in the layout of the library's files: sections in file order,
a blank line between tables, the keys kernel/schema.py marks hex in hex, multi-line strings as
multi-line strings. The Builder instead edits a parsed `tomlkit` document in place (`parse`,
`append_table`, `set_key`, `remove_tables`), so that what it does not touch — comments, hex,
multi-line descriptions, the order of keys — comes out byte for byte as it went in, and what it
adds is written as `to_toml` writes it. The kernel package (stdlib only) never imports this.
"""
import math
import re

import tomlkit
from tomlkit.items import AoT, Comment, Integer, Null, Table, Trivia, Whitespace

from .kernel.schema import FILE_ORDER, HEX_DIGITS

# --- the plain writer ---------------------------------------------------------------------------

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _escape(text, keep_newlines=False):
    out = []
    for ch in text:
        if ch == "\n" and keep_newlines:
            out.append(ch)
        elif ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out)


def _toml_string(v):
    if "\n" in v:                     # as the library's descriptions: """ on a line of its own
        return '"""\n' + _escape(v, keep_newlines=True) + '"""'
    return '"' + _escape(v) + '"'


def _toml_float(v):
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return repr(v)                    # "1.5", "1e-05", "1e+16": all TOML floats


def _toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return _toml_float(v)
    if isinstance(v, str):
        return _toml_string(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_inline_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {v!r} as TOML")


def _inline_value(v):
    """Inside an inline table or array a string stays on one line."""
    return '"' + _escape(v) + '"' if isinstance(v, str) else _toml_value(v)


def _toml_key(k):
    k = str(k)
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else '"' + _escape(k) + '"'


def hex_text(key, v):
    """The text of a hex key's value (streamid = 0x877, class = 0x030000), or None."""
    if key in HEX_DIGITS and isinstance(v, int) and not isinstance(v, bool) and v >= 0:
        return f"0x{v:0{HEX_DIGITS[key]}x}"
    return None


def _entry(key, v):
    return f"{_toml_key(key)} = {hex_text(key, v) or _toml_value(v)}"


def to_toml(data):
    """A scenario document as TOML text: a tomlkit document as it stands (its own formatting), a
    plain dict in the layout of the library's files."""
    if is_document(data):
        return data.as_string()
    lines = []
    for key in ("title", "description"):
        if key in data:
            lines.append(_entry(key, data[key]))
    for key in data:
        if key not in FILE_ORDER:                   # (the loader refuses them; keep them visible)
            lines.append(_entry(key, data[key]))
    for section in ("kernel", "qemu"):
        if data.get(section):
            lines += ["", f"[{section}]"] + [_entry(k, v) for k, v in data[section].items()]
    for section in ("driver", "device"):
        for table in data.get(section, ()):
            lines += ["", f"[[{section}]]"] + [_entry(k, v) for k, v in table.items()]
    if data.get("expect"):
        lines += ["", "[expect]"] + [_entry(k, v) for k, v in data["expect"].items()]
    while lines and lines[0] == "":
        del lines[0]
    return "\n".join(lines) + "\n"


# --- the style-preserving editor (tomlkit) ------------------------------------------------------

def parse(text):
    """TOML text → a tomlkit document (raises tomlkit's ParseError, a ValueError)."""
    return tomlkit.parse(text)


def is_document(x):
    return isinstance(x, tomlkit.TOMLDocument)


def document(data):
    """A new tomlkit document holding a plain document, formatted as to_toml() writes it."""
    return tomlkit.parse(to_toml(data))


def plain(item):
    """A tomlkit document or table as plain dicts, lists, str, int and bool."""
    return item.unwrap() if hasattr(item, "unwrap") else item


def value_item(key, v):
    """A tomlkit value for `key = v`: hex where the schema says so."""
    text = hex_text(key, v)
    return Integer(v, Trivia(), text) if text else tomlkit.item(v)


def set_key(table, key, v):
    """Set one key in place: an existing key keeps its place and its comment; a new one goes after
    the table's last key, before the blank line that ends the table."""
    new = value_item(key, v)
    if key in table:
        old = table.item(key)
        new.trivia.comment_ws, new.trivia.comment = old.trivia.comment_ws, old.trivia.comment
        new.trivia.trail = old.trivia.trail
    table[key] = new


def tables(doc, section):
    """The [[section]] tables of a document (an empty list when it has none)."""
    return doc.get(section, [])


def append_table(doc, section, entry):
    """Append a [[section]] table written as to_toml() writes it; a document without such tables
    gets them where the library's files have them (a [[driver]] before the [[device]]s)."""
    new = document({section: [entry]})[section][0]
    if section in doc:
        doc[section].append(new)
    else:
        later = [k for k in FILE_ORDER[FILE_ORDER.index(section) + 1:] if k in doc]
        moved = [(k, doc.item(k)) for k in later]
        for k in later:
            doc.remove(k)
        items = [item for _, item in doc.body if not isinstance(item, Null)]
        if items and not isinstance(items[-1], (Table, AoT)):
            _end_line(items[-1])                    # top-level keys, then a blank line, then tables
            if not doc.as_string().endswith("\n\n"):
                doc.add(Whitespace("\n"))
        doc.append(section, AoT([new]))
        for k, v in moved:
            doc.append(k, v)
    tidy(doc)
    return new


def remove_tables(doc, section, gone):
    """Remove, in place, the [[section]] tables for which gone(table) is true."""
    aot = doc.get(section)
    if aot is None:
        return
    for i in reversed(range(len(aot))):
        if gone(aot[i]):
            del aot[i]
    if not len(aot):
        doc.remove(section)
    tidy(doc)


def remove_section(doc, key):
    if key in doc:
        doc.remove(key)
        tidy(doc)


def _all_tables(container):
    """Every table with a header, in file order ([kernel.config] after [kernel])."""
    for _, item in container.body:
        for t in item.body if isinstance(item, AoT) else [item] if isinstance(item, Table) else []:
            if not t.is_super_table():
                yield t
            yield from _all_tables(t.value)


def _end_line(item):
    """A key as the last line of a file without a final newline gets one."""
    if not isinstance(item, (Whitespace, Comment, Table, AoT)) and "\n" not in item.trivia.trail:
        item.trivia.trail += "\n"


def _blank(item):
    return isinstance(item, Whitespace) and not item.s.strip(" \t\n")


def tidy(doc):
    """The layout of the library's files after an edit: one blank line after every table but the
    last, none at the end. A comment right above a table header (the end of the table before it)
    stays where it is. A file laid out so already is left byte for byte as it was."""
    every = list(_all_tables(doc))
    for n, t in enumerate(every):
        if "\n" in t.trivia.indent and not t.trivia.indent.strip():
            t.trivia.indent = t.trivia.indent.rsplit("\n", 1)[1]     # (tomlkit's blank line above a new table)
        body = t.value.body
        if body and isinstance(body[-1][1], (Table, AoT)):
            continue                                # its last sub-table ends it
        stripped = False
        while body and body[-1][0] is None and _blank(body[-1][1]):
            body.pop()
            stripped = True
        ends_in_comment = bool(body) and isinstance(body[-1][1], Comment)
        if body:
            _end_line(body[-1][1])
        if n < len(every) - 1 and (stripped or not ends_in_comment):
            t.value.append(None, Whitespace("\n"))
