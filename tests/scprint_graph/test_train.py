"""Pretraining: the loss goes down, resume replays an uninterrupted run, label hierarchy, config, CLI."""

import csv

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from scprint_graph import keys
from scprint_graph.cells import collate_cells
from scprint_graph.checkpoint import load_checkpoint
from scprint_graph.config import PRESETS, ModelConfig
from scprint_graph.losses import hierarchical_label_loss, hierarchy_matrix
from scprint_graph.model import ScPrintModel
from scprint_graph.pretrain_data import (
    DataConfig,
    build_label_classes,
    build_pretraining_data,
    location_tensor,
)
from scprint_graph.pretrain_tasks import PretrainObjective, TaskConfig
from scprint_graph.train import (
    LearningRateSchedule,
    TrainConfig,
    evaluate,
    export_weights,
    learning_rate,
    pretrain,
)
from tests.scprint_graph.synthetic import synthetic_adata

MAX_LEN = 32
LABELS = ("cell_type_ontology_term_id", "disease_ontology_term_id")
RUN_TOML = """
[model]
preset = "tiny"
max_len = 24
[train]
steps = 2
batch_size = 8
warmup_steps = 1
[data]
label_columns = ["cell_type_ontology_term_id"]
weight_columns = ["cell_type_ontology_term_id"]
val_fraction = 0.2
restrict_vocabulary = true
"""


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread; two oversubscribe a shared 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def small_run(vocab, **train):
    """Synthetic cells -> pretraining data and a fresh tiny model."""
    adata = synthetic_adata(n_cells=48, n_genes=120, vocab=vocab)
    data = build_pretraining_data(
        [adata],
        DataConfig(label_columns=LABELS, weight_columns=LABELS, val_fraction=0.25, restrict_vocabulary=True),
        max_len=MAX_LEN,
        vocab=vocab,
    )
    torch.manual_seed(0)
    config = ModelConfig.preset("tiny", n_genes=len(data.vocab), max_len=MAX_LEN, classes=data.classes)
    model = ScPrintModel(config, gene_locations=location_tensor(data.vocab))
    settings = {
        "steps": 8,
        "batch_size": 8,
        "warmup_steps": 2,
        "val_every": 4,
        "log_every": 1,
        "checkpoint_every": 4,
    }
    return data, model, TrainConfig(**{**settings, **train})


def run(data, model, config, out, **kwargs):
    return pretrain(
        model,
        list(data.vocab.ensembl_ids),
        data.train,
        data.val,
        data.weights,
        out,
        config=config,
        collate_fn=collate_cells,
        device=torch.device("cpu"),
        **kwargs,
    )


def held_loss(objective, data):
    loader = torch.utils.data.DataLoader(data.train, batch_size=16, collate_fn=collate_cells)
    return evaluate(objective, loader, torch.device("cpu"), seed=1)["loss"]


def test_tiny_pretraining_lowers_the_loss(human_vocab, tmp_path):
    data, model, config = small_run(human_vocab, steps=60, lr=3e-3, warmup_steps=5, val_every=30)
    objective = PretrainObjective(model, config.tasks)
    before = held_loss(objective, data)
    result = run(data, model, config, tmp_path)
    after = held_loss(objective, data)
    assert after < before - 0.5, (before, after)
    assert result.last_val["loss"] < before
    rows = list(csv.DictReader((tmp_path / "metrics.csv").open()))
    assert [int(r["step"]) for r in rows] == list(range(1, 61))
    assert {"train_denoise_60", "train_bottleneck", "train_labels", "val_loss", "lr"} <= set(rows[0])
    first = np.mean([float(r["train_loss"]) for r in rows[:10]])
    last = np.mean([float(r["train_loss"]) for r in rows[-10:]])
    assert last < first


