"""The CELLxGENE Census as a source: by Census version and organism, with an obs filter or dataset ids.

Each Census dataset (``dataset_id``) is one ``Dataset``; its version is the Census ``dataset_version_id``
(stable across Census releases while the dataset is unchanged), suffixed with a hash of the obs filter when
one is given, since the filter decides which cells the networks see. ``cellxgene_census`` is an optional
extra (``pip install 'scprint-graph[census]'``), imported when the source is used. Tests inject a
Census-shaped module with the same calls (``open_soma``, ``get_obs``, ``get_anndata``).
"""

import dataclasses
import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import anndata as ad
import pandas as pd

from ingest.columns import ColumnMap, normalise_organism
from ingest.sources import Dataset, SourceKind
from scprint_graph.errors import InputError

logger = logging.getLogger(__name__)

CENSUS_ORGANISMS = {"human": "Homo sapiens", "mouse": "Mus musculus"}
# obs columns read from the Census: grouping labels and their ontology ids (CELLxGENE schema names).
OBS_COLUMNS = (
    "dataset_id",
    "cell_type",
    "cell_type_ontology_term_id",
    "tissue",
    "tissue_ontology_term_id",
    "disease",
    "disease_ontology_term_id",
    "is_primary_data",
)


def census_module() -> Any:
    """The ``cellxgene_census`` package, or a clear error naming the extra that installs it."""
    try:
        import cellxgene_census
    except ImportError as err:
        msg = (
            "the Census source needs cellxgene-census: pip install 'scprint-graph[census]' "
            "(or pip install cellxgene-census==1.18.0)"
        )
        raise ImportError(msg) from err
    return cellxgene_census


def _quote(value: str) -> str:
    if "'" in value:
        msg = f"Census ids cannot contain a quote: {value!r}"
        raise ValueError(msg)
    return f"'{value}'"


def dataset_filter(dataset_id: str, obs_filter: str | None) -> str:
    """SOMA value filter selecting one dataset's cells (and the user's filter)."""
    clause = f"dataset_id == {_quote(dataset_id)}"
    return f"{clause} and ({obs_filter})" if obs_filter else clause


@dataclass(frozen=True)
class _CensusOpener:
    """Reads one dataset's cells from the Census into memory (the Census has no backed AnnData)."""

    census_version: str
    organism: str
    value_filter: str
    module: Any = None

    def __call__(self, *, max_bytes: int | None = None) -> ad.AnnData:
        # cellxgene_census reads the query's cells into memory itself: the obs filter bounds the size, not
        # max_bytes (there is no file whose metadata could be checked first).
        cc = self.module if self.module is not None else census_module()
        with cc.open_soma(census_version=self.census_version) as census:
            adata = cc.get_anndata(
                census,
                organism=self.organism,
                X_name="raw",
                obs_value_filter=self.value_filter,
                obs_column_names=list(OBS_COLUMNS),
                var_column_names=["feature_id", "feature_name"],
            )
        adata.var_names = adata.var["feature_id"].astype(str).to_numpy()
        return adata


class CensusSource:
    """Datasets of the CELLxGENE Census.

    Parameters
    ----------
    census_version
        A Census release (``"2025-01-30"``) or ``"stable"``/``"latest"``; pin one for reproducible runs.
    organism
        ``human`` or ``mouse``.
    obs_filter
        SOMA value filter on obs (e.g. ``"tissue_general == 'lung' and is_primary_data == True"``); the
        datasets holding matching cells are listed, and only matching cells are read.
    dataset_ids
        Census dataset ids to read (all their cells, or those matching ``obs_filter``).
    name
        Source name for logs.
    module
        A Census-shaped module to use instead of ``cellxgene_census`` (tests; a mirror).
    """

    def __init__(
        self,
        *,
        census_version: str = "stable",
        organism: str = "human",
        obs_filter: str | None = None,
        dataset_ids: list[str] | tuple[str, ...] | None = None,
        name: str | None = None,
        columns: ColumnMap | None = None,
        module: Any = None,
    ) -> None:
        if not obs_filter and not dataset_ids:
            msg = (
                "a Census source needs obs_filter or dataset_ids (the whole Census is too large for one run)"
            )
            raise ValueError(msg)
        self.census_version = census_version
        self.organism = normalise_organism(organism)
        if self.organism not in CENSUS_ORGANISMS:
            msg = f"the Census holds {' and '.join(CENSUS_ORGANISMS)} cells only, not {organism!r}"
            raise InputError(msg)
        self.obs_filter = obs_filter or None
        self.dataset_ids = tuple(dataset_ids or ())
        self.name = name or f"census:{census_version}:{self.organism}"
        self.columns = dataclasses.replace(columns or ColumnMap(), organism=self.organism)
        self.module = module

    def _module(self) -> Any:
        return self.module if self.module is not None else census_module()

    def datasets(self) -> Iterator[Dataset]:
        cc = self._module()
        latin = CENSUS_ORGANISMS[self.organism]
        with cc.open_soma(census_version=self.census_version) as census:
            table: pd.DataFrame = census["census_info"]["datasets"].read().concat().to_pandas()
            table = table.set_index("dataset_id", drop=False)
            if self.dataset_ids:
                unknown = [i for i in self.dataset_ids if i not in table.index]
                if unknown:
                    msg = f"dataset ids not in Census {self.census_version}: {unknown}"
                    raise ValueError(msg)
                ids = list(self.dataset_ids)
            else:
                ids = []
            if self.obs_filter:
                obs = cc.get_obs(census, latin, value_filter=self.obs_filter, column_names=["dataset_id"])
                matching = pd.unique(obs["dataset_id"].astype(str))
                ids = [i for i in ids if i in set(matching)] if ids else sorted(matching)
        if not ids:
            logger.warning("Census source %s: no dataset matches", self.name)
        suffix = ""
        if self.obs_filter:
            suffix = "+filter:" + hashlib.sha256(self.obs_filter.encode()).hexdigest()[:12]
        for dataset_id in ids:
            row = table.loc[dataset_id]
            yield Dataset(
                source=CENSUS.name,
                source_id=dataset_id,
                version=f"{row['dataset_version_id']}{suffix}",
                title=str(row.get("dataset_title", dataset_id)),
                columns=self.columns,
                opener=_CensusOpener(
                    self.census_version, latin, dataset_filter(dataset_id, self.obs_filter), self.module
                ),
                collection=str(row["collection_name"]) if "collection_name" in row else None,
            )


def _build(options: dict, *, columns: ColumnMap, census_module: Any = None, **_: Any) -> CensusSource:
    return CensusSource(columns=columns, module=census_module, **options)


CENSUS = SourceKind(
    "census", frozenset({"census_version", "organism", "obs_filter", "dataset_ids", "name"}), _build
)
