"""Gene vocabulary: Ensembl ids, symbols and genomic locations; mapping of dataset genes onto it.

The reference table (``scprint_graph/data/gene_reference.parquet``) comes from the CELLxGENE schema package
(GENCODE 48 human, GENCODE M37 mouse, Ensembl 114 for the other species of ``ORGANISM_TABLE``); see
``scripts/extract_gene_reference.py`` and ``data/README.md``. ``ORGANISM_TABLE`` is the one place where
organism names, Latin names and NCBITaxon term ids are tied together; ingest, the extraction script and the
store's organism term ids all read it.

Genomic-location index (as scPRINT's data module builds it): genes are sorted by (organism, chromosome,
start) and a new position index starts whenever the organism or chromosome changes or the gap to the previous
gene's start exceeds ``tolerance`` (10 kb), so neighbouring genes share one position. Chromosome names
("1".."22", "X", "Y", "MT", scaffold accessions) are ordered as strings, as scPRINT's
``sort_values("chromosome_name")`` does: "1" < "10" < ... < "19" < "2" < "20" < ... < "9" < "GL..." < "KI..."
< "MT" < "X" < "Y". Organisms are ordered by name ("human" < "mouse"). Genes without a known location come
last, each with its own position (the reference has coordinates for human, mouse and zebrafish only).
"""

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from scprint_graph.errors import InputError

logger = logging.getLogger(__name__)

REFERENCE_FILE = "gene_reference.parquet"


@dataclass(frozen=True)
class Organism:
    """A species: its short name here, NCBITaxon term id, Latin name and its genes in the reference.

    Attributes
    ----------
    name
        The name used in the vocabulary and in the store (``"human"``, ``"zebrafish"``); an organism known
        only by its term id (absent from ``ORGANISM_TABLE``) is named by that id.
    term_id
        Its NCBITaxon term id, as CELLxGENE's ``organism_ontology_term_id``.
    latin
        Its Latin name ("" when unknown).
    reference
        Stem of its gene file in the CELLxGENE schema package (``genes_<reference>.csv.gz``); "" when the
        shipped reference has no genes for it.
    aliases
        Other NCBITaxon ids naming the same species (e.g. the species id where the table holds the
        subspecies one).
    """

    name: str
    term_id: str
    latin: str = ""
    reference: str = ""
    aliases: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """``name (term id)`` for messages, or the term id alone when that is the name."""
        return self.term_id if self.name == self.term_id else f"{self.name} ({self.term_id})"


ORGANISM_TABLE: tuple[Organism, ...] = (
    Organism("human", "NCBITaxon:9606", "Homo sapiens", "homo_sapiens"),
    Organism("mouse", "NCBITaxon:10090", "Mus musculus", "mus_musculus"),
    Organism("zebrafish", "NCBITaxon:7955", "Danio rerio", "danio_rerio"),
    Organism("fruit_fly", "NCBITaxon:7227", "Drosophila melanogaster", "drosophila_melanogaster"),
    Organism("roundworm", "NCBITaxon:6239", "Caenorhabditis elegans", "caenorhabditis_elegans"),
    Organism("rat", "NCBITaxon:10116", "Rattus norvegicus", "rattus_norvegicus"),
    Organism("rhesus_macaque", "NCBITaxon:9544", "Macaca mulatta", "macaca_mulatta"),
    Organism("crab_eating_macaque", "NCBITaxon:9541", "Macaca fascicularis", "macaca_fascicularis"),
    Organism("marmoset", "NCBITaxon:9483", "Callithrix jacchus", "callithrix_jacchus"),
    Organism("chimpanzee", "NCBITaxon:9598", "Pan troglodytes", "pan_troglodytes"),
    Organism("gorilla", "NCBITaxon:9595", "Gorilla gorilla gorilla", "gorilla_gorilla", ("NCBITaxon:9593",)),
    Organism("mouse_lemur", "NCBITaxon:30608", "Microcebus murinus", "microcebus_murinus"),
    Organism("rabbit", "NCBITaxon:9986", "Oryctolagus cuniculus", "oryctolagus_cuniculus"),
    Organism("pig", "NCBITaxon:9823", "Sus scrofa", "sus_scrofa"),
)
"""Every organism the shipped gene reference has genes for (CELLxGENE schema 7.1.2's gene files, less ERCC
spike-ins and SARS-CoV-2). A checkpoint may know others (scPRINT-2's vocabulary spans 16 species): they are
accepted by NCBITaxon term id, with genes the reference does not describe (see ``find_organism``)."""
ORGANISMS = tuple(o.name for o in ORGANISM_TABLE)
ORGANISM_TERM_IDS = {t: o.name for o in ORGANISM_TABLE for t in (o.term_id, *o.aliases)}
_ORGANISM_KEYS = {
    key.lower(): o
    for o in ORGANISM_TABLE
    for key in (o.name, o.name.replace("_", " "), o.latin, o.term_id, *o.aliases)
}
_TERM_RE = re.compile(r"^NCBITaxon:\d+$", re.IGNORECASE)


