"""What an ingestion run did per dataset (added, replaced, unchanged, failed), timings, a summary table."""

from dataclasses import asdict, dataclass, field
from datetime import datetime

STATUSES = ("added", "replaced", "unchanged", "empty", "failed")


@dataclass
class DatasetOutcome:
    """One dataset's fate in a run.

    ``status``: ``added`` (first networks), ``replaced`` (a changed dataset's networks were replaced),
    ``unchanged`` (idempotency key already published), ``empty`` (valid, but every group was under
    ``min_cells``), ``failed`` (validation or model error; published networks untouched).
    """

    key: str
    title: str
    version: str
    status: str = "failed"
    n_cells: int = 0
    n_model_cells: int = 0
    n_groups: int = 0
    n_networks: int = 0
    n_edges: int = 0
    n_replaced: int = 0
    seconds: float = 0.0
    model_seconds: float = 0.0
    error: str | None = None
    skipped_groups: list[dict] = field(default_factory=list)
    failed_groups: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            msg = f"unknown dataset status {self.status!r}; choose from {STATUSES}"
            raise ValueError(msg)


@dataclass
class RunReport:
    """A whole run: dataset outcomes, sources that could not be listed, the release it published."""

    started_at: datetime
    finished_at: datetime | None = None
    release_id: str | None = None
    outcomes: list[DatasetOutcome] = field(default_factory=list)
    source_errors: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def by_status(self, status: str) -> list[DatasetOutcome]:
        return [o for o in self.outcomes if o.status == status]

    @property
    def n_networks(self) -> int:
        return sum(o.n_networks for o in self.outcomes)

    @property
    def n_edges(self) -> int:
        return sum(o.n_edges for o in self.outcomes)

    @property
    def n_cells(self) -> int:
        """Cells in the groups of the datasets written in this run."""
        return sum(o.n_cells for o in self.outcomes if o.status in ("added", "replaced"))

    @property
    def n_model_cells(self) -> int:
        """Cells that went through the model (at most ``max_cells`` per group)."""
        return sum(o.n_model_cells for o in self.outcomes if o.status in ("added", "replaced"))

    @property
    def ok(self) -> bool:
        """No dataset and no source failed."""
        return not self.by_status("failed") and not self.source_errors

    @property
    def status(self) -> str:
        if self.ok:
            return "ok"
        return "partial" if any(o.status != "failed" for o in self.outcomes) else "failed"

    def counts(self) -> dict[str, int]:
        return {s: len(self.by_status(s)) for s in STATUSES}

    def to_dict(self) -> dict:
        """Plain values (JSON): recorded in the release's run table and written by ``--report``."""
        out = asdict(self)
        out["started_at"] = self.started_at.isoformat()
        out["finished_at"] = self.finished_at.isoformat() if self.finished_at else None
        out["counts"] = self.counts()
        out["status"] = self.status
        return out

    def summary_table(self) -> str:
        """A fixed-width table, one row per dataset, then totals and failures."""
        header = ("dataset", "status", "cells", "groups", "skipped", "networks", "edges", "seconds")
        rows = [
            (
                _clip(o.key, 48),
                o.status,
                str(o.n_cells),
                str(o.n_groups),
                str(len(o.skipped_groups)),
                str(o.n_networks),
                str(o.n_edges),
                f"{o.seconds:.1f}",
            )
            for o in self.outcomes
        ]
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in [header, *rows]]
        lines.insert(1, "  ".join("-" * w for w in widths))
        counts = ", ".join(f"{n} {s}" for s, n in self.counts().items() if n)
        lines.append(
            f"{len(self.outcomes)} datasets ({counts or 'none'}); "
            f"{self.n_networks} networks, {self.n_edges} edges; "
            f"{self.seconds:.1f} s; release {self.release_id or 'not changed'}"
        )
        for o in self.by_status("failed"):
            lines.append(f"FAILED {o.key}: {o.error}")
        for name, error in self.source_errors.items():
            lines.append(f"SOURCE FAILED {name}: {error}")
        return "\n".join(lines)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else "..." + text[-(width - 3) :]
