"""The pretraining loop: AdamW, warm-up then a plateau (or cosine) schedule, early stopping, mixed
precision on GPU, gradient clipping, checkpoints, resume.

Data parallelism goes through torch DDP: launch with ``torchrun --nproc_per_node N``; each process reads
``RANK`` / ``WORLD_SIZE`` / ``LOCAL_RANK`` from the environment, joins a process group (NCCL on GPU, gloo on
CPU) and wraps :class:`~scprint_graph.pretrain_tasks.PretrainObjective` in ``DistributedDataParallel``.
With a world size of 1 (a plain ``python`` process) there is no process group and no wrapper.

Reproducibility and resume: the sampler's draws depend on ``(seed, epoch)``, and every step reseeds the
random generators (downsampling noise, dropout, gene draws) from ``(seed, step, rank)``; checkpoints hold
the optimizer and the schedule's state (plateau counters, best validation loss). A run resumed from its last
checkpoint therefore replays exactly the steps an uninterrupted run would have taken.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from scprint_graph.checkpoint import load_checkpoint, save_checkpoint
from scprint_graph.model import ScPrintModel, autocast_for, resolve_device
from scprint_graph.pretrain_tasks import PretrainObjective, TaskConfig
from scprint_graph.sampling import WeightedCellSampler

logger = logging.getLogger(__name__)

LAST_CHECKPOINT = "last.pt"
METRICS_FILE = "metrics.csv"
PRECISIONS = ("auto", "fp32", "bf16")
SCHEDULES = ("plateau", "cosine")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings of a pretraining run (defaults: scPRINT's, where it has one).

    Parameters
    ----------
    steps
        Total optimizer steps.
    batch_size
        Cells per step and per data-parallel rank (scPRINT: 64).
    lr, weight_decay, warmup_steps
        AdamW learning rate, weight decay and linear warm-up length. Defaults are scPRINT's effective
        values: lr 1e-4 (``scPrint(lr=1e-4)``; ``TrainingMode``'s 1e-3 never reaches the optimizer),
        weight decay 0.01, 500 warm-up steps.
    schedule
        After warm-up: ``"plateau"`` (scPRINT: ReduceLROnPlateau on the validation loss, multiplying the
        rate by ``plateau_factor`` after more than ``plateau_patience`` validations without improvement)
        or ``"cosine"`` (a cosine down to ``min_lr_ratio * lr`` at ``steps``; the demo config).
    plateau_factor, plateau_patience
        scPRINT: 0.6 and 1.
    early_stopping_patience
        Stop after this many validations in a row without a new best validation loss (scPRINT: 3, with
        Lightning's EarlyStopping); 0 turns it off.
    min_lr_ratio
        Floor of the cosine schedule, as a fraction of ``lr``.
    grad_clip
        Maximum global gradient norm (scPRINT: 100).
    cells_per_epoch
        Cells drawn per epoch (per rank); ``None``: the number of training cells.
    val_every, checkpoint_every, log_every
        In steps. Validation also runs after the last step. A validation is scPRINT's epoch end (an
        epoch of 7,000 batches there): the plateau schedule and early stopping count validations.
    val_batches
        Maximum validation batches per evaluation (``None``: all).
    precision
        ``auto`` (bf16 autocast on CUDA, fp32 on CPU), ``fp32`` or ``bf16``.
    seed
        Seed of the sampler, the noise and the initial weights.
    num_workers
        DataLoader worker processes.
    tasks
        The pretraining tasks and their loss weights.
    """

    steps: int = 1000
    batch_size: int = 64
    lr: float = 1e-4
    weight_decay: float = 0.01
    warmup_steps: int = 500
    schedule: str = "plateau"
    plateau_factor: float = 0.6
    plateau_patience: int = 1
    early_stopping_patience: int = 3
    min_lr_ratio: float = 0.1
    grad_clip: float = 100.0
    cells_per_epoch: int | None = None
    val_every: int = 200
    val_batches: int | None = 50
    checkpoint_every: int = 500
    log_every: int = 10
    precision: str = "auto"
    seed: int = 42
    num_workers: int = 0
    tasks: TaskConfig = field(default_factory=TaskConfig)

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "val_every", "checkpoint_every", "log_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                msg = f"{name} must be a positive integer, got {value!r}"
                raise ValueError(msg)
        if self.warmup_steps < 0 or self.num_workers < 0:
            msg = f"warmup_steps and num_workers must be >= 0, got {self.warmup_steps}, {self.num_workers}"
            raise ValueError(msg)
        if self.lr <= 0 or self.weight_decay < 0 or self.grad_clip <= 0:
            bad = {"lr": self.lr, "grad_clip": self.grad_clip, "weight_decay": self.weight_decay}
            msg = f"need lr > 0, grad_clip > 0 and weight_decay >= 0; got {bad}"
            raise ValueError(msg)
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            msg = f"min_lr_ratio must be in [0, 1], got {self.min_lr_ratio!r}"
            raise ValueError(msg)
        if self.schedule not in SCHEDULES:
            msg = f"schedule must be one of {SCHEDULES}, got {self.schedule!r}"
            raise ValueError(msg)
        if not 0.0 < self.plateau_factor < 1.0:
            msg = f"plateau_factor must be in (0, 1), got {self.plateau_factor!r}"
            raise ValueError(msg)
        for name in ("plateau_patience", "early_stopping_patience"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                msg = f"{name} must be an integer >= 0, got {value!r}"
                raise ValueError(msg)
        if self.precision not in PRECISIONS:
            msg = f"precision must be one of {PRECISIONS}, got {self.precision!r}"
            raise ValueError(msg)
        for name in ("cells_per_epoch", "val_batches"):
            value = getattr(self, name)
            if value is not None and value < 1:
                msg = f"{name} must be positive or None, got {value!r}"
                raise ValueError(msg)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["tasks"]["noise"] = list(self.tasks.noise)
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        values = dict(values)
        tasks = TaskConfig(**values.pop("tasks", {}))
        return cls(**values, tasks=tasks)


def warmup_rate(step: int, config: TrainConfig) -> float | None:
    """The learning rate of a warm-up step (linear to ``lr``, as scPRINT), None once warm-up is over."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    return None


def learning_rate(step: int, config: TrainConfig) -> float:
    """The cosine schedule: linear warm-up, then cosine decay to ``min_lr_ratio * lr`` at ``steps``."""
    warm = warmup_rate(step, config)
    if warm is not None:
        return warm
    span = max(1, config.steps - config.warmup_steps)
    progress = min(1.0, (step - config.warmup_steps) / span)
    floor = config.min_lr_ratio
    return config.lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


class LearningRateSchedule:
    """The learning rate per step and early stopping, with state saved in checkpoints for exact resume.

    Warm-up sets the rate of the first ``warmup_steps`` steps (overriding any plateau reduction, as
    scPRINT's ``optimizer_step`` does). Then the cosine schedule sets every step's rate, or the plateau
    schedule (torch's ReduceLROnPlateau, the class scPRINT uses) lowers it after validations, and early
    stopping counts validations without a strictly lower loss (Lightning's EarlyStopping rule).
    """

    def __init__(self, optimizer: torch.optim.Optimizer, config: TrainConfig):
        self.optimizer = optimizer
        self.config = config
        self.plateau = (
            torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer, mode="min", factor=config.plateau_factor, patience=config.plateau_patience
            )
            if config.schedule == "plateau"
            else None
        )
        self.best = math.inf
        self.bad_validations = 0
        self.stopped = False

    @property
    def watches_validation(self) -> bool:
        return self.plateau is not None or self.config.early_stopping_patience > 0

    def rate(self, step: int) -> float:
        """Set and return the learning rate of ``step``."""
        warm = warmup_rate(step, self.config)
        if warm is None and self.plateau is None:
            warm = learning_rate(step, self.config)
        if warm is not None:
            for group in self.optimizer.param_groups:
                group["lr"] = warm
        return float(self.optimizer.param_groups[0]["lr"])

    def validated(self, loss: float) -> None:
        """Record a validation loss: maybe lower the rate, maybe stop."""
        if self.plateau is not None:
            self.plateau.step(loss)
        if loss < self.best:
            self.best, self.bad_validations = loss, 0
        else:
            self.bad_validations += 1
        patience = self.config.early_stopping_patience
        self.stopped = patience > 0 and self.bad_validations >= patience

    def state_dict(self) -> dict[str, Any]:
        return {
            "plateau": self.plateau.state_dict() if self.plateau is not None else None,
            "best": self.best,
            "bad_validations": self.bad_validations,
            "stopped": self.stopped,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.plateau is not None and state.get("plateau") is not None:
            self.plateau.load_state_dict(state["plateau"])
        self.best = float(state["best"])
        self.bad_validations = int(state["bad_validations"])
        self.stopped = bool(state["stopped"])


@dataclass(frozen=True)
class DistributedContext:
    """Where this process sits in a data-parallel run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: torch.device) -> DistributedContext:
    """Join the torchrun process group when ``WORLD_SIZE`` > 1 (NCCL on CUDA, gloo on CPU); else no-op."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return DistributedContext()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistributedContext(rank=rank, world_size=world_size, local_rank=local_rank)


def _autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return autocast_for(device)


def _same_on_all_ranks(value: float, ctx: DistributedContext, device: torch.device) -> float:
    """Rank 0's value everywhere, so that every rank takes the same schedule and stopping decisions."""
    if ctx.world_size == 1:
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    dist.broadcast(tensor, src=0)
    return float(tensor.item())


def _to_device(batch: dict[str, Tensor], device: torch.device) -> dict[str, Tensor]:
    return {k: torch.as_tensor(v).to(device, non_blocking=True) for k, v in batch.items()}


def _seed_step(seed: int, step: int, rank: int, device: torch.device) -> torch.Generator:
    """Reseed torch and numpy for this step; return a generator (on ``device``) for the task noise."""
    value = (seed * 1_000_003 + step) * 1_009 + rank
    torch.manual_seed(value)
    np.random.seed(value % 2**32)
    return torch.Generator(device=device).manual_seed(value + 1)


class MetricsLog:
    """Append-only CSV of named scalars per step (one header; new columns extend it on rewrite)."""

    def __init__(self, path: Path, *, truncate_after: int | None = None):
        self.path = path
        self.rows: list[dict[str, Any]] = []
        self._columns: list[str] = []
        if path.exists():
            with path.open(newline="") as f:
                self.rows = [
                    r for r in csv.DictReader(f) if truncate_after is None or int(r["step"]) <= truncate_after
                ]

    def append(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        columns = list(dict.fromkeys(k for r in self.rows for k in r))
        if self.path.exists() and len(self.rows) > 1 and columns == self._columns:
            with self.path.open("a", newline="") as f:  # same header: append one line
                csv.DictWriter(f, fieldnames=columns).writerow(row)
            return
        self._columns = columns
        tmp = self.path.with_name(self.path.name + ".tmp")
        with tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            writer.writerows(self.rows)
        tmp.replace(self.path)


@dataclass
class TrainResult:
    """What :func:`pretrain` leaves behind."""

    checkpoint: Path
    steps: int
    last_train: dict[str, float]
    last_val: dict[str, float]
    seconds: float
    stopped_early: bool = False


def evaluate(
    objective: PretrainObjective,
    loader: DataLoader,
    device: torch.device,
    *,
    precision: str = "auto",
    max_batches: int | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """Mean of each loss term over (at most ``max_batches``) batches of ``loader``, in eval mode."""
    was_training = objective.training
    objective.eval()
    sums: dict[str, float] = {}
    n = 0
    generator = torch.Generator(device=device).manual_seed(seed)
    with torch.no_grad():
        for i, batch in enumerate(loader):
            if max_batches is not None and i >= max_batches:
                break
            with _autocast(device, precision):
                terms = objective(_to_device(batch, device), generator=generator)
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + float(v)
            n += 1
    objective.train(was_training)
    return {k: v / max(n, 1) for k, v in sums.items()}


def _batches(loader: DataLoader, sampler: WeightedCellSampler, start_step: int) -> Iterator[tuple[int, Any]]:
    """Endless (epoch, batch) stream positioned at ``start_step``; a resumed epoch skips the cells it used."""
    batch_size = loader.batch_size
    n = sampler.num_samples
    per_epoch = n // batch_size if loader.drop_last else math.ceil(n / batch_size)
    epoch, skip = divmod(start_step, per_epoch)
    while True:
        sampler.set_epoch(epoch, start=skip * batch_size)
        if hasattr(loader.dataset, "set_epoch"):  # new gene draws each epoch
            loader.dataset.set_epoch(epoch)
        for batch in loader:
            yield epoch, batch
        epoch, skip = epoch + 1, 0


def pretrain(
    model: ScPrintModel,
    genes: list[str],
    train_set: Dataset,
    val_set: Dataset | None,
    sample_weights: np.ndarray,
    out_dir: str | os.PathLike,
    *,
    config: TrainConfig,
    collate_fn: Callable | None = None,
    device: torch.device | None = None,
    resume: bool = True,
    stop_at: int | None = None,
    extra: dict[str, Any] | None = None,
) -> TrainResult:
    """Pretrain ``model`` on ``train_set`` with scPRINT's tasks; checkpoints and metrics go to ``out_dir``.

    Parameters
    ----------
    model
        The model to train (its config fixes the vocabulary size and label classes).
    genes
        The model's vocabulary (Ensembl ids), stored in every checkpoint.
    train_set, val_set
        Map-style datasets of tokenised cells; ``collate_fn`` turns a list of items into a batch dict keyed
        by :mod:`scprint_graph.keys` (default: torch's default collate).
    sample_weights
        (len(train_set),) label-balancing sampling weights.
    out_dir
        Receives ``last.pt`` (model + optimizer + step, every ``checkpoint_every`` steps and at the end),
        ``step-<N>.pt`` copies and ``metrics.csv``.
    resume
        Continue from ``out_dir/last.pt`` when it exists.
    stop_at
        Checkpoint and return after this step, as an interrupted run would (time-limited jobs, tests);
        the schedule still follows ``config.steps``.
    extra
        Plain values stored in the checkpoints (e.g. data provenance).
    """
    started = time.monotonic()
    device = resolve_device(device)
    ctx = init_distributed(device)
    if device.type == "cuda" and ctx.world_size > 1:
        device = torch.device("cuda", ctx.local_rank)
        torch.cuda.set_device(device)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if len(sample_weights) != len(train_set):
        msg = f"{len(sample_weights)} sample weights for {len(train_set)} training cells"
        raise ValueError(msg)

    model.to(device)
    objective = PretrainObjective(model, config.tasks)
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=config.lr, weight_decay=config.weight_decay
    )
    schedule = LearningRateSchedule(optimizer, config)
    if schedule.watches_validation and (val_set is None or len(val_set) == 0):
        msg = (
            f"schedule {config.schedule!r} / early_stopping_patience={config.early_stopping_patience} "
            "watch the validation loss but there are no validation cells: set val_fraction > 0, or "
            "schedule = 'cosine' and early_stopping_patience = 0"
        )
        raise ValueError(msg)
    start_step = 0
    last_path = out / LAST_CHECKPOINT
    if resume and last_path.exists():
        ckpt = load_checkpoint(last_path, genes=genes)
        model.load_state_dict(ckpt.model.state_dict())
        if ckpt.optimizer_state is None:
            msg = f"{last_path} holds no optimizer state: it is not a training checkpoint"
            raise ValueError(msg)
        optimizer.load_state_dict(ckpt.optimizer_state)
        if "schedule" in ckpt.extra:
            schedule.load_state_dict(ckpt.extra["schedule"])
        start_step = int(ckpt.extra["step"])
        logger.info("resuming from %s at step %d", last_path, start_step)
    wrapped: torch.nn.Module = objective
    if ctx.world_size > 1:
        unused = not (config.tasks.labels and config.tasks.bottleneck and model.config.classes)
        wrapped = DistributedDataParallel(
            objective,
            device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=unused,
        )

    cells = config.cells_per_epoch or len(train_set)
    sampler = WeightedCellSampler(
        sample_weights, cells, rank=ctx.rank, world_size=ctx.world_size, seed=config.seed
    )
    loader = DataLoader(
        train_set,
        batch_size=config.batch_size,
        sampler=sampler,
        collate_fn=collate_fn,
        num_workers=config.num_workers,
        drop_last=cells >= config.batch_size,
    )
    val_loader = (
        DataLoader(val_set, batch_size=config.batch_size, shuffle=False, collate_fn=collate_fn)
        if val_set is not None and len(val_set) > 0
        else None
    )
    metrics = MetricsLog(out / METRICS_FILE, truncate_after=start_step) if ctx.is_main else None
    meta = {**(extra or {}), "train_config": config.to_dict()}

    def checkpoint(step: int) -> None:
        if ctx.is_main:
            extra = {**meta, "step": step, "schedule": schedule.state_dict()}
            save_checkpoint(last_path, model, genes, optimizer=optimizer, extra=extra)

    last_train: dict[str, float] = {}
    last_val: dict[str, float] = {}
    objective.train()
    progress = tqdm(
        total=config.steps, initial=start_step, desc="pretrain", disable=not ctx.is_main, dynamic_ncols=True
    )
    stream = _batches(loader, sampler, start_step)
    end = config.steps if stop_at is None else min(stop_at, config.steps)
    if schedule.stopped:
        logger.info("%s: the run stopped early at step %d; nothing to resume", last_path, start_step)
        end = start_step
    for step in range(start_step, end):
        generator = _seed_step(
            config.seed, step, ctx.rank, device
        )  # before loading: tokenisation draws reproduce
        epoch, batch = next(stream)
        lr = schedule.rate(step)
        with _autocast(device, config.precision):
            terms = wrapped(_to_device(batch, device), generator=generator)
        optimizer.zero_grad(set_to_none=True)
        terms["loss"].backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        done = step + 1
        last_train = {k: float(v.detach()) for k, v in terms.items()}
        progress.update(1)
        progress.set_postfix({k: f"{v:.3f}" for k, v in last_train.items()})
        row: dict[str, Any] = {}
        if done % config.log_every == 0 or done == config.steps:
            row = {f"train_{k}": round(v, 6) for k, v in last_train.items()}
            row["grad_norm"] = round(float(grad_norm), 4)
        if val_loader is not None and (done % config.val_every == 0 or done == config.steps):
            last_val = evaluate(
                objective, val_loader, device, precision=config.precision, max_batches=config.val_batches
            )
            row.update({f"val_{k}": round(v, 6) for k, v in last_val.items()})
            logger.info("step %d validation: %s", done, {k: round(v, 4) for k, v in last_val.items()})
            schedule.validated(_same_on_all_ranks(last_val["loss"], ctx, device))
        if row and metrics is not None:
            metrics.append({"step": done, "epoch": epoch, "lr": lr, **row})
        if schedule.stopped:
            logger.info(
                "early stopping at step %d: %d validations without a lower loss (best %.4f)",
                done,
                schedule.bad_validations,
                schedule.best,
            )
            checkpoint(done)
            end = done
            break
        if done % config.checkpoint_every == 0 or done in (config.steps, end):
            checkpoint(done)
    progress.close()
    if ctx.world_size > 1:
        dist.barrier()
    return TrainResult(
        checkpoint=last_path,
        steps=max(end, start_step),
        last_train=last_train,
        last_val=last_val,
        seconds=time.monotonic() - started,
        stopped_early=schedule.stopped,
    )


def export_weights(source: str | os.PathLike, target: str | os.PathLike, *, half: bool = True) -> Path:
    """Write a training checkpoint as a release file: weights only (no optimizer state), fp16 by default.

    Loading casts the fp16 tensors back into an fp32 model (``load_checkpoint`` copies into its buffers).
    """
    ckpt = load_checkpoint(source)
    model = ckpt.model.half() if half else ckpt.model
    extra = {**ckpt.extra, "stored_dtype": "float16" if half else "float32", "source_sha256": ckpt.sha256}
    return save_checkpoint(target, model, ckpt.genes, optimizer=None, extra=extra)