def find_organism(value: str) -> Organism:
    """The organism named by ``value``: a name (``"zebrafish"``), a Latin name or an NCBITaxon term id.

    A term id absent from ``ORGANISM_TABLE`` gives an organism named by that id, without reference genes
    (a checkpoint may know species the reference does not). Anything else is an ``InputError`` naming the
    known organisms.
    """
    key = str(value).strip()
    found = _ORGANISM_KEYS.get(key.lower())
    if found is not None:
        return found
    if _TERM_RE.match(key):
        term = "NCBITaxon:" + key.split(":", 1)[1]
        return Organism(term, term)
    known = ", ".join(ORGANISMS)
    msg = f"unknown organism {value!r}; use an NCBITaxon term id, a Latin name or one of {known}"
    raise InputError(msg)


LOCATION_TOLERANCE = 10_000
# var columns that may carry gene identifiers, tried after the var index (AnnData / CELLxGENE conventions).
GENE_COLUMNS = (
    "feature_name",
    "gene_symbols",
    "gene_symbol",
    "symbol",
    "gene_name",
    "gene_ids",
    "ensembl_id",
)
# Ensembl gene ids, and the FlyBase / WormBase ids Ensembl uses for fly and worm genes.
_ENSEMBL_RE = re.compile(r"^(ENS[A-Z]*G\d{11}|FBgn\d{7}|FBti\d{7}|WBGene\d{8})(\.\d+)?$")
_N_EXAMPLES = 5


def is_ensembl_id(name: str) -> bool:
    """True for a (possibly versioned) Ensembl gene id (``ENSG00000141510``, ``ENSDARG...``, ``ENSMUSG..1.2``)
    or one of the FlyBase (``FBgn...``) and WormBase (``WBGene...``) ids Ensembl uses for fly and worm."""
    return bool(_ENSEMBL_RE.match(name))


@dataclass(frozen=True)
class GeneMapping:
    """Result of mapping input gene names onto a vocabulary.

    Attributes
    ----------
    indices
        ``(n_input,)`` int64 vocabulary index of each input gene, -1 where unknown.
    source
        Where the names came from (``"index"``, a var column name, or ``"names"``).
    n_unknown
        Number of inputs with no vocabulary gene.
    unknown_examples
        A few unknown names, for the log and error messages.
    ambiguous
        Symbol -> candidate Ensembl ids for symbols naming several vocabulary genes (the first was taken).
    n_duplicated
        Number of inputs mapped to a vocabulary gene already taken by an earlier input.
    """

    indices: np.ndarray
    source: str = "names"
    n_unknown: int = 0
    unknown_examples: tuple[str, ...] = ()
    ambiguous: dict[str, tuple[str, ...]] = field(default_factory=dict)
    n_duplicated: int = 0

    @property
    def n_known(self) -> int:
        """Number of inputs mapped to a vocabulary gene."""
        return int((self.indices >= 0).sum())

    def summary(self) -> str:
        """One line for logs: how many genes matched and examples of the unknown ones."""
        text = f"{self.n_known}/{len(self.indices)} genes mapped to the vocabulary (from {self.source})"
        if self.n_unknown:
            text += f"; {self.n_unknown} unknown, e.g. {', '.join(self.unknown_examples)}"
        if self.ambiguous:
            text += f"; {len(self.ambiguous)} ambiguous symbols, e.g. {', '.join(list(self.ambiguous)[:3])}"
        if self.n_duplicated:
            text += f"; {self.n_duplicated} inputs duplicate an earlier one"
        return text


