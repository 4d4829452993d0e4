"""Gene vocabulary: reference, symbol / Ensembl mapping, genomic-location index, sinusoidal encoding."""

import logging

import numpy as np
import pandas as pd
import pytest

from scprint_graph.errors import InputError
from scprint_graph.genes import (
    ORGANISM_TABLE,
    ORGANISMS,
    GeneVocabulary,
    find_organism,
    genomic_location_index,
    is_ensembl_id,
)


@pytest.fixture(scope="module")
def human() -> GeneVocabulary:
    return GeneVocabulary.load(organisms=("human",))


def test_reference_has_known_genes(human):
    assert len(human) > 60_000
    assert set(human.organism) == {"human"}
    i = human.index_of(["ENSG00000141510"])[0]
    assert human.symbols[i] == "TP53"
    assert human.chromosome[i] == "17"
    assert 7_600_000 < human.start[i] < 7_700_000
    mt = human.index_of(["ENSG00000198804"])[0]  # MT-CO1: chrM renamed to MT
    assert human.chromosome[mt] == "MT"


def test_load_both_organisms_and_biotype_filter():
    both = GeneVocabulary.load(organisms=("human", "NCBITaxon:10090"))
    assert set(both.organism) == {"human", "mouse"}
    coding = GeneVocabulary.load(organisms=("mouse",), biotypes=("protein_coding",))
    assert set(coding.biotype) == {"protein_coding"}
    assert len(coding) < len(both)
    with pytest.raises(ValueError, match=r"no reference genes for organisms \['NCBITaxon:4081'\]"):
        GeneVocabulary.load(organisms=("NCBITaxon:4081",))
    with pytest.raises(InputError, match=r"unknown organism 'tomato'; .* zebrafish, fruit_fly"):
        GeneVocabulary.load(organisms=("tomato",))


def test_every_organism_of_the_table_has_reference_genes():
    vocab = GeneVocabulary.load(organisms=[o.term_id for o in ORGANISM_TABLE])
    counts = pd.Series(vocab.organism).value_counts()
    assert set(counts.index) == set(ORGANISMS) and len(ORGANISMS) == 14
    assert counts.min() > 20_000  # each species' full gene list
    assert all(is_ensembl_id(i) for i in vocab.ensembl_ids[vocab.biotype == "protein_coding"])
    fish = vocab.index_of(["ENSDARG00000009657", "FBgn0037583", "WBGene00000003"])
    assert vocab.organism[fish].tolist() == ["zebrafish", "fruit_fly", "roundworm"]
    assert vocab.symbols[fish].tolist() == ["FGFR1OP2", "Veneno", "aat-2"]
    assert vocab.chromosome[fish[0]] != "" and vocab.start[fish[1]] == -1  # fly: no coordinates shipped


@pytest.mark.parametrize(
    ("value", "name", "term"),
    [
        ("zebrafish", "zebrafish", "NCBITaxon:7955"),
        ("Danio rerio", "zebrafish", "NCBITaxon:7955"),
        ("ncbitaxon:7227", "fruit_fly", "NCBITaxon:7227"),
        ("fruit fly", "fruit_fly", "NCBITaxon:7227"),
        ("NCBITaxon:9593", "gorilla", "NCBITaxon:9595"),  # the species id names the table's subspecies
        ("NCBITaxon:4081", "NCBITaxon:4081", "NCBITaxon:4081"),  # known by its id only
    ],
)
def test_find_organism(value, name, term):
    found = find_organism(value)
    assert (found.name, found.term_id) == (name, term)


def test_from_ensembl_ids_takes_each_genes_organism():
    vocab = GeneVocabulary.from_ensembl_ids(
        ["ENSDARG00000009657", "Solyc01g005000"], organisms=["zebrafish", "NCBITaxon:4081"]
    )
    assert vocab.organism.tolist() == ["zebrafish", "NCBITaxon:4081"]
    assert vocab.symbols.tolist() == ["FGFR1OP2", "Solyc01g005000"]  # its id: no symbol known
    assert vocab.map_var(pd.DataFrame(index=["FGFR1OP2"]), organism="Danio rerio").n_known == 1
    assert vocab.map_var(pd.DataFrame(index=["FGFR1OP2"]), organism="NCBITaxon:4081").n_known == 0
    with pytest.raises(ValueError, match="1 organisms given for 2 genes"):
        GeneVocabulary.from_ensembl_ids(["ENSDARG00000009657", "x"], organisms=["zebrafish"])


def test_map_symbols_and_ids_with_unknowns_reported(human, caplog):
    names = ["TP53", "ENSG00000111640.15", "NOT_A_GENE", "ENSG99999999999", "GAPDH"]
    with caplog.at_level(logging.WARNING, logger="scprint_graph.genes"):
        mapping = human.map_genes(names)
    tp53, gapdh = human.index_of(["ENSG00000141510", "ENSG00000111640"])
    # GAPDH given twice (by id, then by symbol): the second is a duplicate, not a second token
    assert mapping.indices.tolist() == [tp53, gapdh, -1, -1, -1]
    assert mapping.n_unknown == 2
    assert mapping.n_duplicated == 1
    assert set(mapping.unknown_examples) == {"NOT_A_GENE", "ENSG99999999999"}
    assert "NOT_A_GENE" in caplog.text


