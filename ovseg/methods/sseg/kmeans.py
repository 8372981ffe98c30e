"""K-Means for pseudo-masks: a batched torch backend and a per-image faiss backend, same results.

Both backends run Lloyd's algorithm from the SAME starting centroids (batched k-means++ with a seeded
generator): ``iters`` rounds of assign + update, then a final assignment to the last centroids. On
the same data they return the same partition (up to floating-point ties). They differ only when a
cluster empties: faiss splits a large cluster at random, the torch backend moves the empty centroid
to the point farthest from its own centroid (deterministic).

* ``torch``: every image of the batch in one call, from batched matrix products
  (‖x‖² − 2 x·c + ‖c‖², argmin, one-hot matmul updates): the accelerator path. On CPUs it also
  runs in cache-sized chunks of images and, after the first round, updates the cluster sums from
  the points that changed cluster only (the same sums up to rounding), stopping at a fixed point.
* ``faiss``: ``faiss.Clustering`` once per image: a CPU path.
* ``auto``: torch on accelerators, and on CPUs whichever ``CPU_AUTO_BACKEND`` names: torch, the
  faster there too (``benchmarks/sseg_speed.py``, 128 × 784 × 384-d, K = 8, 20 rounds on 2 cores:
  ~0.21 s for torch, ~0.54 s for faiss).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ovseg.errors import OvsegUserError

KMEANS_BACKENDS = ("auto", "torch", "faiss")
CPU_AUTO_BACKEND = "torch"  # measured faster than faiss on CPUs too (benchmarks/sseg_speed.py)
CPU_CHUNK_BYTES = 16 * 2**20
TRANSPOSE_BLOCK = 64


@dataclass
class KMeansResult:
    """Cluster ids, centroids and the sum of squared distances of each image."""

    labels: torch.Tensor  # (B, M) int64
    centroids: torch.Tensor  # (B, K, D) float32
    inertia: torch.Tensor  # (B,) float32


def resolve_backend(backend: str, device: torch.device | str) -> str:
    """The concrete backend ("torch" or "faiss") that ``backend`` means on ``device``."""
    if backend not in KMEANS_BACKENDS:
        raise OvsegUserError(
            f"unknown K-Means backend '{backend}'. Valid values: {', '.join(KMEANS_BACKENDS)}."
        )
    if backend != "auto":
        return backend
    return "torch" if torch.device(device).type != "cpu" else CPU_AUTO_BACKEND


def _seeding_draws(batch: int, count: int, k: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The random numbers of k-means++ for a whole batch, from a CPU generator seeded with ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    first = torch.randint(count, (batch,), generator=generator)  # (B,)
    draws = torch.rand(batch, k, generator=generator, dtype=torch.float64)  # (B, K)
    return first, draws


def _plusplus(
    x: torch.Tensor, x_t: torch.Tensor, squared: torch.Tensor, first: torch.Tensor, draws: torch.Tensor
) -> torch.Tensor:
    """k-means++ seeding of (b, M, D) points (``x_t`` = (b, D, M), ``squared`` = ‖x‖² (b, M))."""
    batch, count, _ = x.shape
    rows = torch.arange(batch, device=x.device)  # (b,)
    chosen = [x[rows, first.to(x.device)]]  # K × (b, D)
    draws = draws.to(x.device)
    nearest = torch.full_like(squared, float("inf"))  # (b, M)
    for step in range(1, draws.shape[1]):
        centre = chosen[-1][:, None, :]  # (b, 1, D)
        norm = (centre * centre).sum(-1, keepdim=True)  # (b, 1, 1)
        distance = torch.baddbmm(norm, centre, x_t, alpha=-2.0)[:, 0] + squared  # (b, M)
        nearest = torch.minimum(nearest, distance.clamp(min=0))  # (b, M)
        cumulative = nearest.double().cumsum(-1)  # (b, M)
        target = draws[:, step : step + 1] * cumulative[:, -1:]  # (b, 1)
        index = torch.searchsorted(cumulative, target, right=True).clamp(max=count - 1)[:, 0]  # (b,)
        chosen.append(x[rows, index])
    return torch.stack(chosen, dim=1)  # (b, K, D)


def kmeans_plusplus_init(x: torch.Tensor, k: int, seed: int = 0) -> torch.Tensor:
    """Batched k-means++ seeding (Arthur & Vassilvitskii 2007): (B, M, D) points → (B, K, D) centroids.

    Each next centroid is a point drawn with probability ∝ its squared distance to the nearest
    centroid so far. The draws come from a CPU generator seeded with ``seed``, so every device, chunk
    size and backend starts from the same centroids.
    """
    x = x.float().contiguous()
    first, draws = _seeding_draws(x.shape[0], x.shape[1], k, seed)
    step = default_chunk_size(x)
    buffer = x.new_empty(min(step, x.shape[0]), x.shape[2], x.shape[1])  # (b, D, M)
    parts = []
    for i in range(0, x.shape[0], step):
        chunk = x[i : i + step]
        x_t = _transpose_into(chunk, buffer[: chunk.shape[0]])
        parts.append(_plusplus(chunk, x_t, _squared_norms(chunk), first[i : i + step], draws[i : i + step]))
    return torch.cat(parts)


def _transpose_into(x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """(b, M, D) → ``out`` (b, D, M), copied in blocks of points (twice as fast as one copy on CPUs)."""
    for start in range(0, x.shape[1], TRANSPOSE_BLOCK):
        out[:, :, start : start + TRANSPOSE_BLOCK].copy_(
            x[:, start : start + TRANSPOSE_BLOCK].transpose(1, 2)
        )
    return out


def _squared_norms(x: torch.Tensor) -> torch.Tensor:
    """‖x‖² of every point, (b, M, D) → (b, M), without a temporary as large as ``x``."""
    return torch.linalg.vector_norm(x, dim=-1).square()


def _assign(x_t: torch.Tensor, centroids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest centroid of every point, and ‖c‖² − 2 x·c there (the squared distance minus ‖x‖²)."""
    norms = (centroids * centroids).sum(-1, keepdim=True)  # (b, K, 1)
    partial = torch.baddbmm(norms, centroids, x_t, alpha=-2.0)  # (b, K, M): (K, D) @ (D, M) is fastest
    best, labels = partial.min(dim=1)  # (b, M) each
    return labels, best