def _read_reference(column: str | None = None, values: Sequence[str] = ()) -> pd.DataFrame:
    """The reference's rows (those whose ``column`` is one of ``values`` when given: read only those)."""
    path = resources.files("scprint_graph") / "data" / REFERENCE_FILE
    filters = None if column is None else [(column, "in", list(dict.fromkeys(values)))]
    with resources.as_file(path) as local:
        table = pq.read_table(local, filters=filters).to_pandas()
    for name in ("organism", "chromosome", "biotype"):
        table[name] = table[name].astype(str)
    return table


class GeneVocabulary:
    """An ordered set of genes: the model's token ids are positions in this vocabulary.

    Attributes are parallel numpy arrays: ``ensembl_ids``, ``symbols``, ``organism``, ``chromosome``
    (``""`` when unknown), ``start`` (-1 when unknown) and ``biotype`` (``""`` when unknown).
    """

    def __init__(
        self,
        ensembl_ids: Sequence[str],
        symbols: Sequence[str],
        organism: Sequence[str],
        chromosome: Sequence[str],
        start: Sequence[int],
        biotype: Sequence[str] | None = None,
    ) -> None:
        self.ensembl_ids = np.asarray(ensembl_ids, dtype=object)
        self.symbols = np.asarray(symbols, dtype=object)
        self.organism = np.asarray(organism, dtype=object)
        self.chromosome = np.asarray(chromosome, dtype=object)
        self.start = np.asarray(start, dtype=np.int64)
        n = len(self.ensembl_ids)
        self.biotype = np.asarray([""] * n if biotype is None else biotype, dtype=object)
        for name in ("symbols", "organism", "chromosome", "start", "biotype"):
            if len(getattr(self, name)) != n:
                msg = f"{name} has {len(getattr(self, name))} entries, expected {n} (one per Ensembl id)"
                raise ValueError(msg)
        ids = pd.Index(self.ensembl_ids)
        if ids.has_duplicates:
            msg = f"duplicated Ensembl ids in the vocabulary: {list(ids[ids.duplicated()][:_N_EXAMPLES])}"
            raise ValueError(msg)
        self._id_to_index = pd.Series(np.arange(n, dtype=np.int64), index=ids)
        # organism (None: all) -> (symbol -> index, ambiguous symbols), built on first use
        self._symbol_cache: dict[str | None, tuple[pd.Series, dict[str, tuple[str, ...]]]] = {}

    # ------------------------------------------------------------------ construction
    @classmethod
    def load(
        cls, organisms: Iterable[str] = ("human",), *, biotypes: Iterable[str] | None = None
    ) -> "GeneVocabulary":
        """Vocabulary of all reference genes of the given organisms, in reference order.

        Parameters
        ----------
        organisms
            Organisms of ``ORGANISM_TABLE`` by name, Latin name or NCBITaxon term id.
        biotypes
            Keep only these GENCODE biotypes (e.g. ``("protein_coding",)``); all when None.
        """
        organisms = list(organisms)
        wanted = [find_organism(o).name for o in organisms]
        bad = [o for o, name in zip(organisms, wanted, strict=True) if name not in ORGANISMS]
        if bad or not wanted:
            msg = f"no reference genes for organisms {bad or organisms}; choose from {ORGANISMS}"
            raise ValueError(msg)
        table = _read_reference("organism", wanted)
        keep = table["organism"].isin(wanted)
        if biotypes is not None:
            keep &= table["biotype"].isin(list(biotypes))
        table = table[keep]
        logger.info("gene vocabulary: %d genes for %s", len(table), ", ".join(wanted))
        return cls._from_frame(table)

    @classmethod
    def from_ensembl_ids(
        cls, ensembl_ids: Sequence[str], *, organisms: Sequence[str] | None = None
    ) -> "GeneVocabulary":
        """Vocabulary in the given order (e.g. a checkpoint's), attributes looked up in the reference.

        Ids absent from the reference are kept, with unknown location and their id as symbol, and reported.
        ``organisms`` (one name per gene, e.g. from a checkpoint's per-organism gene lists) sets each gene's
        organism; without it the reference's is used ("" for genes it does not know).
        """
        ids = [str(i).split(".", 1)[0] for i in ensembl_ids]
        if organisms is not None and len(organisms) != len(ids):
            msg = f"{len(organisms)} organisms given for {len(ids)} genes"
            raise ValueError(msg)
        ref = _read_reference("ensembl_id", ids).set_index("ensembl_id")
        known = pd.Index(ids).isin(ref.index)
        if not known.all():
            missing = [i for i, k in zip(ids, known, strict=True) if not k]
            logger.warning(
                "%d of %d vocabulary genes are not in the reference (kept, location unknown), e.g. %s",
                len(missing),
                len(ids),
                ", ".join(missing[:_N_EXAMPLES]),
            )
        table = ref.reindex(ids)
        table = table.assign(
            symbol=table["symbol"].fillna(pd.Series(ids, index=table.index)),
            organism=table["organism"].fillna("") if organisms is None else np.asarray(organisms, object),
            chromosome=table["chromosome"].fillna(""),
            start=table["start"].fillna(-1).astype(np.int64),
            biotype=table["biotype"].fillna(""),
        )
        return cls._from_frame(table.reset_index(names="ensembl_id"))

    @classmethod
    def _from_frame(cls, table: pd.DataFrame) -> "GeneVocabulary":
        return cls(
            table["ensembl_id"].to_numpy(),
            table["symbol"].to_numpy(),
            table["organism"].to_numpy(),
            table["chromosome"].to_numpy(),
            table["start"].to_numpy(),
            table["biotype"].to_numpy(),
        )

    def to_dict(self) -> dict[str, list]:
        """Plain lists (for a checkpoint); ``GeneVocabulary.from_dict`` restores the same vocabulary."""
        return {
            "ensembl_ids": self.ensembl_ids.tolist(),
            "symbols": self.symbols.tolist(),
            "organism": self.organism.tolist(),
            "chromosome": self.chromosome.tolist(),
            "start": self.start.tolist(),
            "biotype": self.biotype.tolist(),
        }

    @classmethod
    def from_dict(cls, state: dict[str, list]) -> "GeneVocabulary":
        """Inverse of ``to_dict``."""
        return cls(**state)

    def subset(self, indices: Sequence[int] | np.ndarray) -> "GeneVocabulary":
        """A new vocabulary holding the given genes, in the given order."""
        idx = np.asarray(indices, dtype=np.int64)
        return GeneVocabulary(
            self.ensembl_ids[idx],
            self.symbols[idx],
            self.organism[idx],
            self.chromosome[idx],
            self.start[idx],
            self.biotype[idx],
        )

    def __len__(self) -> int:
        return len(self.ensembl_ids)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, GeneVocabulary):
            return NotImplemented
        return len(self) == len(other) and bool((self.ensembl_ids == other.ensembl_ids).all())

    __hash__ = None  # mutable arrays inside: not hashable

    def __repr__(self) -> str:
        orgs = ", ".join(sorted(set(self.organism.tolist()) - {""})) or "unknown organism"
        return f"GeneVocabulary({len(self)} genes; {orgs})"

    # ------------------------------------------------------------------ mapping
    def _symbol_index(self, organism: str | None) -> tuple[pd.Series, dict[str, tuple[str, ...]]]:
        """Symbol -> vocabulary index, preferring protein-coding genes, then the earliest one."""
        if organism not in self._symbol_cache:
            keep = self.symbols != self.ensembl_ids  # id-only genes carry no symbol
            if organism is not None:
                keep &= self.organism == organism
            frame = pd.DataFrame(
                {
                    "symbol": self.symbols[keep],
                    "index": np.flatnonzero(keep),
                    "coding": self.biotype[keep] != "protein_coding",  # False sorts first
                }
            )
            frame = frame.sort_values(["symbol", "coding", "index"], kind="stable")
            dup = frame["symbol"].duplicated(keep=False)
            ambiguous = {
                sym: tuple(self.ensembl_ids[grp["index"].to_numpy()])
                for sym, grp in frame[dup].groupby("symbol", sort=False)
            }
            first = frame.drop_duplicates("symbol", keep="first")
            lookup = pd.Series(first["index"].to_numpy(), index=first["symbol"].to_numpy())
            self._symbol_cache[organism] = (lookup, ambiguous)
        return self._symbol_cache[organism]

    def _check_organism(self, organism: str | None) -> str | None:
        if organism is None:
            return None
        name = find_organism(organism).name
        if name not in set(self.organism.tolist()):
            msg = f"organism {organism!r} has no genes in this vocabulary ({self!r})"
            raise ValueError(msg)
        return name

    def index_of(self, ensembl_ids: Sequence[str]) -> np.ndarray:
        """``(n,)`` int64 vocabulary index of each Ensembl id (version suffix ignored), -1 where unknown."""
        ids = pd.Index([str(i).split(".", 1)[0] for i in ensembl_ids])
        return self._id_to_index.reindex(ids).fillna(-1).to_numpy(dtype=np.int64)

    def _lookup(self, names: pd.Index, organism: str | None) -> tuple[np.ndarray, dict]:
        """Indices of names (ids or symbols; -1 unknown or of another organism) and ambiguous symbols."""
        indices = np.full(len(names), -1, dtype=np.int64)
        id_mask = np.fromiter((is_ensembl_id(n) for n in names), dtype=bool, count=len(names))
        indices[id_mask] = self.index_of(names[id_mask])
        if organism is not None:
            other = id_mask & (indices >= 0)
            other[other] = self.organism[indices[other]] != organism
            indices[other] = -1
        sym_index, ambiguous = self._symbol_index(organism)
        symbols = names[~id_mask]
        indices[~id_mask] = sym_index.reindex(symbols).fillna(-1).to_numpy(dtype=np.int64)
        return indices, {s: ambiguous[s] for s in symbols if s in ambiguous}

    def map_genes(
        self, names: Sequence[str], *, source: str = "names", organism: str | None = None
    ) -> GeneMapping:
        """Map gene names (Ensembl ids or symbols, possibly mixed) onto this vocabulary.

        Each name that looks like an Ensembl id is looked up as an id, any other as an exact symbol.
        Unknown names get -1 and are counted; a vocabulary gene named twice keeps only its first input
        (later ones get -1 and are counted as duplicates), so that a cell never holds one token twice.

        Parameters
        ----------
        names
            Gene identifiers, one per input gene (e.g. ``adata.var_names``).
        source
            Label for the report.
        organism
            Only match genes of this organism (a name, Latin name or NCBITaxon term id, see
            ``find_organism``); genes of other organisms count as unknown. All organisms when None.

        Returns
        -------
        GeneMapping
            Indices (-1 unknown) and a report of unknown and ambiguous names.
        """
        organism = self._check_organism(organism)
        names = pd.Index([str(n) for n in names])
        indices, used_ambiguous = self._lookup(names, organism)
        dup = (indices >= 0) & pd.Series(indices).duplicated(keep="first").to_numpy()
        indices[dup] = -1
        unknown = np.flatnonzero((indices < 0) & ~dup)
        mapping = GeneMapping(
            indices=indices,
            source=source,
            n_unknown=len(unknown),
            unknown_examples=tuple(names[unknown[:_N_EXAMPLES]]),
            ambiguous=used_ambiguous,
            n_duplicated=int(dup.sum()),
        )
        log = logger.warning if mapping.n_unknown or mapping.n_duplicated else logger.info
        log(mapping.summary())
        return mapping

    def map_var(
        self, var: pd.DataFrame, *, column: str | None = None, organism: str | None = None
    ) -> GeneMapping:
        """Map an AnnData ``var`` table onto this vocabulary.

        Parameters
        ----------
        var
            ``adata.var``; its index or a column holds Ensembl ids or symbols.
        column
            Column to read; when None, the index and the usual columns (``GENE_COLUMNS``) are tried and
            the one matching most genes is used.
        organism
            Only match genes of this organism (see ``map_genes``).
        """
        if column is not None:
            if column not in var.columns:
                msg = f"var has no column {column!r}; columns are {list(var.columns)}"
                raise ValueError(msg)
            return self.map_genes(var[column].astype(str).tolist(), source=column, organism=organism)
        checked = self._check_organism(organism)
        candidates = {"index": var.index.astype(str)}
        candidates |= {c: pd.Index(var[c].astype(str)) for c in GENE_COLUMNS if c in var.columns}
        best, best_known = "index", -1
        for name, values in candidates.items():
            known = int((self._lookup(values, checked)[0] >= 0).sum())
            if known > best_known:
                best, best_known = name, known
        return self.map_genes(candidates[best].tolist(), source=best, organism=organism)

    # ------------------------------------------------------------------ genomic location
    def location_index(self, tolerance: int = LOCATION_TOLERANCE) -> np.ndarray:
        """``(n_genes,)`` int64 genomic-location index of each vocabulary gene; see the module docstring."""
        return genomic_location_index(self.organism, self.chromosome, self.start, tolerance=tolerance)


