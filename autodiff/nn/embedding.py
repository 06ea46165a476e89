"""Embedding: a lookup table of learned vectors, indexed by integer ids.

``Embedding(num_embeddings, embedding_dim)`` holds ``weight`` of shape
``(num_embeddings, embedding_dim)``, initialised from ``N(0, 1)`` as in torch; ``layer(ids)`` is
``weight[ids]``, of shape ``ids.shape + (embedding_dim,)``.  The lookup is indexing, so its
gradient is the sparse scatter-add of the output cotangent into the rows used (a one-hot matrix
product, Goodfellow, Bengio and Courville, *Deep Learning*, section 12.4.1, without forming the
one-hot matrix).  The row ``padding_idx`` (if given) starts at zero and receives no gradient.

>>> import numpy as np, autodiff as ad
>>> table = ad.nn.Embedding(10, 3, rng=0)
>>> table(np.array([[1, 2], [4, 9]])).shape
(2, 2, 3)
"""

from __future__ import annotations

import numpy as np

from .. import numpy_api as api
from ..rules.primitive import Traced
from ..validation import positive_int
from .init import as_generator
from .module import Module, Parameter

__all__ = ["Embedding"]


class Embedding(Module):
    """``weight[ids]``: one learned row of length ``embedding_dim`` per id in
    ``0 .. num_embeddings - 1``; ``padding_idx`` names a row kept at zero gradient."""

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, rng=None,
                 dtype=np.float64):
        super().__init__()
        self.num_embeddings = positive_int(num_embeddings, "num_embeddings")
        self.embedding_dim = positive_int(embedding_dim, "embedding_dim")
        if padding_idx is not None:
            padding_idx = int(padding_idx)
            if not -self.num_embeddings <= padding_idx < self.num_embeddings:
                raise ValueError(
                    f"Invalid padding_idx: {padding_idx} (padding_idx must lie in "
                    f"-{self.num_embeddings} .. {self.num_embeddings - 1})"
                )
            padding_idx %= self.num_embeddings
        self.padding_idx = padding_idx
        weight = as_generator(rng).standard_normal((self.num_embeddings, self.embedding_dim))
        if padding_idx is not None:
            weight[padding_idx] = 0.0
        self.weight = Parameter(weight.astype(dtype))

    def forward(self, ids):
        if isinstance(ids, Traced):
            raise TypeError("Embedding takes integer ids, not a traced value")
        ids = np.asarray(ids)
        if ids.dtype == bool or not np.issubdtype(ids.dtype, np.integer):
            raise TypeError(f"Embedding takes integer ids, got an array of dtype {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.num_embeddings):
            raise IndexError(
                f"Embedding({self.num_embeddings}, {self.embedding_dim}): ids must lie in "
                f"0 .. {self.num_embeddings - 1}, got values from {ids.min()} to {ids.max()}"
            )
        rows = self.weight[ids]
        if self.padding_idx is None or not np.any(ids == self.padding_idx):
            return rows
        padded = (ids == self.padding_idx)[..., None]
        return api.where(padded, api.stop_gradient(rows), rows)

    def extra_repr(self) -> str:
        padding = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}{padding}"
