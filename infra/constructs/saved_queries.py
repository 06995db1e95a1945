"""Saved queries (`queries/*.sql`) as Athena named queries in the analyst workgroup.

Each file becomes one named query: the file text byte for byte, its header comment as the
description, and the Glue database its bare table names resolve in. Analysts find them in
the Athena console's "Saved queries"; `pablo query --saved NAME` runs the same files.
"""

from __future__ import annotations

from collections.abc import Iterable

from aws_cdk import aws_athena as athena
from constructs import Construct

from functions.core.schemas import Database
from infra.constructs.platform import Platform
from infra.saved_queries import SavedQuery, load_saved_queries


def construct_id(query: SavedQuery) -> str:
    """`Query-mrr_by_month` -> stable logical ids, one per file."""
    return f"Query-{query.name}"


class SavedQueries(Construct):
    """Attributes: `named_queries` (saved query name -> CfnNamedQuery)."""

    def __init__(
        self,
        scope: Construct,
        construct_id_: str,
        *,
        platform: Platform,
        queries: Iterable[SavedQuery] | None = None,
    ) -> None:
        super().__init__(scope, construct_id_)
        workgroup = platform.workgroups.analysts
        self.named_queries: dict[str, athena.CfnNamedQuery] = {}
        for query in load_saved_queries() if queries is None else queries:
            database = Database(query.database)
            named = athena.CfnNamedQuery(
                self,
                construct_id(query),
                name=query.name,
                description=query.description,
                database=platform.glue_databases[database],
                query_string=query.sql,
                work_group=workgroup.ref,
            )
            # The named query lives in the workgroup and reads the database's tables.
            named.add_resource_dependency(workgroup)
            named.add_resource_dependency(platform.catalog.databases[database])
            self.named_queries[query.name] = named
