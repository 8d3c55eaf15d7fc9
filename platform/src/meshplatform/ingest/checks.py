"""The contract's checks as SQL. Lines of the fast path (:mod:`meshplatform.ingest.formats`) are
COPied typed into ``_typed``; the rules across fields (and patterns) run on them there, and a row
breaking one moves to the all-text staging table ``_raw`` with the other lines. One pass over
``_raw`` then casts its valid rows and lists every problem of the others.

Each problem is ``code <US> column <US> message`` (US = chr(31)); a row without problems has
``_problems`` NULL. The checks decide before any cast, so no value can make a statement fail:
formats with cheap string functions, date and time values with the server's own parser
(``pg_input_is_valid`` from PostgreSQL 16, a small function before). Rules across fields
(:class:`~meshplatform.contracts.model.RowRule`) run on the typed values of valid columns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from psycopg import sql

from meshplatform.contracts.model import ColumnSpec, RowRule, SourceSpec
from meshplatform.ingest.extract import KEPT_BYTES, SEPARATOR
from meshplatform.ingest.formats import KEY_BYTES

if TYPE_CHECKING:
    import psycopg

TRAILING = "_trailing"
SHOWN = 40  # characters of an offending value shown in its message
_FALLBACK_VALID = """
create or replace function pg_temp.mesh_input_is_valid(value text, type_name text) returns boolean
language plpgsql stable as $$
begin
    execute format('select %L::%s', value, type_name);
    return true;
exception when others then
    return false;
end $$"""


def _timestamp_masks() -> list[str]:
    """ISO-8601 shapes accepted for a timestamp, digits written as 9."""
    fractions = [""] + ["." + "9" * n for n in range(1, 7)]
    zones = ["", "Z", "+99:99", "-99:99", "+9999", "-9999", "+99", "-99"]
    return ["9999-99-99"] + [f"9999-99-99{t}99:99:99{f}{z}" for z in zones for t in "T " for f in fractions]


def valid_function(conn: psycopg.Connection) -> str:
    """The name of the server's "does this text parse as that type" function; created if needed."""
    if conn.info.server_version >= 160000:
        return "pg_input_is_valid"
    conn.execute(_FALLBACK_VALID)
    return "pg_temp.mesh_input_is_valid"


def raw_stage_ddl(spec: SourceSpec) -> sql.Composed:
    """The all-text staging table COPY fills: line number, raw text of quoted records, fields."""
    names = [*spec.column_names, *([TRAILING] if spec.trailing_empty_column else [])]
    columns = [
        sql.SQL("_line integer not null"),
        sql.SQL("_text text"),
        sql.SQL("_problem text"),
    ]
    columns += [sql.SQL("{} text").format(sql.Identifier(n)) for n in names]
    return sql.SQL("create temp table _raw ({}) on commit drop").format(sql.SQL(", ").join(columns))


def typed_stage_ddl(spec: SourceSpec) -> sql.Composed:
    """The typed staging table COPY fills with the fast-path lines (and the checks with the other
    valid ones): line number, the contract's columns (no defaults, no triggers)."""
    columns = [sql.SQL("_line integer not null")]
    columns += [sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(c.physical_type)) for c in spec.columns]
    columns += [sql.SQL("{} text").format(sql.Identifier(TRAILING))] if spec.trailing_empty_column else []
    return sql.SQL("create temp table _typed ({}) on commit drop").format(sql.SQL(", ").join(columns))


def refused_stage_ddl() -> sql.SQL:
    """The rows the checks refused: line number, problems, kept text (and its full size if cut)."""
    return sql.SQL(
        "create temp table _refused (_source_line integer not null, _problems text[] not null, _raw_text text, "
        "_raw_bytes bigint) on commit drop"
    )


def _problem(code: str, column: str | None, message: sql.Composable) -> sql.Composable:
    prefix = sql.Literal(f"{code}{SEPARATOR}{column or ''}{SEPARATOR}")
    return sql.SQL("{} || {}").format(prefix, message)


def _shown(value: sql.Composable) -> sql.Composable:
    """The value as a message shows it: at most SHOWN characters."""
    return sql.SQL("(left({v}, {n}) || case when length({v}) > {n} then '…' else '' end)").format(
        v=value, n=sql.Literal(SHOWN)
    )


