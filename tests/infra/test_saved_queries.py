"""Every `queries/*.sql` file ships as an Athena named query in the analyst workgroup."""

from __future__ import annotations

from pathlib import Path

from functions.core.schemas import Database
from infra.saved_queries import load_saved_queries
from tests.infra.conftest import Synthesized

QUERIES = Path(__file__).resolve().parents[2] / "queries"


def _logical_id(synthesized: Synthesized, construct: object) -> str:
    return str(synthesized.stack.resolve(construct.logical_id))  # type: ignore[attr-defined]


def test_every_query_file_is_a_named_query_with_its_exact_text(
    synthesized: Synthesized,
) -> None:
    # Given the synthesized stack's named queries, by name
    named = {
        r["Properties"]["Name"]: r["Properties"]
        for r in synthesized.resources("AWS::Athena::NamedQuery").values()
    }
    files = sorted(QUERIES.glob("*.sql"))
    # Then each file is one named query, byte for byte, and nothing else is
    assert sorted(named) == [path.stem for path in files]
    for path in files:
        assert named[path.stem]["QueryString"] == path.read_text(), path.name


def test_named_queries_run_in_the_analyst_workgroup_on_their_database(
    synthesized: Synthesized,
) -> None:
    # Given the analyst workgroup and the saved queries' databases
    analysts = _logical_id(synthesized, synthesized.stack.platform.workgroups.analysts)
    saved = {q.name: q for q in load_saved_queries()}
    for resource in synthesized.resources("AWS::Athena::NamedQuery").values():
        props = resource["Properties"]
        query = saved[props["Name"]]
        # Then it is in the analyst workgroup (never finance), described by its header
        assert props["WorkGroup"] == {"Ref": analysts}
        assert props["Description"] == query.description
        assert len(props["Description"]) <= 1024
        # And its bare table names resolve in the Glue database its header names
        expected = synthesized.config.glue_database_name(Database(query.database))
        assert props["Database"] == expected
        assert analysts in resource["DependsOn"]
