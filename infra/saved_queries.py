"""Saved queries: `queries/<name>.sql`, Athena SQL with a header comment saying what it answers.

The same files ship as Athena named queries (infra/constructs/saved_queries.py) and run with
`pablo query --saved NAME` (the tools import this module from infra, never the reverse). A
file names its tables without a database: Athena resolves them in the named query's database
(the curated one unless a header line says `-- database: <raw|curated|...>`), and
`pablo query` does the same. Light (no sqlglot, no DuckDB): the CDK app and every
`pablo query --help` import this module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from functions.core.errors import PabloError
from functions.core.schemas import Database

QUERIES_DIR = Path(__file__).resolve().parents[1] / "queries"
DEFAULT_DATABASE = Database.CURATED.value
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{1,62}$")
_DATABASE_RE = re.compile(r"^--\s*database:\s*(\w+)\s*$")
# Athena allows 1024 characters in a named query's description.
MAX_DESCRIPTION = 1024


class SavedQueryError(PabloError):
    """A saved query is missing or its file is malformed."""

    reason = "saved_query"


@dataclass(frozen=True)
class SavedQuery:
    name: str
    description: str  # the header comment, one paragraph
    database: str  # logical database its bare table names resolve in
    sql: str  # the file exactly as written

    @property
    def title(self) -> str:
        """What it answers, in a few words: the header up to its first colon."""
        return self.description.split(":", 1)[0]


def parse_saved_query(name: str, text: str) -> SavedQuery:
    if not _NAME_RE.match(name):
        raise SavedQueryError(f"saved query name {name!r}: use lowercase letters, digits and _")
    header: list[str] = []
    database = DEFAULT_DATABASE
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped.startswith("--"):
            break
        match = _DATABASE_RE.match(stripped)
        if match:
            database = match.group(1).lower()
            if database not in {d.value for d in Database}:
                raise SavedQueryError(f"saved query {name}: unknown database {database!r}")
        else:
            header.append(stripped.removeprefix("--").strip())
    description = " ".join(part for part in header if part)
    if not description:
        raise SavedQueryError(f"saved query {name}: the file must start with a -- comment")
    if len(description) > MAX_DESCRIPTION:
        raise SavedQueryError(f"saved query {name}: header over {MAX_DESCRIPTION} characters")
    return SavedQuery(name=name, description=description, database=database, sql=text)


def load_saved_queries(directory: Path = QUERIES_DIR) -> tuple[SavedQuery, ...]:
    """Every `*.sql` file of `directory`, by name."""
    return tuple(
        parse_saved_query(path.stem, path.read_text()) for path in sorted(directory.glob("*.sql"))
    )


def saved_query(name: str, directory: Path = QUERIES_DIR) -> SavedQuery:
    path = directory / f"{name}.sql"
    if not path.is_file():
        known = ", ".join(q.name for q in load_saved_queries(directory))
        raise SavedQueryError(f"no saved query {name!r}; saved queries: {known}")
    return parse_saved_query(name, path.read_text())