def _value_problem(column: ColumnSpec, value: sql.Composable, expectation: str) -> sql.Composable:
    text = sql.SQL("{} || ': ''' || {} || ''' ' || {}").format(
        sql.Literal(column.name), _shown(value), sql.Literal(expectation)
    )
    return text


def _format_check(column: ColumnSpec, v: sql.Composable, valid: str) -> tuple[sql.Composable, str] | None:
    """(condition true for a well-formed value, what the message says otherwise), or None for text."""
    kind = column.physical_type
    digits = sql.SQL("translate({}, '0123456789', '')").format(v)
    sign = sql.SQL("strpos({}, '-')").format(v)
    if kind in ("bigint", "integer"):
        most = 18 if kind == "bigint" else 9
        condition = sql.SQL("{d} in ('', '-') and {s} <= 1 and length({v}) - {s} between 1 and {n}").format(
            d=digits, s=sign, v=v, n=sql.Literal(most)
        )
        return condition, "is not an integer"
    if numeric := column.numeric_scale:
        whole, scale = numeric[0] - numeric[1], numeric[1]
        dot = sql.SQL("strpos({}, '.')").format(v)
        condition = sql.SQL(
            "{d} in ('', '.', '-', '-.') and {s} <= 1 and case {dot} when 0 then length({v}) - {s} between 1 and {w} "
            "else {dot} - 1 - {s} between 1 and {w} and length({v}) - {dot} between 1 and {f} end"
        ).format(d=digits, s=sign, dot=dot, v=v, w=sql.Literal(whole), f=sql.Literal(scale))
        return condition, f"is not a number with at most {scale} decimals"
    mask = sql.SQL("translate({}, '0123456789', '9999999999')").format(v)
    parses = sql.SQL("{}({}, {})").format(sql.SQL(valid), v, sql.Literal(kind))
    if kind == "date":
        return sql.SQL("{} = '9999-99-99' and {}").format(mask, parses), "is not a date (YYYY-MM-DD)"
    if kind == "timestamptz":
        masks = sql.Literal(_timestamp_masks())
        return sql.SQL("{} = any({}::text[]) and {}").format(mask, masks, parses), "is not an ISO-8601 timestamp"
    if kind == "boolean":
        return sql.SQL("lower({}) in ('true', 'false', 't', 'f', '1', '0')").format(v), "is not a boolean"
    return None


def column_problem(column: ColumnSpec, valid: str) -> sql.Composable:
    """The first problem of one value of the column, or NULL."""
    v = sql.SQL("r.{}").format(sql.Identifier(column.name))
    name = column.name
    missing = f"missing key {name}" if column.primary_key else f"missing value for {name}"
    branches: list[sql.Composable] = [
        sql.SQL("when {v} is null or {v} = '' then {m}").format(
            v=v, m=_problem("missing", name, sql.Literal(missing)) if column.required else sql.NULL
        )
    ]
    if (check := _format_check(column, v, valid)) is not None:
        condition, expectation = check
        branches.append(
            sql.SQL("when not ({}) then {}").format(
                condition, _problem("wrong_type", name, _value_problem(column, v, expectation))
            )
        )
    if column.allowed_values is not None:
        expectation = "is not one of " + ", ".join(column.allowed_values)
        branches.append(
            sql.SQL("when {} <> all({}::text[]) then {}").format(
                v, sql.Literal(list(column.allowed_values)),
                _problem("not_allowed", name, _value_problem(column, v, expectation)),
            )
        )  # fmt: skip
    if column.max_length is not None:
        branches.append(
            sql.SQL("when length({}) > {} then {}").format(
                v, sql.Literal(column.max_length),
                _problem("too_long", name, _value_problem(column, v, f"is longer than {column.max_length} characters")),
            )
        )  # fmt: skip
    if column.primary_key and column.physical_type == "text":
        branches.append(
            sql.SQL("when octet_length({}) > {} then {}").format(
                v, sql.Literal(KEY_BYTES),
                _problem("too_long", name, _value_problem(column, v, f"is longer than {KEY_BYTES} bytes (a key)")),
            )
        )  # fmt: skip
    if column.pattern is not None:
        branches.append(sql.SQL("when {} then {}").format(_pattern_broken(column), _pattern_message(column)))
    for bound, operator, words in (
        (column.exclusive_minimum, "<=", "must be greater than"),
        (column.minimum, "<", "must be at least"),
    ):
        if bound is not None:
            branches.append(
                sql.SQL("when {}::numeric {} {} then {}").format(
                    v, sql.SQL(operator), sql.Literal(bound),
                    _problem("below_minimum", name, _value_problem(column, v, f"{words} {bound:g}")),
                )
            )  # fmt: skip
    return sql.SQL("case {} end").format(sql.SQL(" ").join(branches))


