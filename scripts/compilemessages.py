#!/usr/bin/env python3
"""Compile Sekisho's gettext catalogues (.po → .mo) in pure Python, without GNU gettext.

    python scripts/compilemessages.py           # write every sekisho/locale/*/LC_MESSAGES/*.mo
    python scripts/compilemessages.py --check   # exit 1 if a committed .mo is stale or missing
    python scripts/compilemessages.py FILE.po   # compile just these catalogues

The .mo files are committed, so installing or running Sekisho (`make demo`) needs neither
this script nor gettext. After editing a .po, run it and commit the .mo alongside.

Extracting new strings into the .po is Django's job and does need xgettext/msgmerge
(Debian: gettext), on a developer machine only:

    DJANGO_SETTINGS_MODULE=tests.settings PYTHONPATH=. .venv/bin/django-admin makemessages \\
        -l ja --add-location=file --ignore=.venv --ignore=tests --ignore=bench \\
        --ignore=scripts --ignore=var --ignore=sekisho.egg-info --ignore='*/migrations/*'

Like `msgfmt`, fuzzy and untranslated entries are left out of the .mo; the header is kept
(Django reads Plural-Forms from it) less its POT-Creation-Date. Like `msgfmt --check`, a
python-format entry whose translation changes its %-placeholders is refused. The output is
the GNU .mo format (little-endian, revision 0, no hash table), strings sorted: reproducible.
"""

from __future__ import annotations

import argparse
import re
import struct
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

LOCALE_DIR = Path(__file__).resolve().parent.parent / "sekisho" / "locale"
MO_MAGIC = 0x950412DE
_ESCAPES = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "v": "\v",
    "\\": "\\",
    '"': '"',
    "'": "'",
    "?": "?",
}
_PLACEHOLDER = re.compile(
    r"%(?:\((?P<name>[^)]*)\))?[#0 +-]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?"
    r"(?P<conv>[diouxXeEfFgGcrsa%])"
)
_KEYWORD = re.compile(r"^(msgctxt|msgid_plural|msgid|msgstr(?:\[(\d+)\])?)\s+(\".*)$")


class PoSyntaxError(ValueError):
    """The .po file cannot be read."""


@dataclass
class Message:
    """One catalogue entry."""

    msgid: str = ""
    msgctxt: str | None = None
    msgid_plural: str | None = None
    msgstr: str = ""
    msgstr_plural: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    line: int = 0

    @property
    def fuzzy(self) -> bool:
        return "fuzzy" in self.flags

    @property
    def translated(self) -> bool:
        if self.msgid_plural is not None:
            return bool(self.msgstr_plural) and all(self.msgstr_plural.values())
        return bool(self.msgstr)

    def key(self) -> str:
        """The .mo key: context EOT msgid [NUL msgid_plural]."""
        key = self.msgid if self.msgctxt is None else f"{self.msgctxt}\x04{self.msgid}"
        return key if self.msgid_plural is None else f"{key}\x00{self.msgid_plural}"

    def value(self) -> str:
        if self.msgid_plural is None:
            return self.msgstr
        return "\x00".join(self.msgstr_plural[i] for i in sorted(self.msgstr_plural))


def _unquote(token: str, *, where: str) -> str:
    token = token.strip()
    if len(token) < 2 or not token.startswith('"') or not token.endswith('"'):
        raise PoSyntaxError(f"{where}: expected a quoted string, got {token!r}")
    body, out, i = token[1:-1], [], 0
    while i < len(body):
        char = body[i]
        if char == '"':
            raise PoSyntaxError(f"{where}: unescaped quote")
        if char != "\\":
            out.append(char)
            i += 1
            continue
        if i + 1 >= len(body):
            raise PoSyntaxError(f"{where}: dangling backslash")
        nxt = body[i + 1]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt in "01234567":
            digits = re.match(r"[0-7]{1,3}", body[i + 1 :])
            assert digits is not None
            out.append(chr(int(digits.group(), 8)))
            i += 1 + len(digits.group())
        elif nxt == "x":
            digits = re.match(r"[0-9a-fA-F]+", body[i + 2 :])
            if digits is None:
                raise PoSyntaxError(f"{where}: bad \\x escape")
            out.append(chr(int(digits.group(), 16)))
            i += 2 + len(digits.group())
        else:
            raise PoSyntaxError(f"{where}: unknown escape \\{nxt}")
    return "".join(out)


