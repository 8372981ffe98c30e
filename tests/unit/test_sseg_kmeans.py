"""S-Seg's K-Means: torch and faiss backends agree; the torch backend clusters a batch in one call."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from ovseg.errors import OvsegUserError
from ovseg.methods.sseg import kmeans as kmeans_module
from ovseg.methods.sseg.kmeans import (
    faiss_kmeans,
    kmeans,
    kmeans_plusplus_init,
    resolve_backend,
    torch_kmeans,
)


def blobs(batch: int, k: int, per_cluster: int, dim: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Well-separated clusters: (B, k*per_cluster, dim) points and their true ids, shuffled."""
    generator = torch.Generator().manual_seed(seed)
    centres = torch.randn(batch, k, dim, generator=generator) * 20  # (B, k, D)
    ids = torch.arange(k).repeat_interleave(per_cluster)  # (M,)
    points = centres[:, ids] + torch.randn(batch, ids.numel(), dim, generator=generator)  # (B, M, D)
    order = torch.randperm(ids.numel(), generator=generator)
    return points[:, order], ids[order].expand(batch, -1)


def same_partition(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal up to relabelling: the pairs (a_i, b_i) form a one-to-one map."""
    pairs = set(zip(a.tolist(), b.tolist(), strict=True))
    return len(pairs) == len({x for x, _ in pairs}) == len({y for _, y in pairs})


def brute_inertia(points: torch.Tensor, labels: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    return ((points - centroids[labels]) ** 2).sum()


def test_backends_find_the_same_partition_on_well_separated_data():
    points, truth = blobs(batch=6, k=8, per_cluster=40, dim=16)
    by_torch = kmeans(points, 8, iters=20, backend="torch")
    by_faiss = kmeans(points, 8, iters=20, backend="faiss")
    for b in range(points.shape[0]):
        assert same_partition(by_torch.labels[b], by_faiss.labels[b])
    found = sum(same_partition(by_torch.labels[b], truth[b]) for b in range(points.shape[0]))
    assert found >= points.shape[0] - 1  # k-means++ nearly always finds every blob


def test_backends_agree_on_random_data_within_one_percent():
    points = torch.randn(8, 784, 64, generator=torch.Generator().manual_seed(1))
    by_torch = kmeans(points, 8, iters=20, backend="torch")
    by_faiss = kmeans(points, 8, iters=20, backend="faiss")
    relative = (by_torch.inertia - by_faiss.inertia).abs() / by_faiss.inertia
    assert float(relative.max()) < 0.01
    for b in range(points.shape[0]):  # both report the inertia of their own labels and centroids
        expected = brute_inertia(points[b], by_torch.labels[b], by_torch.centroids[b])
        assert float(by_torch.inertia[b]) == pytest.approx(float(expected), rel=1e-4)


def test_torch_backend_clusters_the_whole_batch_in_one_call(monkeypatch):
    calls = []
    original = kmeans_module._lloyd
    monkeypatch.setattr(
        kmeans_module, "_lloyd", lambda *a, **k: calls.append(a[0].shape) or original(*a, **k)
    )
    points, _ = blobs(batch=12, k=4, per_cluster=20, dim=8)
    result = torch_kmeans(points, 4, iters=5, chunk_size=None)
    assert calls == [torch.Size([12, 80, 8])]  # one pass over all 12 images
    assert result.labels.shape == (12, 80) and result.centroids.shape == (12, 4, 8)


def test_chunks_and_incremental_sums_change_nothing_but_speed():
    points = torch.randn(10, 100, 12, generator=torch.Generator().manual_seed(2))
    whole = torch_kmeans(points, 5, iters=8, chunk_size=10, incremental=False)
    chunked = torch_kmeans(points, 5, iters=8, chunk_size=3, incremental=False)
    incremental = torch_kmeans(points, 5, iters=8, chunk_size=4, incremental=True)
    for other in (chunked, incremental):
        assert torch.equal(whole.labels, other.labels)
        torch.testing.assert_close(whole.centroids, other.centroids)


def test_lloyd_matches_a_plain_reference_loop():
    points = torch.randn(3, 60, 4, generator=torch.Generator().manual_seed(3))
    init = kmeans_plusplus_init(points, 3, seed=5)
    result = torch_kmeans(points, 3, iters=6, init=init)
    for b in range(3):
        centroids = init[b].clone()
        for _ in range(6):
            labels = torch.cdist(points[b], centroids).argmin(1)
            centroids = torch.stack([points[b][labels == j].mean(0) for j in range(3)])
        assert torch.equal(torch.cdist(points[b], centroids).argmin(1), result.labels[b])


def test_kmeans_plusplus_picks_distinct_data_points_deterministically():
    points, _ = blobs(batch=3, k=6, per_cluster=10, dim=5)
    first = kmeans_plusplus_init(points, 6, seed=7)
    assert torch.equal(first, kmeans_plusplus_init(points, 6, seed=7))
    for b in range(3):
        rows = [int((points[b] == c).all(-1).nonzero()[0, 0]) for c in first[b]]
        assert len(set(rows)) == 6


def test_empty_cluster_moves_to_the_farthest_point():
    points = torch.tensor([[[0.0], [0.1], [10.0], [10.2]]])  # (1, 4, 1)
    init = torch.tensor([[[0.05], [100.0]]])  # the second centroid catches nothing
    result = torch_kmeans(points, 2, iters=3, init=init)
    assert same_partition(result.labels[0], torch.tensor([0, 0, 1, 1]))


def test_auto_backend_and_unknown_names():
    assert resolve_backend("auto", "cpu") in ("torch", "faiss")
    assert resolve_backend("auto", "cuda") == "torch"
    assert resolve_backend("faiss", "cpu") == "faiss"
    with pytest.raises(OvsegUserError, match="auto, torch, faiss"):
        resolve_backend("sklearn", "cpu")


@pytest.mark.parametrize(("m", "k"), list(itertools.product([9, 50], [2, 8])))
def test_faiss_backend_shapes(m, k):
    points = torch.randn(2, m, 3, generator=torch.Generator().manual_seed(m))
    result = faiss_kmeans(points, k, iters=4)
    assert result.labels.shape == (2, m) and result.labels.max() < k
    assert np.isfinite(result.inertia.numpy()).all()