def _pattern_broken(column: ColumnSpec) -> sql.Composable:
    return sql.SQL("r.{} !~ {}").format(sql.Identifier(column.name), sql.Literal(column.pattern))


def _pattern_message(column: ColumnSpec) -> sql.Composable:
    v = sql.SQL("r.{}").format(sql.Identifier(column.name))
    return _problem("pattern", column.name, _value_problem(column, v, f"does not match {column.pattern}"))


def _trailing_problem() -> sql.Composable:
    v = sql.SQL("r.{}").format(sql.Identifier(TRAILING))
    message = sql.SQL("'the last column carries no information and must be empty, found ''' || {} || ''''").format(
        _shown(v)
    )
    return sql.SQL("case when {} <> '' then {} end").format(v, _problem("trailing_not_empty", None, message))


def _ref(alias: str, column: str) -> sql.Composable:
    return sql.SQL("{}.{}").format(sql.Identifier(alias), sql.Identifier(column))


def _rule_broken(
    rule: RowRule, raw: Callable[[str], sql.Composable], typed: Callable[[str], sql.Composable]
) -> sql.Composable:
    """True when a row breaks `rule` (NULL or false otherwise); `raw`: a column's text, `typed`: its value."""
    column = rule.column
    if rule.kind == "presentExactlyWhen":
        return sql.SQL("({} is not null) <> coalesce({} = {}, false)").format(
            typed(column), raw(rule.when), sql.Literal(rule.equals)
        )
    if rule.kind == "notBefore":
        return sql.SQL("{} < {}").format(typed(column), typed(rule.reference))
    if rule.kind == "notInFuture":
        return sql.SQL("{} > now() + {}::interval").format(typed(column), sql.Literal(rule.tolerance))
    product = sql.SQL(" * ").join(typed(f) for f in rule.factors)  # productOf
    return sql.SQL("abs({} - {}) > {}::numeric").format(typed(column), product, sql.Literal(rule.tolerance))


def _rule_problem(rule: RowRule) -> sql.Composable:
    """The problem of a row breaking `rule`, or NULL; only checked when its columns are valid."""
    shown = lambda c: _shown(_ref("r", c))  # noqa: E731
    column, found = rule.column, sql.SQL("coalesce('''' || {} || '''', 'empty')")
    if rule.kind == "presentExactlyWhen":
        message = sql.SQL("{} || {} || {} || {}").format(
            sql.Literal(f"{column}: present exactly when {rule.when} is {rule.equals}, found {rule.when} "),
            found.format(shown(rule.when)), sql.Literal(f" and {column} "), found.format(shown(column)),
        )  # fmt: skip
    elif rule.kind == "notBefore":
        message = sql.SQL("{} || {} || ' < ' || {}").format(
            sql.Literal(f"{column}: not before {rule.reference}, found "),
            found.format(shown(column)), found.format(shown(rule.reference)),
        )  # fmt: skip
    elif rule.kind == "notInFuture":
        message = sql.SQL("{} || {}").format(
            sql.Literal(f"{column}: at most {rule.tolerance} after the load, found "), found.format(shown(column))
        )
    else:  # productOf
        message = sql.SQL("{} || {} || ' vs ' || ({})::text").format(
            sql.Literal(f"{column}: {' * '.join(rule.factors)} within {rule.tolerance}, found "),
            found.format(shown(column)), sql.SQL(" * ").join(_ref("v", f) for f in rule.factors),
        )  # fmt: skip
    broken = _rule_broken(rule, lambda c: _ref("r", c), lambda c: _ref("v", c))
    valid = sql.SQL(" and ").join(sql.SQL("{} is null").format(_ref("m", c)) for c in rule.columns)
    return sql.SQL("case when {} and {} then {} end").format(valid, broken, _problem(rule.name, column, message))


