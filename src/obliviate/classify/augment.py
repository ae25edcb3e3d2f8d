"""Training-time augmentation of image batches, on the batch's own device.

``crop_flip`` is the CIFAR recipe of the SalUn / l1-sparse papers (torchvision's
``RandomCrop(32, padding=4)`` then ``RandomHorizontalFlip()``, applied to pixels
before normalisation): each image is zero-padded by ``padding`` on every side, a
window of the original size is cut at a uniformly random offset, and the result is
mirrored left-right with probability 1/2. Vectorised over the batch; the random
draws come from the caller's generator, so a seed gives the same crops everywhere.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def crop_flip(x: torch.Tensor, generator: torch.Generator, padding: int = 4) -> torch.Tensor:
    """Random crop with zero padding and horizontal flip of images ``x`` (N, C, H, W)."""
    n, _, h, w = x.shape
    offsets = torch.randint(0, 2 * padding + 1, (2, n), generator=generator).to(x.device)
    flips = (torch.rand(n, generator=generator) < 0.5).to(x.device)
    padded = F.pad(x, (padding, padding, padding, padding))
    rows = offsets[0][:, None] + torch.arange(h, device=x.device)  # (N, H)
    cols = offsets[1][:, None] + torch.arange(w, device=x.device)  # (N, W)
    cols = torch.where(flips[:, None], cols.flip(1), cols)
    batch = torch.arange(n, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


AUGMENTATIONS = {"none": None, "crop_flip": crop_flip}
