"""Extract: stream an export file's bytes into rows for ``COPY``, with exact line numbers.

The file is read in blocks of whole lines; nothing is parsed value by value here (the database
checks the values, see :mod:`meshplatform.ingest.checks`). Per line only what would make ``COPY``
refuse the whole stream is handled: wrong field counts, NUL bytes, bare carriage returns,
invalid UTF-8 inside a quoted field, quotes (RFC 4180; a quoted field may span lines). A plain
line whose values all have a form that needs no check (:mod:`meshplatform.ingest.formats`) goes
to the typed stream as it is; the typed stream has one row per line (an all-empty placeholder for
a line off the fast path), so the database numbers its rows by position. Every other
record becomes one CSV row ``line number, raw text, problem, field 1, ..., field n`` of the text
stream: the raw text only for records with quotes or problems, the problem (``code <US> column
<US> reason``) only for a line that must be quarantined (its fields then stay empty).

A file unusable as a whole (empty, not text, not UTF-8, wrong header) raises
:class:`ExportRejected` naming the file and what to do.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from meshplatform.contracts.model import SourceSpec
from meshplatform.errors import ExportRejected
from meshplatform.ingest.formats import fast_lines

BLOCK_BYTES = 1 << 20  # with 4 MiB blocks the allocator kept more memory the larger the file (peak RSS not flat)
MAX_HEADER_BYTES = 1 << 16
MAX_RECORD_LINES = 100  # a quoted field spanning more lines than this is an unbalanced quote
KEPT_BYTES = 4096  # a quarantined line keeps at most this prefix of its text
NEWLINE = b"\n"
SEPARATOR = "\x1f"  # between code, column and reason of a problem
UNBALANCED = "unbalanced quote: a quoted field opened on this line never closes"


@dataclass(frozen=True)
class Batch:
    """A slice of a file: CSV rows for COPY, one per record (lines to quarantine included), either
    typed (fast path) or text (the others)."""

    typed: bytes
    payload: bytes
    rows_read: int
    bytes_read: int


def kept_text(raw: bytes, total: int | None = None) -> str:
    """The text a quarantined line keeps: at most KEPT_BYTES of it (`total` bytes, default all of
    `raw`), marked when cut; a NUL byte shown as \u2400."""
    total = len(raw) if total is None else total
    cut = total > KEPT_BYTES
    text = raw[:KEPT_BYTES].decode("utf-8", errors="ignore" if cut else "replace")
    if cut:
        text += f"\u2026 [cut: {total:,} bytes in total]"
    return text.replace("\x00", "\u2400")


def _inside_quotes_after(text: str, inside: bool) -> bool:
    """Whether a record is still inside a quoted field after `text` (RFC 4180: a quote opens a
    field only at its start, and "" inside a quoted field is an escaped quote)."""
    field_start = not inside
    i = 0
    while i < len(text):
        char = text[i]
        if inside:
            if char == '"':
                if text[i + 1 : i + 2] == '"':
                    i += 1
                else:
                    inside = False
        elif char == '"' and field_start:
            inside = True
        field_start = char == "," and not inside
        i += 1
    return inside


def _special(line: bytes) -> bool:
    return b'"' in line or b"\r" in line or b"\x00" in line


class _Splitter:
    """Turns lines into COPY rows or quarantined lines; keeps the state of an open quoted field."""

    def __init__(self, path: Path, spec: SourceSpec) -> None:
        self.path = path
        self.names = spec.column_names + (["(the empty last column)"] if spec.trailing_empty_column else [])
        self.fields = len(self.names)
        self.rows: list[bytes] = []
        self.typed: list[bytes | memoryview] = []
        self.fast_rows = 0
        self.empty = "," * self.fields
        self.placeholder = b"," * (self.fields - 1) + NEWLINE  # all NULL: a line off the fast path
        self.runs = fast_lines(spec)
        self.pending: list[tuple[int, bytes]] = []
        self.inside = False

    def take(self, bytes_read: int) -> Batch:
        batch = Batch(b"".join(self.typed), b"".join(self.rows), len(self.rows) + self.fast_rows, bytes_read)
        self.rows, self.typed, self.fast_rows = [], [], 0
        return batch

    def block(self, first: int, block: bytes, utf8: bool) -> int:
        """Whole lines `first`, `first` + 1, ... (`utf8`: the block decodes); returns the next line's
        number. Runs of fast-path lines pass on as they are, found by one expression in C."""
        pos, number, view = 0, first, memoryview(block)  # runs are joined from views: copied once
        for run in self.runs.finditer(block) if utf8 and self.runs is not None else ():
            number, start = self._others(number, block[pos : run.start()], utf8), run.start()
            while self.pending and start < run.end():  # lines inside a quoted field opened before
                end = block.index(NEWLINE, start) + 1
                number, start = self._others(number, block[start:end], utf8), end
            if start < run.end():
                self.typed.append(view[start : run.end()])
                lines = block.count(NEWLINE, start, run.end())
                self.fast_rows, number = self.fast_rows + lines, number + lines
            pos = run.end()
        return self._others(number, block[pos:], utf8)

    def _others(self, first: int, chunk: bytes, utf8: bool) -> int:
        """Lines off the fast path: a placeholder each in the typed stream (which numbers lines by
        position), the records in the text stream."""
        lines = chunk.split(NEWLINE)
        if lines[-1] == b"":
            lines.pop()
        self.typed.append(self.placeholder * len(lines))
        want = self.fields - 1
        for number, line in enumerate(lines, first):
            if self.pending or _special(line) or not (utf8 or _utf8(line)):
                self.line(number, line)
            elif line.count(b",") == want:
                self.rows.append(b"%d,,,%b\n" % (number, line))
            else:
                self._quarantine(number, line, *self._shape_problem(line.count(b",") + 1 if line else 0))
        return first + len(lines)

    def line(self, number: int, line: bytes) -> None:
        """One line through the quote state machine."""
        if not self.pending and b'"' not in line:
            self._record(number, line)
            return
        self.pending.append((number, line))
        self.inside = _inside_quotes_after(line.decode("latin-1"), self.inside)
        if not self.inside:
            (first, _), text = self.pending[0], b"\n".join(raw for _, raw in self.pending)
            self.pending = []
            self._record(first, text)
        elif len(self.pending) > MAX_RECORD_LINES:
            self._unbalanced()

    def _unbalanced(self) -> None:
        """A quote opened on the first pending line never closed: that line is bad, re-read the rest."""
        (number, line), rest = self.pending[0], self.pending[1:]
        self.pending, self.inside = [], False
        self._quarantine(number, line, UNBALANCED, "unbalanced_quote")
        for later in rest:
            self.line(*later)

    def finish(self) -> None:
        """End of file: a quoted field still open never closes."""
        while self.pending:
            self._unbalanced()

    def _record(self, number: int, record: bytes) -> None:
        if (at := record.find(b"\x00")) >= 0:
            column = self._column_at(record, at)
            self._quarantine(
                number, record, f"NUL byte in {column or 'the line'}: not allowed in text", "nul_byte", column
            )
            return
        try:
            text = record.decode("utf-8")
        except UnicodeDecodeError as exc:
            self._bad_utf8(number, record, exc)
            return
        if "\r" in text:
            self._quarantine(number, record, "carriage return inside a field", "carriage_return")
            return
        if '"' not in text:
            found = text.count(",") + 1 if text else 0
            if found != self.fields:
                self._quarantine(number, record, *self._shape_problem(found))
            else:
                self.rows.append(b"%d,,,%b\n" % (number, record))
            return
        values = next(csv.reader(io.StringIO(text, newline="")), [])
        if len(values) != self.fields:
            self._quarantine(number, record, *self._shape_problem(len(values)))
            return
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerow([number, kept_text(record), "", *values])
        self.rows.append(out.getvalue().encode("utf-8"))

    def _bad_utf8(self, number: int, record: bytes, exc: UnicodeDecodeError) -> None:
        """Inside a quoted field: one bad value, quarantined. Elsewhere: the file is not UTF-8."""
        before = record[: exc.start]
        line, byte = number + before.count(NEWLINE), exc.start - before.rfind(NEWLINE)
        where = f"line {line}, byte {byte}"
        if _inside_quotes_after(before.decode("latin-1"), False):
            column = self._column_at(record, exc.start)
            self._quarantine(number, record, f"{where}: not valid UTF-8 inside a quoted field", "invalid_utf8", column)
            return
        raise ExportRejected(
            f"{self.path}: {where}: not valid UTF-8 ({exc.reason})",
            hint="re-export the file as UTF-8; nothing of it was loaded",
        )

    def _column_at(self, record: bytes, position: int) -> str | None:
        """The column a byte position falls in (counting delimiters outside quotes)."""
        text, inside, index = record[:position].decode("latin-1"), False, 0
        for char in text:
            inside = inside != (char == '"')
            index += char == "," and not inside
        return self.names[index] if index < len(self.names) else None

    def _shape_problem(self, found: int) -> tuple[str, str]:
        if found == 0:
            return "blank line", "blank_line"
        more = "too many" if found > self.fields else "too few"
        return f"{more} fields: expected {self.fields}, found {found}", "field_count"

    def _quarantine(self, number: int, raw: bytes, reason: str, code: str, column: str | None = None) -> None:
        out = io.StringIO()
        problem = SEPARATOR.join([code, column or "", reason])
        csv.writer(out, lineterminator="").writerow([number, kept_text(raw), problem])
        self.rows.append(out.getvalue().encode("utf-8") + self.empty.encode() + NEWLINE)


def _utf8(line: bytes) -> bool:
    if line.isascii():  # the common case, checked without decoding
        return True
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _check_header(path: Path, spec: SourceSpec, raw: bytes) -> None:
    if b"\x00" in raw:
        raise ExportRejected(
            f"{path}: line 1: not a text file (NUL bytes in the header line)",
            hint="an export is a UTF-8 CSV text file; was a compressed or UTF-16 file delivered? nothing was loaded",
        )
    try:
        text = raw.decode("utf-8").lstrip("\ufeff").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise ExportRejected(
            f"{path}: line 1, byte {exc.start + 1}: not valid UTF-8 ({exc.reason})",
            hint="re-export the file as UTF-8; nothing of it was loaded",
        ) from exc
    if not text.strip():
        raise ExportRejected(
            f"{path}: the file is empty (no header line)",
            hint="an export always has a header line; ask for a re-delivery; nothing was loaded",
        )
    found, expected = next(csv.reader([text])), spec.header()
    if found == expected:
        return
    missing = [c for c in spec.column_names if c not in found]
    unexpected = [c for c in found if c and c not in spec.column_names]
    details = []
    if missing:
        details.append(f"missing column(s) {missing}")
    if unexpected:
        details.append(f"unexpected column(s) {unexpected}")
    if not details:
        details.append("columns are out of order or the empty trailing column is missing")
    raise ExportRejected(
        f"{path}: line 1: header does not match the {spec.name} export contract: {'; '.join(details)}",
        hint=f"expected exactly: {','.join(expected)} (see {spec.contract_path.name}); nothing of the file was loaded",
    )


def read_export(path: Path, spec: SourceSpec, block_bytes: int = BLOCK_BYTES) -> Iterator[Batch]:
    """Check the header, then yield the file's records as COPY rows, block by block."""
    with path.open("rb") as handle:
        header = handle.readline(MAX_HEADER_BYTES)
        if not header:
            raise ExportRejected(
                f"{path}: the file is empty (0 bytes)",
                hint="an export always has a header line; ask for a re-delivery; nothing was loaded",
            )
        if not header.endswith(b"\n") and handle.read(1):
            raise ExportRejected(
                f"{path}: line 1: no end of line in the first {MAX_HEADER_BYTES // 1024} KiB: not a CSV text file",
                hint="an export is a UTF-8 CSV text file with a header line; nothing was loaded",
            )
        _check_header(path, spec, header)
        splitter, number, done = _Splitter(path, spec), 2, len(header)
        while block := handle.read(block_bytes):
            if not block.endswith(b"\n"):
                block += handle.readline()
            done += len(block)
            if b"\r\n" in block:
                block = block.replace(b"\r\n", b"\n")
            number = splitter.block(number, block, _utf8(block))
            yield splitter.take(done)
        splitter.finish()
        yield splitter.take(done)
