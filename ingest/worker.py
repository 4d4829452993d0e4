"""The model side of ingestion: a checkpoint loaded once on the best device, turning groups into networks.

One ``ModelWorker`` lives in the ingesting process (local executor) or in each Ray actor. The device is the
GPU when present (fp32 unless the network parameters ask for bf16) and the CPU otherwise (fp32).
"""

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import anndata as ad
import numpy as np
import torch

from ingest.columns import ColumnMap, dataset_organism
from scprint_graph.checkpoint import Checkpoint, checkpoint_vocabulary
from scprint_graph.errors import InputError
from scprint_graph.genes import find_organism
from scprint_graph.grn import extract_network
from scprint_graph.grn_core import GeneNetwork
from scprint_graph.grn_params import GrnParams
from scprint_graph.model import resolve_device
from scprint_graph.official import load_any_checkpoint
from scprint_graph.v2.grn import extract_network_v2
from scprint_graph.v2.neighbors import NeighborGraph, neighbor_graph
from scprint_graph.v2.official import family_of

logger = logging.getLogger(__name__)


def counts_layer(cmap: ColumnMap) -> str | None:
    """The layer name the extraction reads, or None for X (``raw`` is handled by ``group_counts``)."""
    return cmap.counts.removeprefix("layers/") if cmap.counts.startswith("layers/") else None


def group_counts(adata: ad.AnnData, cells: np.ndarray, cmap: ColumnMap) -> ad.AnnData:
    """The group's rows in memory, with the raw counts where ``extract_network`` reads them.

    From a backed file only these rows are read (one sorted fancy index); ``raw`` datasets are rebuilt around
    ``raw.X`` so that X holds the counts.
    """
    group = adata[cells]
    if cmap.counts == "raw":
        return ad.AnnData(X=group.raw.X, obs=group.obs.copy(), var=group.raw.var.copy())
    return group.to_memory() if group.isbacked else group.copy()


@dataclass(frozen=True)
class NetworkResult:
    """One group's network, or why it failed, with its timing."""

    index: int
    network: GeneNetwork | None
    seconds: float
    error: str | None = None


class ModelWorker:
    """A checkpoint on a device; ``compute`` extracts a group's network.

    Parameters
    ----------
    loaded
        A loaded checkpoint (config, vocabulary, weights).
    device
        See ``scprint_graph.model.resolve_device``.
    batch_size
        Cells per forward pass.
    params
        Network parameters (``GrnParams.from_dict`` values, as the config's [params]).
    """

    def __init__(
        self,
        loaded: Checkpoint,
        *,
        device: str = "auto",
        batch_size: int = 32,
        params: dict | None = None,
    ) -> None:
        self.device = resolve_device(device)
        self.model = loaded.model.to(self.device).eval()
        self.vocab, self.organisms = checkpoint_vocabulary(loaded)
        self.checkpoint_hash = loaded.sha256
        self.config = loaded.model.config
        self.family = family_of(loaded.model)  # "scprint" | "scprint2": v2 also needs a neighbour graph
        self._graph: tuple[ad.AnnData, NeighborGraph] | None = None  # the last dataset's, computed once
        self.batch_size = batch_size
        self.params = GrnParams.from_dict(params or {})
        logger.info(
            "model on %s (%s), %d genes in its vocabulary",
            self.device,
            self.params.precision if self.device.type == "cuda" else "fp32",
            len(self.vocab),
        )

    @classmethod
    def from_file(cls, checkpoint: str | Path, **options) -> "ModelWorker":
        """Load a checkpoint file and place it on the device."""
        started = time.perf_counter()
        loaded = load_any_checkpoint(checkpoint)
        logger.info("loaded %s in %.1f s", Path(checkpoint).name, time.perf_counter() - started)
        return cls(loaded, **options)

    def match_organism(self, organism: str) -> str | None:
        """The organism name to match a dataset's genes by, or None (a vocabulary of unknown organisms).

        An organism the checkpoint's vocabulary does not hold is an ``InputError`` naming those it does.
        """
        if not self.organisms:
            return None
        wanted = find_organism(organism)
        for known in self.organisms:
            if known.term_id == wanted.term_id:
                return known.name
        names = ", ".join(o.label for o in self.organisms)
        msg = f"organism {wanted.label} is not in the checkpoint's vocabulary, which knows {names}"
        raise InputError(msg)

    def dataset_graph(self, adata: ad.AnnData, cmap: ColumnMap) -> NeighborGraph:
        """scPRINT-2's kNN graph of the whole dataset: computed (or read from obsp) once per dataset."""
        if self._graph is None or self._graph[0] is not adata:
            counts = adata.raw.X if cmap.counts == "raw" else None
            self._graph = (adata, neighbor_graph(adata, layer=counts_layer(cmap), counts=counts))
        return self._graph[1]

    def compute(self, adata: ad.AnnData, cells: np.ndarray, cmap: ColumnMap) -> GeneNetwork:
        """The network of the given cells (sorted row positions of ``adata``), of the dataset's organism."""
        organism = self.match_organism(dataset_organism(adata.obs, cmap))
        if self.family == "scprint2":
            with torch.inference_mode():
                return extract_network_v2(
                    self.model,
                    group_counts(adata, cells, cmap),
                    self.vocab,
                    self.params,
                    neighbors=self.dataset_graph(adata, cmap).subset(cells),
                    organism=organism,
                    gene_column=cmap.gene_col,
                    layer=counts_layer(cmap),
                    batch_size=self.batch_size,
                    progress=False,
                )
        with torch.inference_mode():
            return extract_network(
                self.model,
                group_counts(adata, cells, cmap),
                self.vocab,
                self.params,
                gene_column=cmap.gene_col,
                layer=counts_layer(cmap),
                batch_size=self.batch_size,
                progress=False,
            )