def test_resume_after_interruption_gives_the_same_state(human_vocab, tmp_path):
    data, straight, config = small_run(human_vocab)
    run(data, straight, config, tmp_path / "straight")

    data, interrupted, config = small_run(human_vocab)
    run(data, interrupted, config, tmp_path / "resumed", stop_at=4)
    assert load_checkpoint(tmp_path / "resumed" / "last.pt").extra["step"] == 4
    data, resumed, config = small_run(human_vocab)  # a fresh process: new model, state from the checkpoint
    result = run(data, resumed, config, tmp_path / "resumed")
    assert result.steps == 8

    a = load_checkpoint(tmp_path / "straight" / "last.pt")
    b = load_checkpoint(tmp_path / "resumed" / "last.pt")
    for name, tensor in a.model.state_dict().items():
        assert torch.equal(tensor, b.model.state_dict()[name]), name
    assert a.optimizer_state["state"].keys() == b.optimizer_state["state"].keys()
    for k, state in a.optimizer_state["state"].items():
        assert torch.equal(state["exp_avg"], b.optimizer_state["state"][k]["exp_avg"])
    steps = [int(r["step"]) for r in csv.DictReader((tmp_path / "resumed" / "metrics.csv").open())]
    assert steps == list(range(1, 9))


def test_hierarchical_labels_on_a_toy_ontology():
    import pandas as pd

    obs = pd.DataFrame({"cell_type_ontology_term_id": ["T", "B", "mono", "lymphocyte", "unknown"]})
    (cell_type,) = build_label_classes(
        [obs],
        ["cell_type_ontology_term_id"],
        {"cell_type_ontology_term_id": {"lymphocyte": ["T", "B", "NK"]}},
    )
    assert cell_type.name == "cell_type"
    assert cell_type.leaves == ("B", "NK", "T", "mono")  # NK: a descendant named by the ontology only
    assert cell_type.parents == ("lymphocyte",)
    hierarchy = hierarchy_matrix(cell_type.n_leaves, cell_type.parent_leaves)
    parent = torch.tensor([cell_type.labels.index("lymphocyte")])
    b_high = torch.tensor([[4.0, -4.0, -4.0, -4.0]])  # confident "B"
    t_high = torch.tensor([[-4.0, -4.0, 4.0, -4.0]])  # confident "T"
    mono_high = torch.tensor([[-4.0, -4.0, -4.0, 4.0]])
    # a lymphocyte may be any of its leaves: B and T are equally right, monocyte is wrong
    loss_b = hierarchical_label_loss(b_high, parent, hierarchy)
    assert loss_b == pytest.approx(float(hierarchical_label_loss(t_high, parent, hierarchy)))
    assert hierarchical_label_loss(mono_high, parent, hierarchy) > loss_b + 1.0
    # a leaf label still singles out its leaf
    t_leaf = torch.tensor([cell_type.labels.index("T")])
    assert hierarchical_label_loss(b_high, t_leaf, hierarchy) > hierarchical_label_loss(
        t_high, t_leaf, hierarchy
    )


def test_tasks_can_be_switched_off(human_vocab):
    data, model, _ = small_run(human_vocab)
    batch = collate_cells([data.train[i] for i in range(6)])
    all_terms = PretrainObjective(model, TaskConfig())(batch, generator=torch.Generator().manual_seed(0))
    assert {"denoise_60", "labels", "dissimilarity", "bottleneck", "loss"} == set(all_terms)
    plain = PretrainObjective(model, TaskConfig(denoise=False, bottleneck=False, labels=False))(batch)
    assert set(plain) == {"expr", "labels", "dissimilarity", "loss"}
    assert float(plain["labels"]) == 0.0
    expected = plain["expr"] + 0.2 * plain["dissimilarity"]
    assert float(plain["loss"].detach()) == pytest.approx(float(expected.detach()), rel=1e-5)
    assert keys.LABELS in batch


