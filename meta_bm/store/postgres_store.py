"""The cohort store on PostgreSQL: the same tables and behaviour as the DuckDB file, written by many at once.

Several processes on several hosts write at the same time, so a study's replacement must not rely on
one writer holding the whole store. Each write is one transaction that first takes transaction-level
advisory locks (``pg_advisory_xact_lock``) on a 64-bit hash of every study id it replaces, in sorted
order (two writers never wait on each other in a cycle): two transactions replacing the same study run
one after the other, so the second deletes exactly what the first inserted; different studies are
written in parallel. Every study writer first takes one all-studies lock in shared mode; a batch of more
than :data:`MAX_STUDY_LOCKS` studies takes it exclusively instead of one lock per study (so it never fills
the server's lock table). Results take one lock per ``analysis_id``; creating or upgrading tables takes
one schema lock (safe when several processes start at once).

Rows are bulk-loaded with ``COPY ... FROM STDIN`` of CSV written by polars (floats written shortest-exact,
so every double round-trips bit for bit; an empty string is quoted, NULL is not). Reads run in a read-only
REPEATABLE READ transaction (one consistent state of every table read), come back through ``COPY (query)
TO STDOUT`` as CSV, and have the column types the DuckDB store returns; each call opens its own short
connection and closes it.

Example
-------
::

    store = PostgresCohortStore("db.example.org", 5432, "meta_bm", os.environ["META_BM_PG_PASSWORD"], "cohort")
    store.check()  # StoreUnavailable naming META_BM_PG_HOST / _PORT / _USER / _PASSWORD / _DATABASE if not usable
    store.replace_studies(["s1"], {"raw_clicks": clicks})

>>> _one_statement("select ';' as x; -- a comment; here")
"select ';' as x"
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import math
import re
from collections.abc import Iterator, Sequence
from typing import Any

import polars as pl

from meta_bm.settings import PG_DATABASE_VAR, PG_HOST_VAR, PG_PASSWORD_VAR, PG_PORT_VAR, PG_USER_VAR
from meta_bm.store.base import ANALYSIS_TABLES, TABLES, StoreBase
from meta_bm.store.errors import StoreUnavailable
from meta_bm.store.schema import POSTGRES_TYPES, polars_schema

# PostgreSQL has no one-byte or unsigned integers: domains over the next wider type keep what a column
# was declared as (the server reports a domain column as its base type; reads look the domain up).
_DOMAINS: dict[str, tuple[str, int, int, pl.DataType]] = {
    "meta_bm_int8": ("smallint", -(2**7), 2**7 - 1, pl.Int8()),
    "meta_bm_uint8": ("smallint", 0, 2**8 - 1, pl.UInt8()),
    "meta_bm_uint16": ("integer", 0, 2**16 - 1, pl.UInt16()),
    "meta_bm_uint32": ("bigint", 0, 2**32 - 1, pl.UInt32()),
    "meta_bm_uint64": ("numeric(20, 0)", 0, 2**64 - 1, pl.UInt64()),
}
# Result types by the server's type name (pg_type.typname) ...
_POLARS_OF_PG: dict[str, pl.DataType] = {
    "bool": pl.Boolean(), "int2": pl.Int16(), "int4": pl.Int32(), "int8": pl.Int64(), "oid": pl.Int64(),
    "float4": pl.Float32(), "float8": pl.Float64(), "numeric": pl.Float64(), "text": pl.String(),
    "varchar": pl.String(), "bpchar": pl.String(), "name": pl.String(), "char": pl.String(), "date": pl.Date(),
    "timestamp": pl.Datetime("us"), "timestamptz": pl.Datetime("us", "UTC"),
} | {name: d[3] for name, d in _DOMAINS.items()}  # fmt: skip
# ... and by its type OID (fixed for the built-in types), as reported for each result column.
_OIDS = {16: "bool", 18: "char", 19: "name", 20: "int8", 21: "int2", 23: "int4", 25: "text", 26: "oid", 700: "float4",
         701: "float8", 1042: "bpchar", 1043: "varchar", 1082: "date", 1114: "timestamp", 1184: "timestamptz",
         1700: "numeric"}  # fmt: skip
_INTEGER_OIDS = {20, 21, 23, 1700}  # the base types of the domains
# Result types read through CSV (exact text forms); any other (timestamptz, json, ...) is fetched row by row.
_CSV_EXACT = {pl.String(), pl.Boolean(), pl.Float32(), pl.Float64(), pl.Int8(), pl.Int16(), pl.Int32(), pl.Int64(),
              pl.UInt8(), pl.UInt16(), pl.UInt32(), pl.UInt64(), pl.Date()}  # fmt: skip
# What a column of a result frame becomes in a result table created from it.
_PG_OF_POLARS: dict[pl.DataType, str] = {
    pl.String(): "TEXT", pl.Float64(): "DOUBLE PRECISION", pl.Float32(): "REAL", pl.Int8(): "meta_bm_int8",
    pl.Int16(): "SMALLINT", pl.Int32(): "INTEGER", pl.Int64(): "BIGINT", pl.UInt8(): "meta_bm_uint8",
    pl.UInt16(): "meta_bm_uint16", pl.UInt32(): "meta_bm_uint32", pl.UInt64(): "meta_bm_uint64",
    pl.Boolean(): "BOOLEAN", pl.Date(): "DATE", pl.Null(): "TEXT",
}  # fmt: skip

# Studies one write locks one by one; a larger batch locks all studies at once (the server's lock table holds
# max_locks_per_transaction x max_connections locks, 64 x 100 by default, shared by every session).
MAX_STUDY_LOCKS = 256

_PARAM = re.compile(r"\$([A-Za-z_]\w*)")


def _csv_exact(dtype: pl.DataType | None) -> bool:
    return dtype in _CSV_EXACT or (isinstance(dtype, pl.Datetime) and dtype.time_zone is None)


def _lock_key(kind: str, name: str) -> int:
    """A signed 64-bit advisory-lock key for ``name`` of ``kind`` (stable across processes and hosts)."""
    return int.from_bytes(hashlib.sha256(f"meta_bm:{kind}:{name}".encode()).digest()[:8], "big", signed=True)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _one_statement(sql: str) -> str:
    """``sql`` without a trailing ``;``; ValueError if it holds more than one statement (``;`` outside quotes
    and comments), so a read-only transaction cannot be ended by the statement itself."""
    i, n, end = 0, len(sql), None
    while i < n:
        c = sql[i]
        if c in "'\"":
            close = sql.find(c, i + 1)
            while close != -1 and close + 1 < n and sql[close + 1] == c:  # doubled quote inside
                close = sql.find(c, close + 2)
            i = n if close == -1 else close + 1
        elif sql.startswith("--", i):
            nl = sql.find("\n", i)
            i = n if nl == -1 else nl + 1
        elif sql.startswith("/*", i):
            close = sql.find("*/", i + 2)
            i = n if close == -1 else close + 2
        elif c == "$" and (m := re.match(r"\$([A-Za-z_]\w*)?\$", sql[i:])):  # dollar quoting
            close = sql.find(m.group(0), i + len(m.group(0)))
            i = n if close == -1 else close + len(m.group(0))
        elif c == ";":
            end = i if end is None else end
            i += 1
        else:
            if end is not None and not c.isspace():
                raise ValueError("only one SQL statement can be run read-only (found more after ';')")
            i += 1
    return (sql[:end] if end is not None else sql).rstrip()


class PostgresCohortStore(StoreBase):
    """The cohort store in a PostgreSQL database (created with its tables on first use).

    Parameters
    ----------
    host, port, user, password, database:
        The server and database (``META_BM_PG_HOST``, ``_PORT``, ``_USER``, ``_PASSWORD``, ``_DATABASE`` in a
        shared deployment).
    lock_timeout:
        Seconds a write waits for other writers of the same studies (or analysis) before failing.
    connect_timeout:
        Seconds to wait for the server to answer before :class:`StoreUnavailable` (libpq waits at least 2).

    Notes
    -----
    Reads give the DuckDB store's column types: ``int8`` columns (event flags) come back as ``Int8``,
    ``INTEGER`` as ``Int32``, ``BIGINT`` and ``count(*)`` as ``Int64``, ``TIMESTAMP`` as ``Datetime("us")``;
    result tables keep their frames' types, unsigned ones too (as range-checked domains). Differences: a
    ``numeric`` result (e.g. ``sum`` of a BIGINT) comes back as ``Float64`` (DuckDB: ``Int128``), an
    expression over an ``int8`` column (e.g. ``min(event)``) as ``Int16``, and text cannot hold NUL characters.
    """

    column_types = POSTGRES_TYPES

    def __init__(
        self,
        host: str,
        port: int,
        user: str,
        password: str,
        database: str,
        lock_timeout: float = 900.0,
        connect_timeout: float = 10.0,
    ) -> None:
        self.host, self.port, self.user, self.database = host, int(port), user, database
        self._password = password
        self.lock_timeout = lock_timeout
        self.connect_timeout = connect_timeout
        self._ready = False

    def __repr__(self) -> str:  # never the password
        return f"PostgresCohortStore({self.user}@{self.host}:{self.port}/{self.database})"

    # ------------------------------------------------------------------ connections
    def _open(self, read_only: bool = False) -> Any:
        """A new connection (not autocommit); StoreUnavailable naming the setting to fix if none can be made."""
        import psycopg2

        options = f"-c extra_float_digits=3 -c TimeZone=UTC -c lock_timeout={max(1, int(self.lock_timeout * 1000))}"
        if read_only:
            options += " -c default_transaction_read_only=on"
        try:
            return psycopg2.connect(
                host=self.host,
                port=self.port,
                user=self.user,
                password=self._password,
                dbname=self.database,
                connect_timeout=max(2, math.ceil(self.connect_timeout)),
                options=options,
                application_name="meta_bm cohort store",
                client_encoding="UTF8",
            )
        except psycopg2.OperationalError as exc:
            raise self._unavailable(exc) from None

    def _unavailable(self, exc: Exception) -> StoreUnavailable:
        said = " ".join(str(exc).split())
        low = said.lower()
        where = f"the PostgreSQL server at {self.host}:{self.port}"
        refused = ("authentication failed", "no password supplied", 'role "')  # 'role "x" does not exist
        if any(r in low for r in refused):
            text = (
                f"{where} refused user {self.user!r}: check {PG_USER_VAR}={self.user} and {PG_PASSWORD_VAR} "
                f"(not shown) ({said})"
            )
        elif "database" in low and "does not exist" in low:
            text = (
                f"the database {self.database!r} does not exist on {where}: check {PG_DATABASE_VAR}={self.database} "
                f"(or create it) ({said})"
            )
        else:
            text = (
                f"cannot reach the cohort store's PostgreSQL server within {self.connect_timeout:g} s: check "
                f"{PG_HOST_VAR}={self.host} and {PG_PORT_VAR}={self.port} ({said})"
            )
        return StoreUnavailable(text)

    def check(self) -> None:
        """Connect once (creating the tables on first use); StoreUnavailable naming the setting if that fails."""
        with self._reading() as con:
            self._execute(con, "SELECT 1")

    @contextlib.contextmanager
    def connect(self) -> Iterator[Any]:
        """A psycopg2 connection in a transaction (tables created on first use): committed on success,
        rolled back on any error, closed on exit."""
        con = self._open()
        try:
            if not self._ready:
                self._create_or_upgrade(con)
                con.commit()
                self._ready = True
            yield con
            con.commit()
        except BaseException:
            if not con.closed:
                con.rollback()
            raise
        finally:
            con.close()

    _transaction = connect

    @contextlib.contextmanager
    def _reading(self) -> Iterator[Any]:
        with self.connect() as con:
            self._execute(con, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield con

    def read(self, sql: str) -> pl.DataFrame:
        """Run one user-supplied statement in a read-only transaction of a read-only session (a write is
        refused by the server; more than one statement is refused here; both raise ``psycopg2.Error``)."""
        import psycopg2

        try:
            sql = _one_statement(sql)
        except ValueError as exc:  # a driver error, as for any other statement the server refuses
            raise psycopg2.ProgrammingError(str(exc)) from None
        con = self._open(read_only=True)
        try:
            self._execute(con, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            return self._frame(con, sql)
        finally:
            if not con.closed:
                con.rollback()
            con.close()

    # ------------------------------------------------------------------ dialect hooks
    @staticmethod
    def _sql(sql: str, params: dict | None) -> tuple[str, dict | None]:
        """``$name`` parameters in psycopg2's ``%(name)s`` style (a literal ``%`` doubled)."""
        if not params:
            return sql, None
        return _PARAM.sub(r"%(\1)s", sql.replace("%", "%%")), params

    def _execute(self, con: Any, sql: str, params: dict | None = None) -> list[tuple]:
        with con.cursor() as cur:
            cur.execute(*self._sql(sql, params))
            return cur.fetchall() if cur.description else []

    def _frame(self, con: Any, sql: str, params: dict | None = None) -> pl.DataFrame:
        """The query's rows: through ``COPY (query) TO STDOUT`` as CSV parsed by polars when every column has
        a type CSV carries exactly (ten times faster than fetching Python tuples), else fetched row by row."""
        query, params = self._sql(sql, params)
        with con.cursor() as cur:
            if params:
                query = cur.mogrify(query, params).decode()  # (COPY takes no parameters)
            described = self._describe(con, cur, query)
            if described is not None and all(_csv_exact(t) for t in described[1]):
                frame = self._copy_out(cur, query, *described)
                if frame is not None:
                    return frame
            cur.execute(query)
            if cur.description is None:
                return pl.DataFrame()
            rows = cur.fetchall()
            description = cur.description
        types = self._result_types(con, description)
        columns = list(zip(*rows, strict=True)) if rows else [()] * len(description)
        series = []
        for d, values, dtype in zip(description, columns, types, strict=True):
            if d.type_code == 1700:  # numeric: Decimal values
                conv = int if dtype == pl.UInt64 else float
                values = [None if v is None else conv(v) for v in values]
            series.append(pl.Series(d.name, values, dtype=dtype))
        return pl.DataFrame(series)

    def _describe(self, con: Any, cur: Any, query: str) -> tuple[list[str], list[pl.DataType | None]] | None:
        """Names and types of the query's columns (None: not a query that can be a subquery, e.g. SHOW)."""
        import psycopg2

        cur.execute("SAVEPOINT meta_bm_describe")
        try:
            cur.execute(f"SELECT * FROM ({query}\n) AS meta_bm_q LIMIT 0")
        except psycopg2.Error:
            cur.execute("ROLLBACK TO SAVEPOINT meta_bm_describe")
            return None
        description = cur.description
        cur.execute("RELEASE SAVEPOINT meta_bm_describe")
        names = [d.name for d in description]
        return (names, self._result_types(con, description)) if len(set(names)) == len(names) else None

    @staticmethod
    def _copy_out(cur: Any, query: str, names: list[str], types: list[pl.DataType]) -> pl.DataFrame | None:
        """The rows as CSV (NULL unquoted-empty, '' quoted, floats shortest-exact), parsed as text and converted
        column by column; None if a value does not convert (then the rows are fetched instead)."""
        buf = io.BytesIO()
        cur.copy_expert(f"COPY ({query}\n) TO STDOUT WITH (FORMAT csv)", buf)
        if not buf.getbuffer().nbytes:
            return pl.DataFrame(schema=dict(zip(names, types, strict=True)))
        buf.seek(0)
        raw = pl.read_csv(buf, has_header=False, new_columns=names, infer_schema=False)
        exprs = []
        for name, dtype in zip(names, types, strict=True):
            col = pl.col(name)
            if dtype == pl.String:
                exprs.append(col)
            elif dtype == pl.Boolean:
                exprs.append(col.eq("t"))
            elif dtype in (pl.Float64, pl.Float32):
                exprs.append(col.str.replace(r"^(-?)Infinity$", "${1}inf").cast(dtype))
            elif isinstance(dtype, pl.Datetime):
                exprs.append(col.str.to_datetime(format="%Y-%m-%d %H:%M:%S%.f", time_unit="us"))
            elif dtype == pl.Date:
                exprs.append(col.str.to_date(format="%Y-%m-%d"))
            else:
                exprs.append(col.cast(dtype))
        try:
            return raw.select(exprs)
        except pl.exceptions.PolarsError:  # e.g. 'infinity' timestamps, BC dates
            return None

    def _result_types(self, con: Any, description: Sequence[Any]) -> list[pl.DataType | None]:
        """Each result column's polars type: from its type OID, or from its table column's domain."""
        refs = {d.table_oid for d in description if d.table_oid and d.type_code in _INTEGER_OIDS}
        domains: dict[tuple[int, int], str] = {}
        if refs:
            domains = {
                (r[0], r[1]): r[2]
                for r in self._execute(
                    con,
                    "SELECT a.attrelid::bigint, a.attnum, t.typname FROM pg_attribute a "
                    "JOIN pg_type t ON t.oid = a.atttypid WHERE t.typtype = 'd' AND a.attrelid = ANY($rels::oid[])",
                    {"rels": sorted(refs)},
                )
            }
        out = []
        for d in description:
            name = domains.get((d.table_oid, d.table_column)) or _OIDS.get(d.type_code)
            out.append(_POLARS_OF_PG.get(name) if name else None)  # None: let polars infer (other types)
        return out

    def _in(self, param: str) -> str:
        return f"= ANY(${param})"

    def _target_types(self, con: Any, table: str) -> dict[str, pl.DataType | None]:
        if table in TABLES:
            return dict(polars_schema(table))
        rows = self._execute(
            con,
            "SELECT a.attname, t.typname FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
            "WHERE a.attrelid = $t::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            {"t": table},
        )
        return {name: _POLARS_OF_PG.get(typname) for name, typname in rows}

    def _insert(self, con: Any, table: str, frame: pl.DataFrame) -> None:
        """COPY the frame in as CSV: polars writes floats shortest-exact, quotes empty strings and leaves NULLs
        unquoted-empty (what PostgreSQL's CSV format reads as NULL); columns are first cast to the table's types
        (as DuckDB's insert would; a value that does not fit fails the transaction)."""
        targets = self._target_types(con, table)
        unknown = [c for c in frame.columns if c not in targets]
        if unknown:
            raise ValueError(f"table {table} has no column(s) {unknown}")
        casts = {c: t for c in frame.columns if (t := targets[c]) is not None and frame.schema[c] != t}
        if casts:
            frame = frame.cast(casts)  # type: ignore[arg-type]
        buf = io.BytesIO()
        frame.write_csv(buf, include_header=False)
        buf.seek(0)
        with con.cursor() as cur:
            cur.copy_expert(
                f"COPY {table} ({', '.join(_ident(c) for c in frame.columns)}) FROM STDIN WITH (FORMAT csv)", buf
            )

    def _create_from(self, con: Any, table: str, frame: pl.DataFrame) -> None:
        cols = []
        for name, dtype in frame.schema.items():
            if isinstance(dtype, pl.Datetime):
                kind = "TIMESTAMPTZ" if dtype.time_zone else "TIMESTAMP"
            elif dtype in _PG_OF_POLARS:
                kind = _PG_OF_POLARS[dtype]
            else:
                raise TypeError(f"result table {table}: column {name!r} has type {dtype}, not storable in PostgreSQL")
            cols.append(f"{_ident(name)} {kind}")
        self._execute(con, f"CREATE TABLE {table} ({', '.join(cols)})")

    def _hash_sql(self, sql: str) -> str:
        # each row's text form (NULL and '' differ, floats shortest-exact) hashed to 64 bits, summed exactly
        return (
            "SELECT count(*), coalesce(sum(('x' || left(md5(q::text), 16))::bit(64)::bigint::numeric), 0) "
            f"FROM ({sql}) AS q"
        )

    def _lock_keys(self, con: Any, kind: str, names: Sequence[str]) -> None:
        keys = sorted({_lock_key(kind, n) for n in names})  # one global order: no two writers wait in a cycle
        if not keys:
            return
        calls = [f"pg_advisory_xact_lock({k})" for k in keys]
        if kind == "study":
            # every study writer first takes the all-studies lock, shared; a batch too large to lock study by
            # study (each lock takes a slot of the server's lock table) takes it alone, exclusive
            every = _lock_key("studies", "all")
            many = len(keys) > MAX_STUDY_LOCKS
            calls = [f"pg_advisory_xact_lock({every})"] if many else [f"pg_advisory_xact_lock_shared({every})", *calls]
        self._execute(con, "; ".join(f"SELECT {c}" for c in calls))

    def _before_ddl(self, con: Any, tables: Sequence[str]) -> None:
        # in ANALYSIS_TABLES order, the order readers read them in: a reader never holds a later table
        # while waiting for an earlier one this writer holds
        if tables:
            ordered = [t for t in ANALYSIS_TABLES if t in tables]
            self._execute(con, f"LOCK TABLE {', '.join(ordered)} IN ACCESS EXCLUSIVE MODE")

    def _created(self, con: Any, table: str) -> None:
        # replacing a study deletes by study_id: an index keeps that fast however many studies are stored
        self._execute(con, f"CREATE INDEX IF NOT EXISTS {table}_study_id ON {table} (study_id)")

    def _create_or_upgrade(self, con: Any) -> None:
        self._lock_keys(con, "schema", ["tables"])  # (taken again below: advisory locks are re-entrant)
        have = {
            r[0]
            for r in self._execute(
                con, "SELECT typname FROM pg_type WHERE typnamespace = current_schema()::regnamespace AND typtype = 'd'"
            )
        }
        for name, (base, low, high, _) in _DOMAINS.items():
            if name not in have:
                self._execute(con, f"CREATE DOMAIN {name} AS {base} CHECK (VALUE BETWEEN {low} AND {high})")
        super()._create_or_upgrade(con)
