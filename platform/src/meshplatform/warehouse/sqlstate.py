"""What a database error means for the user: one hint per SQLSTATE (or its class), in one place.

The CLI's error handler and the loader use :func:`explain`; a hint says only what is true for
that error (https://www.postgresql.org/docs/current/errcodes-appendix.html).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg

_OWN_POSTGRES = "see README, 'Use your own Postgres'"
# Exact codes first, then the two-character class.
HINTS: dict[str, str] = {
    "42501": "the role named in the message may not do this. During setup it is the admin of MESH_DATABASE_URL "
    f"(it needs CREATEROLE and CREATE on the database; {_OWN_POSTGRES}); during a domain's load, dbt run or "
    "check it is that domain's login: its SQL or objects (a default, trigger, view or hook) reach outside what the "
    "domain may use",
    "53100": "the database server's disk is full: free space or enlarge its volume, then run the command again "
    "(the failed transaction was rolled back)",
    "53200": "the database server ran out of memory: lower its load or raise its memory, then run the command again",
    "53300": "the database server has no free connection slot: close idle sessions or raise max_connections",
    "40001": "another transaction changed the same rows at the same time (serialization failure): run the command "
    "again; nothing of the failed transaction was kept",
    "40P01": "a deadlock with another transaction: run the command again; nothing of the failed transaction was kept",
    "57P01": "the server ended this session (shut down, restarted, or an administrator terminated it): once it "
    "is up, run the command again; nothing of the interrupted transaction was kept",
    "57014": "the statement was cancelled (statement_timeout or a user request); nothing of it was kept",
    "3D000": "the database does not exist: create it, or fix the name in MESH_DATABASE_URL",
    "54000": "a value exceeds a limit of the database (e.g. a key too long for its index): give the column a "
    "maxLength in its contract",
    "08": "the connection to the database failed or was lost: check that the server runs (`mesh db status` for "
    "the embedded one) and is reachable; nothing of the interrupted transaction was kept",
    "28": "the server refused the login: check the user and password in MESH_DATABASE_URL and the server's pg_hba.conf",
    "57": "the database server is shutting down or restarting: start it again (`mesh db start` for the embedded "
    "one) and run the command again",
    "53": "the database server ran out of a resource: see its log",
    "22": "the database refused a value: this is a bug of the platform's checks, please report it with the file",
    "23": "a constraint of the database refused a row: see the message; nothing of the transaction was kept",
    "42": "the database refused a statement: a table or column may have been changed by hand; see the message",
}


def hint_for(sqlstate: str | None) -> str:
    """The hint for an SQLSTATE; None (no code: the connection broke) counts as a connection error."""
    if sqlstate is None:
        return HINTS["08"]
    return HINTS.get(sqlstate) or HINTS.get(sqlstate[:2]) or f"see the server's log for SQLSTATE {sqlstate}"


def explain(exc: psycopg.Error) -> tuple[str, str]:
    """(first line of the message with its SQLSTATE, hint) of a database error."""
    sqlstate = getattr(exc, "sqlstate", None)
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return (f"{first} (SQLSTATE {sqlstate})" if sqlstate else first), hint_for(sqlstate)