def test_config_validation_and_schedule():
    with pytest.raises(ValueError, match="steps"):
        TrainConfig(steps=0)
    with pytest.raises(ValueError, match="precision"):
        TrainConfig(precision="fp8")
    with pytest.raises(ValueError, match="noise"):
        TaskConfig(noise=())
    with pytest.raises(ValueError, match="hierarchy"):
        DataConfig(label_columns=("a",), hierarchy={"b": {}})
    config = TrainConfig(steps=100, warmup_steps=10, lr=1.0, min_lr_ratio=0.1)
    assert learning_rate(0, config) == pytest.approx(0.1)
    assert learning_rate(9, config) == pytest.approx(1.0)
    assert learning_rate(99, config) == pytest.approx(0.1, abs=1e-3)
    assert TrainConfig.from_dict(config.to_dict()) == config


def test_plateau_schedule_and_early_stopping_follow_the_validation_loss(human_vocab, tmp_path):
    """lr 1e-12 leaves the fp32 weights exactly as they are, so every validation loss equals the first:
    the plateau rule (torch's ReduceLROnPlateau, patience 1) lowers the rate by 0.6 at the second
    validation without improvement and early stopping (patience 3) stops at the third."""
    data, model, config = small_run(
        human_vocab, steps=20, lr=1e-12, warmup_steps=0, val_every=1, checkpoint_every=20
    )
    result = run(data, model, config, tmp_path)
    assert result.stopped_early and result.steps == 4
    rows = list(csv.DictReader((tmp_path / "metrics.csv").open()))
    assert len({r["val_loss"] for r in rows}) == 1
    lrs = [float(r["lr"]) for r in rows]
    assert lrs[:3] == pytest.approx([1e-12] * 3) and lrs[3] == pytest.approx(0.6e-12)
    ckpt = load_checkpoint(tmp_path / "last.pt")
    assert ckpt.extra["step"] == 4 and ckpt.extra["schedule"]["stopped"]
    # resuming a run that stopped early trains no further
    data, model, config = small_run(
        human_vocab, steps=20, lr=1e-12, warmup_steps=0, val_every=1, checkpoint_every=20
    )
    again = run(data, model, config, tmp_path)
    assert again.steps == 4 and again.stopped_early


def test_learning_rate_schedule_rules():
    params = [torch.nn.Parameter(torch.zeros(1))]
    optimizer = torch.optim.AdamW(params, lr=1.0)
    schedule = LearningRateSchedule(optimizer, TrainConfig(lr=1.0, warmup_steps=4, early_stopping_patience=3))
    assert [schedule.rate(s) for s in range(4)] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    for loss, lr, stopped in [
        (5.0, 1.0, False),
        (4.0, 1.0, False),
        (4.0, 1.0, False),
        (4.5, 0.6, False),
        (3.0, 0.6, False),
        (3.0, 0.6, False),
        (3.0, 0.36, False),
        (3.0, 0.36, True),
    ]:
        schedule.validated(loss)
        assert (schedule.rate(10), schedule.stopped) == (pytest.approx(lr), stopped), loss
    restored = LearningRateSchedule(optimizer, TrainConfig(lr=1.0, warmup_steps=4))
    restored.load_state_dict(schedule.state_dict())
    assert restored.state_dict() == schedule.state_dict()
    cosine_config = TrainConfig(
        lr=1.0, steps=100, warmup_steps=10, schedule="cosine", early_stopping_patience=0
    )
    cosine = LearningRateSchedule(optimizer, cosine_config)
    assert cosine.rate(99) == pytest.approx(learning_rate(99, cosine_config))
    assert not cosine.watches_validation
    with pytest.raises(ValueError, match="schedule"):
        TrainConfig(schedule="linear")
    with pytest.raises(ValueError, match="plateau_factor"):
        TrainConfig(plateau_factor=1.5)


def test_plateau_needs_validation_cells(human_vocab, tmp_path):
    data, model, config = small_run(human_vocab, steps=2)
    with pytest.raises(ValueError, match="no validation cells"):
        pretrain(
            model,
            list(data.vocab.ensembl_ids),
            data.train,
            None,
            data.weights,
            tmp_path,
            config=config,
            collate_fn=collate_cells,
            device=torch.device("cpu"),
        )