def parse_po(text: str, *, name: str = "<po>") -> list[Message]:
    """Every non-obsolete entry of a .po file, the header (msgid "") included."""
    messages: list[Message] = []
    current = Message()
    started = False  # the current entry has a keyword line
    target: tuple[str, int | None] | None = None  # the field continuation lines append to
    pending_flags: set[str] = set()

    def finish() -> None:
        nonlocal current, started, target, pending_flags
        if started:
            if current.msgid_plural is None and current.msgstr_plural:
                raise PoSyntaxError(f"{name}:{current.line}: msgstr[n] without msgid_plural")
            if current.msgid_plural is not None and not current.msgstr_plural:
                raise PoSyntaxError(f"{name}:{current.line}: msgid_plural without msgstr[n]")
            messages.append(current)
        current, started, target, pending_flags = Message(), False, None, set()

    def append(value: str) -> None:
        assert target is not None
        what, index = target
        if what == "msgstr_plural":
            assert index is not None
            current.msgstr_plural[index] += value
        else:
            setattr(current, what, (getattr(current, what) or "") + value)

    for number, raw in enumerate(text.splitlines(), start=1):
        where = f"{name}:{number}"
        line = raw.strip()
        if not line:
            finish()
            continue
        if line.startswith("#~"):
            continue  # obsolete entries are history, never compiled
        if line.startswith("#"):
            if target is not None and target[0] in ("msgstr", "msgstr_plural"):
                finish()  # a comment after a msgstr starts the next entry
            if line.startswith("#,"):
                pending_flags |= {f.strip() for f in line[2:].split(",") if f.strip()}
            continue
        if line.startswith('"'):
            if target is None:
                raise PoSyntaxError(f"{where}: string outside an entry")
            append(_unquote(line, where=where))
            continue
        match = _KEYWORD.match(line)
        if match is None:
            raise PoSyntaxError(f"{where}: cannot parse {line[:60]!r}")
        keyword, index, rest = match.group(1), match.group(2), match.group(3)
        if (
            keyword in ("msgctxt", "msgid")
            and target is not None
            and target[0]
            in (
                "msgstr",
                "msgstr_plural",
            )
        ):
            finish()
        if not started:
            current.line, current.flags, started = number, pending_flags, True
        value = _unquote(rest, where=where)
        if keyword == "msgstr" or keyword.startswith("msgstr["):
            if index is None:
                target = ("msgstr", None)
                current.msgstr = value
            else:
                target = ("msgstr_plural", int(index))
                current.msgstr_plural[int(index)] = value
        else:
            target = (keyword, None)
            setattr(current, keyword, value)
    finish()
    return messages


def placeholders(text: str) -> list[str]:
    """The %-format specifications of a python-format string (named ones in any order)."""
    found = [m.group(0) for m in _PLACEHOLDER.finditer(text) if m.group("conv") != "%"]
    named = any(m.group("name") is not None for m in _PLACEHOLDER.finditer(text))
    return sorted(found) if named else found


def check_message(message: Message, *, name: str) -> None:
    """msgfmt --check's python-format rule: a translation keeps the placeholders."""
    if "python-format" not in message.flags or not message.translated:
        return
    sources = (
        [message.msgid] if message.msgid_plural is None else [message.msgid, message.msgid_plural]
    )
    wanted = [placeholders(s) for s in sources]
    translations = (
        [message.msgstr] if message.msgid_plural is None else list(message.msgstr_plural.values())
    )
    for translation in translations:
        if placeholders(translation) not in wanted:
            raise PoSyntaxError(
                f"{name}:{message.line}: placeholders of {translation!r} do not match "
                f"{message.msgid!r}"
            )


def catalog(messages: Iterable[Message], *, name: str = "<po>") -> dict[str, str]:
    """What a .mo holds: translated, non-fuzzy entries plus the header."""
    result: dict[str, str] = {}
    for message in messages:
        is_header = message.msgid == "" and message.msgctxt is None
        if not is_header and (message.fuzzy or not message.translated):
            continue
        check_message(message, name=name)
        key = message.key()
        if key in result:
            raise PoSyntaxError(f"{name}:{message.line}: duplicate entry {message.msgid!r}")
        value = message.value()
        if is_header:
            # As msgfmt does: makemessages rewrites this date on every run, the .mo need not change.
            value = re.sub(r"(?m)^POT-Creation-Date:.*\n", "", value)
        result[key] = value
    return result