def _cluster_sums(x: torch.Tensor, labels: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per cluster the sum and the number of its points: (b, K, D), (b, K), from a one-hot matmul."""
    one_hot = (labels[:, None, :] == torch.arange(k, device=x.device)[None, :, None]).to(x.dtype)  # (b, K, M)
    return torch.bmm(one_hot, x), one_hot.sum(-1)


def _move_points(
    x: torch.Tensor, labels: torch.Tensor, previous: torch.Tensor, sums: torch.Tensor, counts: torch.Tensor
) -> int:
    """Update ``sums`` and ``counts`` in place for the points whose cluster changed (few, after the
    first rounds): the same totals as ``_cluster_sums`` without another pass over every point.
    Returns how many points moved."""
    image, point = (labels != previous).nonzero(as_tuple=True)  # (P,) each
    if image.numel() == 0:
        return 0
    k, dim = sums.shape[1:]
    moved = x[image, point]  # (P, D)
    into, out_of = image * k + labels[image, point], image * k + previous[image, point]  # (P,) each
    flat_sums, flat_counts = sums.view(-1, dim), counts.view(-1)  # (b*K, D), (b*K,)
    flat_sums.index_add_(0, into, moved).index_add_(0, out_of, moved, alpha=-1)
    ones = torch.ones_like(into, dtype=counts.dtype)  # (P,)
    flat_counts.index_add_(0, into, ones).index_add_(0, out_of, ones, alpha=-1)
    return image.numel()


def _means(x: torch.Tensor, sums: torch.Tensor, counts: torch.Tensor, distance: torch.Tensor) -> torch.Tensor:
    """Centroids = means of their points; an empty one moves to the farthest point not yet taken."""
    k = sums.shape[1]
    means = sums / counts.clamp(min=1)[..., None]  # (b, K, D)
    empty = counts == 0  # (b, K)
    if x.device.type == "cpu" and not bool(empty.any()):  # (accelerators skip the host sync)
        return means
    farthest = distance.topk(k, dim=1).indices  # (b, K): points far from their centroid, farthest first
    rank = (empty.cumsum(-1) - 1).clamp(min=0)  # (b, K): the i-th empty cluster takes the i-th point
    picks = farthest.gather(1, rank)  # (b, K)
    relocated = x.gather(1, picks[..., None].expand(-1, -1, x.shape[-1]))  # (b, K, D)
    return torch.where(empty[..., None], relocated, means)  # (b, K, D)


def _lloyd(
    x: torch.Tensor,
    k: int,
    iters: int,
    init: torch.Tensor | None,
    draws: tuple[torch.Tensor, torch.Tensor],
    x_t: torch.Tensor,
    incremental: bool,
) -> tuple[torch.Tensor, ...]:
    """Seeding (unless ``init``), ``iters`` rounds, final assignment, for one chunk of images.

    ``x_t`` is a (b, D, M) buffer for the transposed points (reused across chunks). With
    ``incremental`` the cluster sums after the first round follow only the points that moved, and
    the rounds stop once no point moves (a fixed point: the result of all ``iters`` rounds).
    """
    _transpose_into(x, x_t)  # (b, D, M)
    squared = _squared_norms(x)  # (b, M)
    centroids = _plusplus(x, x_t, squared, *draws) if init is None else init.to(x).contiguous()
    previous = None
    for _ in range(iters):
        labels, best = _assign(x_t, centroids)
        if previous is None or not incremental:
            sums, counts = _cluster_sums(x, labels, k)
        elif _move_points(x, labels, previous, sums, counts) == 0:
            break  # nothing moved: every further round would give these centroids again
        centroids = _means(x, sums, counts, best + squared)
        previous = labels
    labels, best = _assign(x_t, centroids)  # the final assignment, to the last centroids
    inertia = (best + squared).clamp(min=0).sum(-1)  # (b,)
    return labels, centroids, inertia


def default_chunk_size(x: torch.Tensor) -> int:
    """Images per pass: the whole batch on accelerators; on CPUs about 16 MB of points, cache-sized."""
    if x.device.type != "cpu":
        return x.shape[0]
    per_image = x.shape[1] * x.shape[2] * 4
    return max(1, min(x.shape[0], CPU_CHUNK_BYTES // per_image))


def torch_kmeans(
    x: torch.Tensor,
    k: int,
    iters: int = 20,
    init: torch.Tensor | None = None,
    seed: int = 0,
    chunk_size: int | None = None,
    incremental: bool | None = None,
) -> KMeansResult:
    """Lloyd's K-Means on every image of a batch in one call.

    Args:
        x: (B, M, D) points per image.
        k: clusters per image.
        iters: assign + update rounds.
        init: (B, K, D) starting centroids; None: batched k-means++ from ``seed``.
        seed: seed of the k-means++ draws.
        chunk_size: images per pass (None: ``default_chunk_size``). Chunks change the speed only.
        incremental: update cluster sums from the points that moved (None: on CPUs, where a pass
            over every point costs most; accelerators recompute them, with no host synchronisation).
    """
    x = x.float().contiguous()
    step = chunk_size or default_chunk_size(x)
    incremental = x.device.type == "cpu" if incremental is None else incremental
    first, draws = _seeding_draws(x.shape[0], x.shape[1], k, seed)
    buffer = x.new_empty(min(step, x.shape[0]), x.shape[2], x.shape[1])  # (b, D, M)
    parts = []
    for i in range(0, x.shape[0], step):
        chunk = x[i : i + step]
        part_init = None if init is None else init[i : i + step]
        part_draws = (first[i : i + step], draws[i : i + step])
        parts.append(_lloyd(chunk, k, iters, part_init, part_draws, buffer[: chunk.shape[0]], incremental))
    labels, centroids, inertia = (torch.cat(p) for p in zip(*parts, strict=True))
    return KMeansResult(labels, centroids, inertia)


def faiss_kmeans(
    x: torch.Tensor, k: int, iters: int = 20, init: torch.Tensor | None = None, seed: int = 0
) -> KMeansResult:
    """Lloyd's K-Means with ``faiss.Clustering``, one call per image, from the same seeding."""
    import faiss

    x = x.float()
    init = kmeans_plusplus_init(x, k, seed) if init is None else init.float()
    points = np.ascontiguousarray(x.detach().cpu().numpy())  # (B, M, D)
    starts = np.ascontiguousarray(init.detach().cpu().numpy())  # (B, K, D)
    batch, count, dim = points.shape
    params = faiss.ClusteringParameters()
    params.niter = iters
    params.seed = seed
    params.max_points_per_centroid = max(count, 1)  # never subsample
    params.min_points_per_centroid = 1
    labels = np.empty((batch, count), dtype=np.int64)
    centroids = np.empty((batch, k, dim), dtype=np.float32)
    inertia = np.empty(batch, dtype=np.float32)
    for b in range(batch):
        clustering = faiss.Clustering(dim, k, params)
        faiss.copy_array_to_vector(starts[b].ravel(), clustering.centroids)
        index = faiss.IndexFlatL2(dim)
        clustering.train(points[b], index)  # leaves the last centroids in the index
        distances, nearest = index.search(points[b], 1)  # (M, 1) each
        labels[b] = nearest[:, 0]
        centroids[b] = faiss.vector_to_array(clustering.centroids).reshape(k, dim)
        inertia[b] = distances.sum()
    device = x.device
    return KMeansResult(
        torch.from_numpy(labels).to(device),
        torch.from_numpy(centroids).to(device),
        torch.from_numpy(inertia).to(device),
    )


def kmeans(x: torch.Tensor, k: int, iters: int = 20, backend: str = "auto", seed: int = 0) -> KMeansResult:
    """K-Means of each image's (M, D) points: (B, M, D) → labels (B, M), with the chosen backend."""
    if x.dim() != 3:
        raise ValueError(f"kmeans expects (B, M, D) points, got shape {tuple(x.shape)}.")
    if x.shape[1] < k:
        raise ValueError(f"kmeans needs at least k={k} points per image, got {x.shape[1]}.")
    with torch.autocast(x.device.type, enabled=False):
        if resolve_backend(backend, x.device) == "faiss":
            return faiss_kmeans(x, k, iters, seed=seed)
        return torch_kmeans(x, k, iters, seed=seed)