def _as_text(column: ColumnSpec, value: sql.Composable) -> sql.Composable:
    """A typed value of the fast path as the export wrote it (see :mod:`meshplatform.ingest.formats`)."""
    if column.physical_type == "timestamptz":
        return sql.SQL("""to_char({} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')""").format(value)
    if column.physical_type == "date":
        return sql.SQL("to_char({}, 'YYYY-MM-DD')").format(value)
    return sql.SQL("{}::text").format(value)


def recheck_fast(spec: SourceSpec) -> sql.Composed | None:
    """Move the fast-path rows of ``_typed`` that break a rule or a pattern back to ``_raw`` as
    text, where :func:`checked_select` finds and words every problem they have (None: the
    contract has neither)."""
    columns = {c.name: c for c in spec.columns}
    text = lambda name: _as_text(columns[name], _ref("t", name))  # noqa: E731
    broken = [_rule_broken(rule, text, lambda c: _ref("t", c)) for rule in spec.row_rules]
    broken += [
        sql.SQL("{} !~ {}").format(text(c.name), sql.Literal(c.pattern)) for c in spec.columns if c.pattern is not None
    ]
    if not broken:
        return None
    names = [*spec.column_names, *([TRAILING] if spec.trailing_empty_column else [])]
    values = [text(c.name) for c in spec.columns] + ([_ref("t", TRAILING)] if spec.trailing_empty_column else [])
    return sql.SQL(
        """
        with moved as (delete from _typed t where coalesce({broken}, false) returning t.*)
        insert into _raw (_line, {names}) select t._line, {values} from moved t
        """
    ).format(
        broken=sql.SQL(" or ").join(sql.SQL("({})").format(b) for b in broken),
        names=sql.SQL(", ").join(map(sql.Identifier, names)),
        values=sql.SQL(", ").join(values),
    )


def checked_select(spec: SourceSpec, valid: str) -> sql.Composed:
    """One pass over ``_raw``: per row its typed values (NULL where a value has a problem),
    ``_source_line``, ``_problems`` (NULL for a valid row) and, for a refused row, ``_raw_text``
    and ``_raw_bytes``."""
    names = spec.column_names
    problems = [column_problem(c, valid) for c in spec.columns]
    casts = [
        sql.SQL("case when {m} is null then nullif({r}, '')::{t} end as {c}").format(
            m=_ref("m", c.name), r=_ref("r", c.name), t=sql.SQL(c.physical_type), c=sql.Identifier(c.name)
        )
        for c in spec.columns
    ]
    every = [_ref("m", n) for n in names]
    if spec.trailing_empty_column:
        every.append(_trailing_problem())
    every += [_rule_problem(rule) for rule in spec.row_rules]
    raw_line = sql.SQL("concat_ws(',', {})").format(
        sql.SQL(", ").join(
            sql.SQL("coalesce({}, '')").format(_ref("r", n))
            for n in [*names, *([TRAILING] if spec.trailing_empty_column else [])]
        )
    )
    return sql.SQL(
        """
        select {typed}, r._line as _source_line, p.problems as _problems,
               case when p.problems is not null then left(coalesce(r._text, {raw_line}), {kept}) end as _raw_text,
               case when p.problems is not null and r._text is null then octet_length({raw_line}) end as _raw_bytes
        from _raw r
        cross join lateral (select {problems} offset 0) m
        cross join lateral (select {casts} offset 0) v
        cross join lateral (select case when r._problem is not null then array[r._problem]
                                        when coalesce({every}) is not null
                                        then array_remove(array[{every}], null) end as problems) p
        """
    ).format(
        typed=sql.SQL(", ").join(_ref("v", n) for n in names),
        raw_line=raw_line,
        kept=sql.Literal(KEPT_BYTES + 1),
        problems=sql.SQL(", ").join(
            sql.SQL("{} as {}").format(p, sql.Identifier(n)) for p, n in zip(problems, names, strict=True)
        ),
        casts=sql.SQL(", ").join(casts),
        every=sql.SQL(", ").join(every),
    )