def test_export_weights_is_small_and_loads(human_vocab, tmp_path):
    data, model, config = small_run(human_vocab, steps=2)
    run(data, model, config, tmp_path)
    exported = export_weights(tmp_path / "last.pt", tmp_path / "weights.pt")
    assert exported.stat().st_size < (tmp_path / "last.pt").stat().st_size / 4
    ckpt = load_checkpoint(exported, genes=list(data.vocab.ensembl_ids))
    assert ckpt.optimizer_state is None and ckpt.extra["stored_dtype"] == "float16"
    original = load_checkpoint(tmp_path / "last.pt").model.state_dict()
    for name, tensor in ckpt.model.state_dict().items():
        assert tensor.dtype == original[name].dtype
        if tensor.is_floating_point():
            torch.testing.assert_close(tensor, original[name], atol=2e-3, rtol=1e-2)


def test_pretrain_command(human_vocab, tmp_path):
    from cli.main import app

    adata = synthetic_adata(n_cells=30, n_genes=100, vocab=human_vocab)
    data_path = tmp_path / "cells.h5ad"
    adata.write_h5ad(data_path)
    config = tmp_path / "run.toml"
    config.write_text(RUN_TOML)
    runner = CliRunner()
    args = ["pretrain", "--config", str(config), "--data", str(data_path), "--out", str(tmp_path / "run")]
    result = runner.invoke(app, [*args, "--export", str(tmp_path / "w.pt")])
    assert result.exit_code == 0, result.output
    assert load_checkpoint(tmp_path / "w.pt").extra["step"] == 2
    config.write_text("[model]\n[trian]\n")
    bad = runner.invoke(app, args)
    assert bad.exit_code != 0 and "trian" in bad.output
    missing = runner.invoke(app, ["pretrain", "--config", str(config), "--data", "nope.h5ad", "--out", "x"])
    assert missing.exit_code != 0