def _charset(messages: Sequence[Message]) -> str:
    header = next((m.msgstr for m in messages if m.msgid == "" and m.msgctxt is None), "")
    match = re.search(r"charset=([\w-]+)", header)
    return match.group(1) if match else "utf-8"


def write_mo(entries: dict[str, str], *, encoding: str = "utf-8") -> bytes:
    """The GNU .mo image of a catalogue."""
    pairs = sorted((k.encode(encoding), v.encode(encoding)) for k, v in entries.items())
    count = len(pairs)
    originals_at = 7 * 4
    translations_at = originals_at + count * 8
    data_at = translations_at + count * 8
    table_originals: list[int] = []
    table_translations: list[int] = []
    blob = bytearray()
    for original, _ in pairs:
        table_originals += [len(original), data_at + len(blob)]
        blob += original + b"\0"
    for _, translation in pairs:
        table_translations += [len(translation), data_at + len(blob)]
        blob += translation + b"\0"
    header = struct.pack("<7I", MO_MAGIC, 0, count, originals_at, translations_at, 0, data_at)
    return (
        header
        + struct.pack(f"<{2 * count}I", *table_originals)
        + struct.pack(f"<{2 * count}I", *table_translations)
        + bytes(blob)
    )


def read_mo(data: bytes) -> dict[str, str]:
    """A .mo image back into its catalogue (either byte order), to compare with a .po."""
    if len(data) < 28:
        raise ValueError("not a .mo file: too short")
    for order in ("<", ">"):
        if struct.unpack(f"{order}I", data[:4])[0] == MO_MAGIC:
            break
    else:
        raise ValueError("not a .mo file: bad magic number")
    _, revision, count, originals_at, translations_at = struct.unpack(f"{order}5I", data[:20])
    if revision >> 16 not in (0, 1):
        raise ValueError(f"unsupported .mo revision {revision:#x}")
    raw: list[tuple[bytes, bytes]] = []
    for i in range(count):
        olen, ooff = struct.unpack_from(f"{order}2I", data, originals_at + 8 * i)
        tlen, toff = struct.unpack_from(f"{order}2I", data, translations_at + 8 * i)
        raw.append((data[ooff : ooff + olen], data[toff : toff + tlen]))
    header = dict(raw).get(b"", b"").decode("ascii", "replace")
    match = re.search(r"charset=([\w-]+)", header)
    encoding = match.group(1) if match else "utf-8"
    return {k.decode(encoding): v.decode(encoding) for k, v in raw}


def compile_po(path: Path) -> bytes:
    """The .mo image of one .po file."""
    text = path.read_bytes().decode("utf-8")
    messages = parse_po(text, name=str(path))
    encoding = _charset(messages)
    if encoding.lower().replace("_", "-") not in ("utf-8", "utf8"):
        # Re-read in the declared charset (Sekisho's catalogues are all UTF-8).
        messages = parse_po(path.read_bytes().decode(encoding), name=str(path))
    return write_mo(catalog(messages, name=str(path)), encoding=encoding)


def catalogues(root: Path = LOCALE_DIR) -> list[Path]:
    """Every .po under <root>/<language>/LC_MESSAGES/."""
    return sorted(root.glob("*/LC_MESSAGES/*.po"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("files", nargs="*", type=Path, help=".po files (default: all)")
    parser.add_argument(
        "--check", action="store_true", help="write nothing; fail if a .mo is missing or stale"
    )
    args = parser.parse_args(argv)
    files: list[Path] = args.files or catalogues()
    if not files:
        print(f"no catalogues under {LOCALE_DIR}", file=sys.stderr)
        return 1
    stale = 0
    for po_path in files:
        mo_path = po_path.with_suffix(".mo")
        try:
            image = compile_po(po_path)
        except (PoSyntaxError, UnicodeDecodeError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        current = mo_path.read_bytes() if mo_path.exists() else None
        if args.check:
            if current is None or read_mo(current) != read_mo(image):
                print(f"stale: {mo_path} (run scripts/compilemessages.py)", file=sys.stderr)
                stale += 1
            continue
        if current != image:
            mo_path.write_bytes(image)
            count = sum(1 for key in read_mo(image) if key)
            print(f"compiled {po_path} -> {mo_path} ({count} messages)")
        else:
            print(f"up to date: {mo_path}")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
