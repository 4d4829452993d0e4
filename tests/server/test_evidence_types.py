"""The evidence and quality GraphQL types: built from real store rows, every field described."""

import asyncio
from types import SimpleNamespace

import pytest
import strawberry
from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLObjectType

from schema import Store
from schema.priors import load_priors
from schema.quality import rescore_release
from schema.queries import evidence
from scprint_graph import grn_metrics
from server.errors import UserError
from server.types.evidence import EdgeEvidence, PriorSource, RegulationSign, evidence_filter
from server.types.quality import (
    KnownEdgeCount,
    NetworkQuality,
    QualityFilterInput,
    QualityMetric,
    QualityScope,
    TfHubEnrichment,
)
from tests.schema.prior_store import build_prior_store


@strawberry.type(description="Test root.")
class Query:
    @strawberry.field(description="Each type once.")
    def items(self, quality: QualityFilterInput | None = None) -> list[NetworkQuality]:
        return []

    @strawberry.field(description="The others.")
    def others(self) -> list[EdgeEvidence | PriorSource | TfHubEnrichment | KnownEdgeCount]:
        return []


def test_every_type_field_and_enum_value_is_described():
    schema = strawberry.Schema(
        Query
    )._schema  # graphql-core's schema, as tests/server/test_schema.py reads it
    names = {"EdgeEvidence", "PriorSource", "NetworkQuality", "TfHubEnrichment", "KnownEdgeCount"}
    names |= {"QualityFilterInput", "QualityScope", "QualityStatus", "QualityMetric", "RegulationSign"}
    undescribed = []
    for name in names:
        kind = schema.type_map[name]
        assert kind.description, name
        if isinstance(kind, GraphQLObjectType | GraphQLInputObjectType):
            undescribed += [f"{name}.{f}" for f, field in kind.fields.items() if not field.description]
        elif isinstance(kind, GraphQLEnumType):
            undescribed += [f"{name}.{v}" for v, value in kind.values.items() if not value.description]
    assert undescribed == []


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    built = build_prior_store(tmp_path_factory.mktemp("types"))
    with Store(built.root).new_release() as w:
        load_priors(w.con, "known", built.prior, origin="tests", license="CC0")
        rescore_release(w.con, metrics=grn_metrics)
    with Store(built.root).open_reader() as r:
        yield r.con, built.network_ids


def test_types_from_store_rows(con):
    con, ids = con
    good = ids["good"]
    quality = [NetworkQuality.from_row(q) for q in evidence.network_quality(con, [good])[good]]
    assert [(q.source, q.scope) for q in quality] == [("known", QualityScope.ALL), ("known", QualityScope.TF)]
    assert quality[0].badge.endswith("x random against known") and quality[0].auprc_ratio > 1
    hubs = TfHubEnrichment.from_row(evidence.network_tf_hubs(con, [good])[0])
    assert hubs.n_tfs == 15
    counts = [KnownEdgeCount.from_row(c) for c in evidence.known_edge_counts(con, [good])[good]]
    assert counts[0].source is None and counts[0].n_known_edges == counts[1].n_known_edges > 0
    pair = con.execute("SELECT regulator_id, target_id FROM prior_edges WHERE sign = -1 LIMIT 1").fetchall()[
        0
    ]
    (row,) = evidence.edge_evidence(con, [pair])[pair]
    assert EdgeEvidence.from_row(row).sign is RegulationSign.REPRESSION
    (source,) = [PriorSource.from_row(s) for s in evidence.prior_sources(con)]
    assert (source.name, source.license) == ("known", "CC0")


class LoadedSources:
    """The part of a resolver's `info` that `evidence_filter` reads: `context.run(prior_sources)`."""

    def __init__(self, *names: str) -> None:
        self.context = SimpleNamespace(run=self._run)
        self.names = names

    async def _run(self, query, *args, **kwargs):
        assert query is evidence.prior_sources
        return [SimpleNamespace(name=n) for n in self.names]


def test_arguments_become_store_filters_or_clear_errors():
    info = LoadedSources("CollecTRI", "DoRothEA")
    assert asyncio.run(evidence_filter(info, known_only=True)).mode == "known"
    chosen = asyncio.run(evidence_filter(info, novel_only=True, sources=["CollecTRI"]))
    assert chosen.sources == ("CollecTRI",)
    with pytest.raises(UserError, match="exclude each other"):
        asyncio.run(evidence_filter(info, known_only=True, novel_only=True))
    loaded = r"unknown prior source\(s\) 'collectri'; loaded: CollecTRI, DoRothEA"
    with pytest.raises(UserError, match=loaded):
        asyncio.run(evidence_filter(info, known_only=True, sources=["collectri"]))
    store = QualityFilterInput(source="CollecTRI", metric=QualityMetric.AUPRC_RATIO, min_value=2.0).to_store()
    assert (store.metric, store.scope, store.min_value) == ("auprc_ratio", "all", 2.0)