def genomic_location_index(
    organism: Sequence[str],
    chromosome: Sequence[str],
    start: Sequence[int],
    *,
    tolerance: int = LOCATION_TOLERANCE,
) -> np.ndarray:
    """Position index of each gene, shared by genes lying within ``tolerance`` bp of their predecessor.

    Genes are sorted by (organism, chromosome as a string, start); the index starts at 0 and grows by one
    whenever the organism or chromosome changes or ``start - previous start > tolerance``. Genes with an
    unknown location (empty chromosome or negative start) follow, each with its own index.

    Returns
    -------
    np.ndarray
        ``(n_genes,)`` int64 index, in the input order.
    """
    if tolerance < 0:
        msg = f"tolerance must be >= 0, got {tolerance}"
        raise ValueError(msg)
    org = np.asarray(organism, dtype=str)
    chrom = np.asarray(chromosome, dtype=str)
    pos = np.asarray(start, dtype=np.int64)
    if not (len(org) == len(chrom) == len(pos)):
        msg = f"organism, chromosome and start differ in length: {len(org)}, {len(chrom)}, {len(pos)}"
        raise ValueError(msg)
    unknown = (chrom == "") | (pos < 0)
    order = np.lexsort((np.arange(len(pos)), pos, chrom, org, unknown))  # last key sorts first
    o_org, o_chrom, o_pos, o_unknown = org[order], chrom[order], pos[order], unknown[order]
    new = np.ones(len(order), dtype=bool)
    new[1:] = (
        (o_org[1:] != o_org[:-1])
        | (o_chrom[1:] != o_chrom[:-1])
        | (np.diff(o_pos) > tolerance)
        | o_unknown[1:]
    )
    index = np.empty(len(order), dtype=np.int64)
    index[order] = np.cumsum(new) - 1
    return index