def test_pretrain_refuses_config_and_data_mistakes_in_one_line(human_vocab, tmp_path):
    from cli.main import app

    adata = synthetic_adata(n_cells=30, n_genes=100, vocab=human_vocab)
    data_path = tmp_path / "cells.h5ad"
    adata.write_h5ad(data_path)
    config = tmp_path / "run.toml"
    runner = CliRunner()
    args = ["pretrain", "--config", str(config), "--data", str(data_path), "--out", str(tmp_path / "run")]
    cases = {
        RUN_TOML.replace('preset = "tiny"', 'preset = "tiny"\nlayers = 3'): ["'layers'", "[model]"],
        RUN_TOML.replace("steps = 2", "steps = 2\nlearning_rate = 1"): ["'learning_rate'", "[train]"],
        RUN_TOML + "[train.tasks]\nmask = true\n": ["'mask'", "[train.tasks]"],
        RUN_TOML.replace("val_fraction", "val_frac"): ["'val_frac'", "[data]"],
        RUN_TOML.replace("max_len = 24", "max_len = 24\ndropout = 2.0"): ["dropout"],
        RUN_TOML.replace("val_fraction = 0.2", "val_fraction = 0.0"): ["val_fraction = 0", "[train]"],
        RUN_TOML.replace('preset = "tiny"', 'preset = "tiny"\nfreeze_gene_embeddings = true'): [
            "gene_embeddings"
        ],
        RUN_TOML.replace(
            'weight_columns = ["cell_type_ontology_term_id"]',
            'weight_columns = ["cell_type_ontology_term_id", "sex_ontology_term_id"]',
        ): ["'sex_ontology_term_id'", "dataset 1 of 1"],
    }
    for text, expected in cases.items():
        config.write_text(text)
        result = runner.invoke(app, args)
        output = " ".join(result.output.split())  # typer wraps the message over lines
        assert result.exit_code == 2, (text, result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        assert "Traceback" not in result.output
        for part in expected:
            assert part in output, (part, result.output)
        if "[" in expected[-1]:
            assert "run.toml" in output.replace("│", "").replace(" ", "")


def test_shipped_configs_parse_and_large_presets_use_the_original_values():
    from pathlib import Path

    from cli.train import read_run_config

    configs = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.toml"))
    runs = {path.stem: read_run_config(path) for path in configs}
    assert {"demo-tiny", "pretrain-small", "pretrain-medium", "pretrain-large"} <= set(runs)
    demo = runs["demo-tiny"]  # as the committed demo weights were trained
    assert (demo.train.lr, demo.train.schedule, demo.train.early_stopping_patience) == (0.002, "cosine", 0)
    assert demo.data.ontology_columns == () and len(demo.data.label_columns) == 3
    defaults = TrainConfig()
    for name in ("pretrain-small", "pretrain-medium", "pretrain-large"):
        run = runs[name]
        assert run.train.lr == defaults.lr == 1e-4
        assert run.train.schedule == defaults.schedule == "plateau"
        assert (run.train.plateau_factor, run.train.plateau_patience) == (0.6, 1)
        assert run.train.early_stopping_patience == 3 and run.train.warmup_steps == 500
        assert run.train.weight_decay == 0.01
        assert len(run.data.label_columns) == 6 and run.data.weight_scaler == 50
        assert run.model["classifier_hidden"] == [PRESETS[run.preset]["d_model"]]


def _ddp_worker(rank: int, world_size: int, port: int, out: str) -> None:
    import os

    import torch.distributed as dist

    from scprint_graph.genes import GeneVocabulary

    os.environ.update(
        {
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "RANK": str(rank),
            "WORLD_SIZE": str(world_size),
        }
    )
    torch.set_num_threads(1)
    data, model, config = small_run(GeneVocabulary.load(organisms=("human",)), steps=3, val_every=3)
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    run(data, model, config, out)
    torch.save({"final": model.state_dict(), "initial": initial}, f"{out}/rank{rank}.pt")
    dist.destroy_process_group()


@pytest.mark.slow
def test_data_parallel_ranks_stay_in_sync(tmp_path):
    """Two CPU processes with torch DDP (gloo): replicas start equal and stay equal after updates."""
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_ddp_worker, args=(2, port, str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in range(2))
    changed = 0
    for name, tensor in r0["final"].items():
        assert torch.equal(tensor, r1["final"][name]), name
        changed += not torch.equal(tensor, r0["initial"][name])
    assert changed > 10
    assert load_checkpoint(tmp_path / "last.pt").extra["step"] == 3


@pytest.mark.slow
def test_pretrain_from_a_lamindb_collection(human_vocab, tmp_path, monkeypatch):
    """`--data lamindb:<collection>` reads the collection's artifacts from a real local instance."""
    monkeypatch.setenv("LAMIN_SETTINGS_DIR", str(tmp_path / "settings"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    import lamindb_setup

    lamindb_setup.init(storage=str(tmp_path / "storage"))
    import lamindb as ln

    from cli.main import app

    artifacts = []
    for seed in (0, 1):
        path = tmp_path / "storage" / f"cells{seed}.h5ad"
        synthetic_adata(n_cells=30, n_genes=100, seed=seed, vocab=human_vocab).write_h5ad(path)
        artifacts.append(ln.Artifact(str(path), key=f"train/cells{seed}.h5ad").save())
    ln.Collection(artifacts, key="train").save()
    config = tmp_path / "run.toml"
    config.write_text(RUN_TOML)
    out = tmp_path / "run"
    result = CliRunner().invoke(
        app, ["pretrain", "--config", str(config), "--data", "lamindb:train", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    datasets = load_checkpoint(out / "last.pt").extra["datasets"]
    assert [d["cells"] for d in datasets] == [30, 30]
