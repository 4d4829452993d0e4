import hashlib

import pytest
import torch

from scprint_graph.checkpoint import file_sha256, load_checkpoint, save_checkpoint
from scprint_graph.model import ScPrintModel

from .conftest import N_GENES

GENES = [f"ENSG{i:011d}" for i in range(N_GENES)]


def test_round_trip_restores_outputs_and_optimizer(tmp_path, tiny_model, batch):
    optimizer = torch.optim.AdamW(tiny_model.parameters(), lr=1e-3)
    tiny_model.loss(tiny_model(batch), batch).total.backward()
    optimizer.step()
    path = save_checkpoint(tmp_path / "m.ckpt", tiny_model, GENES, optimizer=optimizer, extra={"step": 7})
    loaded = load_checkpoint(path, genes=GENES)
    assert loaded.genes == GENES and loaded.extra == {"step": 7}
    assert loaded.model.config == tiny_model.config
    assert not loaded.model.training
    torch.testing.assert_close(loaded.model(batch).zinb.mean, tiny_model(batch).zinb.mean)
    torch.testing.assert_close(loaded.model.location_encoding, tiny_model.location_encoding)
    fresh = torch.optim.AdamW(loaded.model.parameters(), lr=1e-3)
    fresh.load_state_dict(loaded.optimizer_state)
    assert fresh.state_dict()["state"][0]["step"] == 1
    assert loaded.sha256 == hashlib.sha256(path.read_bytes()).hexdigest() == file_sha256(path)


def test_frozen_embeddings_stay_frozen(tmp_path, tiny_config):
    config = tiny_config.replace(frozen_gene_embeddings=True)
    model = ScPrintModel(
        config, gene_locations=torch.arange(N_GENES), gene_embeddings=torch.randn(N_GENES, 32)
    )
    loaded = load_checkpoint(save_checkpoint(tmp_path / "f.ckpt", model, GENES)).model
    assert not loaded.gene_embedding.weight.requires_grad
    torch.testing.assert_close(loaded.gene_embedding.weight, model.gene_embedding.weight)


def test_vocabulary_mismatch_is_reported(tmp_path, tiny_model):
    path = save_checkpoint(tmp_path / "m.ckpt", tiny_model, GENES)
    other = [*GENES[:-1], "ENSG99999999999"]
    with pytest.raises(ValueError, match="ENSG99999999999"):
        load_checkpoint(path, genes=other)
    with pytest.raises(ValueError, match="n_genes"):
        save_checkpoint(tmp_path / "bad.ckpt", tiny_model, GENES[:-1])


def test_missing_and_misshaped_tensors_are_named(tmp_path, tiny_model):
    path = save_checkpoint(tmp_path / "m.ckpt", tiny_model, GENES)
    payload = torch.load(path, weights_only=True)
    del payload["state_dict"]["blocks.1.attn.qkv.weight"]
    payload["state_dict"]["ln_f.bias"] = torch.zeros(5)
    torch.save(payload, tmp_path / "broken.ckpt")
    with pytest.raises(ValueError, match=r"blocks\.1\.attn\.qkv\.weight") as info:
        load_checkpoint(tmp_path / "broken.ckpt")
    assert "ln_f.bias: file (5,)" in str(info.value)


def test_not_a_checkpoint(tmp_path):
    torch.save({"state_dict": {}}, tmp_path / "x.ckpt")
    with pytest.raises(ValueError, match="not a scprint-graph checkpoint"):
        load_checkpoint(tmp_path / "x.ckpt")
    with pytest.raises(FileNotFoundError, match="nothere"):
        load_checkpoint(tmp_path / "nothere.ckpt")
