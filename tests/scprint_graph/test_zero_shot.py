import numpy as np
import pytest
import torch

from scprint_graph import keys
from scprint_graph.cells import AnnDataCells
from scprint_graph.checkpoint import file_sha256
from scprint_graph.config import LabelClass, ModelConfig
from scprint_graph.model import ScPrintModel
from scprint_graph.zero_shot import denoise, embed

from .synthetic import CELL_TYPES


@pytest.fixture
def vocab_and_model(human_vocab, adata):
    """A vocabulary of the AnnData's genes plus 30 others, and a tiny random model over it."""
    own = human_vocab.index_of(adata.var_names.tolist())
    others = np.setdiff1d(np.arange(0, 3000, 100), own)[:30]
    vocab = human_vocab.subset(np.concatenate([own[::-1], others]))
    classes = (LabelClass(name="cell_type_ontology_term_id", leaves=tuple(CELL_TYPES.values())),)
    config = ModelConfig.preset("tiny", n_genes=len(vocab), max_len=64, classes=classes, dropout=0.0)
    torch.manual_seed(0)
    model = ScPrintModel(config, gene_locations=torch.as_tensor(vocab.location_index()))
    return vocab, model


def test_embed_writes_embeddings_predictions_and_params(adata, vocab_and_model):
    vocab, model = vocab_and_model
    embed(adata, model, vocab=vocab, batch_size=16, progress=False, device="cpu")
    assert adata.obsm["X_scprint"].shape == (adata.n_obs, 32)
    assert adata.obsm["X_scprint_cell_type_ontology_term_id"].shape == (adata.n_obs, 32)
    predicted = adata.obs["scprint_cell_type_ontology_term_id"]
    assert set(predicted.cat.categories) == set(CELL_TYPES.values()) and predicted.notna().all()
    score = adata.obs["scprint_cell_type_ontology_term_id_score"].to_numpy()
    assert np.all((score > 0) & (score < 1))
    assert adata.uns["scprint_graph"]["params"]["embed"]["max_len"] == 64

    # the same cells through the model directly give the same embeddings
    cells = AnnDataCells(adata, vocab)
    batch = next(cells.batches(batch_size=16, max_len=64, seed=0))
    with torch.no_grad():
        direct = model(batch).cell_embedding.numpy()
    np.testing.assert_allclose(adata.obsm["X_scprint"][:16], direct, rtol=1e-5, atol=1e-6)

    first = adata.obsm["X_scprint"].copy()
    embed(adata, model, vocab=vocab, batch_size=7, progress=False, device="cpu", key_added="again")
    np.testing.assert_allclose(adata.obsm["X_again"], first, rtol=1e-5, atol=1e-6)


def test_denoise_layer_at_own_and_chosen_depth(adata, vocab_and_model):
    vocab, model = vocab_and_model
    denoise(adata, model, vocab=vocab, batch_size=16, progress=False, device="cpu")
    layer = adata.layers["scprint_denoised"]
    assert layer.shape == adata.shape and layer.dtype == np.float32
    assert np.all(layer.getnnz(axis=1) == 64)
    cells = AnnDataCells(adata, vocab)
    context_totals = np.concatenate(
        [b[keys.EXPRESSION].sum(1).numpy() for b in cells.batches(batch_size=16, max_len=64, seed=0)]
    )
    own = np.asarray(layer.sum(axis=1)).ravel()
    assert np.all(own <= context_totals * (1 + 1e-5)) and np.all(own > 0)

    denoise(adata, model, vocab=vocab, depth=1e5, key_added="deep", progress=False, device="cpu")
    deep = np.asarray(adata.layers["deep"].sum(axis=1)).ravel()
    assert np.all(deep > 5 * own)
    assert adata.uns["scprint_graph"]["params"]["denoise"]["depth"] == 1e5
    with pytest.raises(ValueError, match="-3"):
        denoise(adata, model, vocab=vocab, depth=-3, progress=False)


def test_vocabulary_size_must_match(adata, vocab_and_model, human_vocab):
    _, model = vocab_and_model
    with pytest.raises(ValueError, match="n_genes"):
        embed(adata, model, vocab=human_vocab.subset(np.arange(10)), progress=False)


def test_cli_embed_and_denoise(tmp_path, adata, adata_h5ad, vocab_and_model):
    import anndata as ad
    from typer.testing import CliRunner

    from cli.main import app
    from scprint_graph.checkpoint import save_checkpoint

    vocab, model = vocab_and_model
    ckpt = save_checkpoint(tmp_path / "tiny.ckpt", model, vocab.ensembl_ids.tolist())
    out = tmp_path / "out.h5ad"
    args = ["embed", "--ckpt", str(ckpt), "--h5ad", str(adata_h5ad), "--out", str(out), "--device", "cpu"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    written = ad.read_h5ad(out)
    assert written.obsm["X_scprint"].shape == (adata.n_obs, 32)
    assert written.uns["scprint_graph"]["checkpoint_sha256"] == file_sha256(ckpt)

    args = ["denoise", "--ckpt", str(ckpt), "--h5ad", str(adata_h5ad), "--out", str(out), "--depth", "5000"]
    result = CliRunner().invoke(app, [*args, "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert ad.read_h5ad(out).layers["scprint_denoised"].nnz == adata.n_obs * 64

    result = CliRunner().invoke(
        app, ["embed", "--ckpt", str(tmp_path / "none.ckpt"), "--h5ad", str(adata_h5ad), "--out", str(out)]
    )
    assert result.exit_code != 0 and "file not found" in result.output
