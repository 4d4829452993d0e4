"""Precomputed gene embeddings: reading the parquet table, pooling as scPRINT, frozen through pretraining."""

import hashlib

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from scprint_graph.checkpoint import load_checkpoint
from scprint_graph.config import ModelConfig
from scprint_graph.gene_embeddings import read_gene_embeddings, vocabulary_with_embeddings
from scprint_graph.model import ScPrintModel
from tests.scprint_graph.synthetic import synthetic_adata

RUN = """
[model]
preset = "tiny"
max_len = 24
gene_embeddings = "{table}"
{freeze}
[train]
steps = 3
batch_size = 8
lr = 0.01
warmup_steps = 1
[data]
label_columns = ["cell_type_ontology_term_id"]
weight_columns = ["cell_type_ontology_term_id"]
val_fraction = 0.2
restrict_vocabulary = true
"""


def seeded_table(ids, width: int, seed: int = 0) -> pd.DataFrame:
    values = np.random.default_rng(seed).normal(size=(len(ids), width)).astype(np.float32)
    return pd.DataFrame(
        values, index=pd.Index(list(ids), name="ensembl_gene_id"), columns=[str(i) for i in range(width)]
    )


def test_reading_checks_the_layout(tmp_path):
    good = seeded_table(["ENSG00000000003", "ENSG00000000005"], 4)
    good.to_parquet(tmp_path / "good.parquet")
    table = read_gene_embeddings(tmp_path / "good.parquet")
    assert table.width == 4 and list(table.ensembl_ids) == list(good.index)
    assert table.sha256 == hashlib.sha256((tmp_path / "good.parquet").read_bytes()).hexdigest()
    np.testing.assert_array_equal(table.rows_for(["ENSG00000000005"]), good.to_numpy()[1:])
    with pytest.raises(ValueError, match="no embedding for 1 genes"):
        table.rows_for(["ENSG00000000009"])
    bad = {
        "no index": good.reset_index(drop=True),
        "not float": good.assign(name="x"),
        "NaN": good.where(good > 0),
        "more than once": pd.concat([good, good]),
    }
    for reason, frame in bad.items():
        frame.to_parquet(tmp_path / "bad.parquet")
        with pytest.raises(ValueError, match=reason):
            read_gene_embeddings(tmp_path / "bad.parquet")
    (tmp_path / "text.parquet").write_text("not parquet")
    with pytest.raises(ValueError, match="not a readable parquet"):
        read_gene_embeddings(tmp_path / "text.parquet")
    with pytest.raises(ValueError, match="not found"):
        read_gene_embeddings(tmp_path / "absent.parquet")


def test_vectors_are_pooled_to_d_model_as_scprint(human_vocab):
    vocab = human_vocab.subset(np.arange(40))
    table = seeded_table(vocab.ensembl_ids, 48)  # ESM2-like width != d_model
    config = ModelConfig.preset("tiny", n_genes=40, use_locations=False, frozen_gene_embeddings=True)
    model = ScPrintModel(config, gene_embeddings=torch.from_numpy(table.to_numpy()))
    # scPRINT model.py: torch.nn.AdaptiveAvgPool1d(d_model)(torch.tensor(embeddings.values))
    expected = torch.nn.AdaptiveAvgPool1d(config.d_model)(torch.tensor(table.to_numpy(dtype=np.float64)))
    torch.testing.assert_close(model.gene_embedding.weight.detach(), expected.float())
    assert not model.gene_embedding.weight.requires_grad


def test_vocabulary_keeps_the_genes_the_table_covers(human_vocab, tmp_path):
    vocab = human_vocab.subset(np.arange(30))
    seeded_table(vocab.ensembl_ids[::3], 8).to_parquet(tmp_path / "t.parquet")
    kept = vocabulary_with_embeddings(vocab, read_gene_embeddings(tmp_path / "t.parquet"))
    assert list(kept.ensembl_ids) == list(vocab.ensembl_ids[::3])
    seeded_table(["ENSG_NOT_A_GENE"], 8).to_parquet(tmp_path / "none.parquet")
    with pytest.raises(ValueError, match="none of the 30"):
        vocabulary_with_embeddings(vocab, read_gene_embeddings(tmp_path / "none.parquet"))


def pretrain_with_table(human_vocab, tmp_path, freeze: str):
    from cli.main import app

    adata = synthetic_adata(n_cells=30, n_genes=100, vocab=human_vocab)
    adata.write_h5ad(tmp_path / "cells.h5ad")
    covered = adata.var_names[np.arange(100) % 5 != 0]  # 80 of the 100 measured genes have a vector
    seeded_table(covered, 32, seed=4).to_parquet(tmp_path / "emb.parquet")  # tiny d_model: no pooling
    (tmp_path / "run.toml").write_text(RUN.format(table="emb.parquet", freeze=freeze))
    args = ["pretrain", "--config", str(tmp_path / "run.toml"), "--data", str(tmp_path / "cells.h5ad")]
    result = CliRunner().invoke(
        app, [*args, "--out", str(tmp_path / "run"), "--export", str(tmp_path / "w.pt")]
    )
    assert result.exit_code == 0, result.output
    return pd.read_parquet(tmp_path / "emb.parquet"), tmp_path / "w.pt", tmp_path / "run" / "last.pt"


def test_pretraining_keeps_a_frozen_table_unchanged(human_vocab, tmp_path):
    table, exported, last = pretrain_with_table(human_vocab, tmp_path, freeze="")  # frozen by default
    for path, dtype in ((last, torch.float32), (exported, torch.float16)):
        ckpt = load_checkpoint(path)
        assert ckpt.genes == sorted(ckpt.genes, key=list(table.index).index)  # table genes only, vocab order
        assert len(ckpt.genes) == 80 and set(ckpt.genes) <= set(table.index)
        expected = torch.from_numpy(table.loc[ckpt.genes].to_numpy()).to(dtype).float()
        assert torch.equal(ckpt.model.gene_embedding.weight.detach(), expected), path
        config = ckpt.model.config
        assert config.frozen_gene_embeddings
        assert (
            config.gene_embeddings_sha256
            == hashlib.sha256((tmp_path / "emb.parquet").read_bytes()).hexdigest()
        )
    assert load_checkpoint(last).extra["gene_embeddings"]["width"] == 32
    # the rest of the model did train
    assert load_checkpoint(last).extra["step"] == 3


def test_unfrozen_table_is_only_the_starting_point(human_vocab, tmp_path):
    table, _, last = pretrain_with_table(human_vocab, tmp_path, freeze="freeze_gene_embeddings = false")
    ckpt = load_checkpoint(last)
    start = torch.from_numpy(table.loc[ckpt.genes].to_numpy())
    assert not ckpt.model.config.frozen_gene_embeddings
    assert not torch.equal(ckpt.model.gene_embedding.weight.detach(), start)
    assert ckpt.model.config.gene_embeddings_sha256 is not None
