"""Unreadable, hostile or unsupported checkpoints: refused in one line naming the file and the problem."""

import gzip
import os
import pickle

import pytest
import torch

from scprint_graph.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from scprint_graph.official import load_any_checkpoint, load_official_checkpoint
from tests.scprint_graph.test_official import hyper_parameters, official_state_dict, write_official


class _Evil:
    """Unpickling this runs os.system: weights_only must refuse it, and nothing may run."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def ours(tmp_path, tiny_model):
    return save_checkpoint(tmp_path / "ours.pt", tiny_model, [f"ENSG{i:011d}" for i in range(60)])


def _expect(path, match, loaders=(load_checkpoint, load_any_checkpoint)):
    for load in loaders:
        with pytest.raises(CheckpointError, match=match) as info:
            load(path)
        message = str(info.value)
        assert message.startswith(str(path)) and "\n" not in message


def test_empty_text_gzip_and_truncated_files(tmp_path, ours):
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    _expect(empty, "is empty")
    text = tmp_path / "notes.pt"
    text.write_text("these are not weights\n")
    _expect(text, "not a PyTorch checkpoint")
    packed = tmp_path / "packed.pt.gz"
    packed.write_bytes(gzip.compress(ours.read_bytes()))
    _expect(packed, "gzip-compressed: decompress it first")
    cut = tmp_path / "cut.pt"
    cut.write_bytes(ours.read_bytes()[: ours.stat().st_size // 2])
    _expect(cut, "truncated or corrupt")


def test_a_pickle_that_runs_code_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.pt"
    torch.save({"format": "scprint-graph-checkpoint/1", "config": _Evil(marker)}, evil)
    _expect(evil, r"refused: .*(posix|os|nt)\.system")
    legacy = tmp_path / "legacy.pkl"
    legacy.write_bytes(pickle.dumps({"state_dict": _Evil(marker)}, protocol=2))
    _expect(legacy, "is a pickle but not a readable torch.save checkpoint")
    assert not marker.exists()


def test_wrong_layouts(tmp_path, ours):
    cases = {
        "list.pt": ([1, 2, 3], "not a Lightning checkpoint"),
        "plain.pt": ({"weights": {}}, "not a Lightning checkpoint"),
        "other.pt": ({"format": "something/9"}, "unknown checkpoint format"),
        "nostate.pt": (
            {"format": "scprint-graph-checkpoint/1", "config": {}},
            r"without \['genes', 'state_dict'\]",
        ),
        "badcfg.pt": (
            {
                "format": "scprint-graph-checkpoint/1",
                "config": {"n_genes": -1},
                "genes": [],
                "state_dict": {},
            },
            "invalid model config: n_genes",
        ),
    }
    for name, (payload, match) in cases.items():
        torch.save(payload, tmp_path / name)
        _expect(tmp_path / name, match, loaders=(load_any_checkpoint,))
    _expect(tmp_path / "list.pt", "not a scprint-graph checkpoint", loaders=(load_checkpoint,))


def test_nan_or_inf_weights_are_refused_naming_the_tensor(tmp_path, tiny_model):
    genes = [f"ENSG{i:011d}" for i in range(60)]
    with torch.no_grad():
        tiny_model.blocks[1].mlp.fc.weight[0, 0] = float("nan")
    path = save_checkpoint(tmp_path / "nan.pt", tiny_model, genes)
    _expect(path, r"NaN or infinite weights in 1 tensors: \['blocks.1.mlp.fc.weight'\]")
    state = official_state_dict()
    state["transformer.blocks.0.mixer.Wqkv.bias"][3] = float("inf")
    official = write_official(tmp_path / "inf.ckpt", state)
    _expect(official, r"transformer\.blocks\.0\.mixer\.Wqkv\.bias", loaders=(load_official_checkpoint,))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("prenorm", False),
        ("transformer", "linear"),
        ("mvc_decoder", "concat query"),
        ("return_residual", True),
    ],
)
def test_unimplemented_official_hyper_parameters_are_refused(tmp_path, name, value):
    from tests.scprint_graph.test_official import fake_lightning

    with fake_lightning():
        hparams = hyper_parameters()
        hparams[name] = value
        torch.save({"hyper_parameters": hparams, "state_dict": official_state_dict()}, tmp_path / "x.ckpt")
    with pytest.raises(CheckpointError, match=f"{name}={value!r}, which this model does not implement"):
        load_official_checkpoint(tmp_path / "x.ckpt")


def test_cli_says_one_line_about_a_bad_checkpoint(tmp_path):
    from typer.testing import CliRunner

    from cli.main import app

    bad = tmp_path / "bad.pt"
    bad.write_text("hello")
    h5ad = tmp_path / "x.h5ad"
    h5ad.write_text("")  # never read: the checkpoint is refused first
    result = CliRunner().invoke(
        app,
        ["grn", "--ckpt", str(bad), "--h5ad", str(h5ad), "--out", str(tmp_path / "o")],
        env={"COLUMNS": "400"},
    )
    assert result.exit_code != 0 and "not a PyTorch checkpoint" in result.output
    assert "Traceback" not in result.output