def test_ambiguous_symbol_prefers_protein_coding(human):
    frame = pd.DataFrame({"symbol": human.symbols, "coding": human.biotype == "protein_coding"})
    frame = frame[human.symbols != human.ensembl_ids]
    stats = frame.groupby("symbol")["coding"].agg(["sum", "size"])
    # a symbol naming one protein-coding gene and at least one other gene, the coding one not first
    candidates = stats[(stats["sum"] == 1) & (stats["size"] > 1)].index
    first_is_coding = frame.drop_duplicates("symbol").set_index("symbol")["coding"]
    symbol = next(s for s in candidates if not first_is_coding[s])
    mapping = human.map_genes([symbol])
    assert symbol in mapping.ambiguous
    assert len(mapping.ambiguous[symbol]) == stats.loc[symbol, "size"]
    assert human.biotype[mapping.indices[0]] == "protein_coding"


def test_map_var_picks_the_column_that_matches(human):
    var = pd.DataFrame(
        {"feature_name": ["TP53", "GAPDH", "ACTB"]}, index=pd.Index(["g1", "g2", "g3"], name="gene")
    )
    mapping = human.map_var(var)
    assert mapping.source == "feature_name"
    assert (mapping.indices >= 0).all()
    by_index = human.map_var(var.set_index("feature_name"))
    assert by_index.source == "index"
    assert by_index.indices.tolist() == mapping.indices.tolist()
    with pytest.raises(ValueError, match="nope"):
        human.map_var(var, column="nope")


def test_from_ensembl_ids_keeps_order_and_unknown_genes(caplog):
    ids = ["ENSG00000111640", "ENSMUSG00000059552", "ENSG00000000000", "ENSG00000141510.2"]
    with caplog.at_level(logging.WARNING, logger="scprint_graph.genes"):
        vocab = GeneVocabulary.from_ensembl_ids(ids)
    assert "ENSG00000000000" in caplog.text
    assert vocab.ensembl_ids.tolist() == [
        "ENSG00000111640",
        "ENSMUSG00000059552",
        "ENSG00000000000",
        "ENSG00000141510",
    ]
    assert vocab.symbols.tolist() == ["GAPDH", "Trp53", "ENSG00000000000", "TP53"]
    assert vocab.organism.tolist() == ["human", "mouse", "", "human"]
    assert vocab.start[2] == -1 and vocab.chromosome[2] == ""
    again = GeneVocabulary.from_dict(vocab.to_dict())
    assert again == vocab
    assert again.start.tolist() == vocab.start.tolist()


def test_vocabulary_rejects_duplicates_and_ragged_arrays():
    with pytest.raises(ValueError, match="duplicated"):
        GeneVocabulary(["ENSG1", "ENSG1"], ["a", "b"], ["human"] * 2, ["1"] * 2, [1, 2])
    with pytest.raises(ValueError, match="start"):
        GeneVocabulary(["ENSG1", "ENSG2"], ["a", "b"], ["human"] * 2, ["1"] * 2, [1])


def test_is_ensembl_id():
    assert is_ensembl_id("ENSG00000141510")
    assert is_ensembl_id("ENSMUSG00000059552.7")
    assert (
        is_ensembl_id("ENSDARG00000009657")
        and is_ensembl_id("FBgn0037583")
        and is_ensembl_id("WBGene00000003")
    )
    assert not is_ensembl_id("TP53")
    assert not is_ensembl_id("ENSG123")


def test_location_index_rule_on_hand_made_table():
    # given out of order on purpose; expected index per row written next to it
    table = pd.DataFrame(
        [
            ("human", "2", 100, 3),  # chromosome "2" sorts after "10" (string order)
            ("human", "1", 5_000, 0),  # 4 kb after the first gene of chr1: same position
            ("human", "1", 1_000, 0),
            ("human", "1", 15_000, 0),  # exactly 10 kb after 5_000: not more than the tolerance
            ("human", "1", 25_001, 1),  # 10_001 bp gap: new position
            ("human", "10", 25_002, 2),  # chromosome change: new position even though close
            ("human", "2", 9_000, 3),
            ("human", "X", 9_000, 4),
            ("mouse", "1", 1_000, 5),  # organism change
            ("human", "", -1, 6),  # unknown location: last, own position each
            ("human", "", -1, 7),
        ],
        columns=["organism", "chromosome", "start", "expected"],
    )
    got = genomic_location_index(table["organism"], table["chromosome"], table["start"])
    assert got.tolist() == table["expected"].tolist()
    tight = genomic_location_index(table["organism"], table["chromosome"], table["start"], tolerance=0)
    assert len(set(tight.tolist())) == len(table)  # every distinct start has its own position


def test_location_index_on_reference_is_compressed(human):
    index = human.location_index()
    assert index.min() == 0
    assert len(np.unique(index)) == index.max() + 1  # contiguous
    assert index.max() + 1 < len(human)  # neighbouring genes share positions
    order = np.argsort(index, kind="stable")
    chrom = human.chromosome[order]
    # positions never straddle two chromosomes
    same_pos = index[order][1:] == index[order][:-1]
    assert (chrom[1:][same_pos] == chrom[:-1][same_pos]).all()


def test_organism_restricts_matches():
    both = GeneVocabulary.load(organisms=("human", "mouse"))
    names = ["Trp53", "TP53", "ENSMUSG00000059552", "ENSG00000141510"]
    mapping = both.map_genes(names, organism="NCBITaxon:10090")
    trp53 = both.index_of(["ENSMUSG00000059552"])[0]
    assert mapping.indices.tolist() == [trp53, -1, -1, -1]  # the id repeats Trp53: a duplicate
    assert mapping.n_unknown == 2 and mapping.n_duplicated == 1
    assert both.map_genes(names).n_known == 2
    var = pd.DataFrame(index=pd.Index(["Actb", "Gapdh"]))
    assert both.map_var(var, organism="mouse").n_known == 2
    assert both.map_var(var, organism="human").n_known == 0
    with pytest.raises(ValueError, match="mouse"):
        GeneVocabulary.load(organisms=("human",)).map_genes(["TP53"], organism="mouse")
