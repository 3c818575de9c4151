"""Augmentation presets, one per paper, that run on whole batches of tensors on the training device.

``build_augment("cifar", generator, in_chans=3, image_size=(32, 32))`` returns
a callable ``(N, C, H, W) -> (N, C, h, w)`` applied to each training batch
(values in [0, 1], before normalisation); ``"none"`` is the identity. Running
on batches avoids a per-image Python loop, which for small images costs more
than the network itself.

=========  ====================================================================
none       identity
digits     small random affine jitter (rotation, scale, shift) for handwriting
alexnet    random crop of 224/256 of the side, horizontal flip, PCA colour
           lighting with σ = 0.1 on the training set's RGB eigenbasis (AlexNet §4.1)
vgg        scale jittering: the image rescaled so its side is S ∈ [256, 512]
           (relative to a 256 input), then a random 224/256 crop, flip (VGG §3.1)
inception  random-resized crop of 8–100% of the area, aspect ratio 3/4–4/3, flip,
           colour jitter 0.4 (GoogLeNet §6; Howard 2013's photometric distortions)
cifar      4-pixel zero padding, random crop back to the input size, flip (ResNet §4.2)
d2l        flip, random-resized crop (area 10–100%, aspect 1/2–2), brightness,
           contrast, saturation and hue jitter 0.5 (d2l.ai §14.1)
elastic    U-Net's elastic deformation (Ronneberger et al. 2015, arXiv:1505.04597,
           §3.1): N(0, σ²) displacements on a coarse 3×3 grid, bicubic in between
ssd        SSD's photometric distortion, zoom out, IoU-constrained crops and flip,
           boxes moved with the pixels (Liu et al. 2016, arXiv:1512.02325, §2.2, §3.6)
=========  ====================================================================

``ssd`` is :class:`cnnzoo.data.det_augment.SSDAugment`; the detection task moves
each image's boxes with it (its ``with_boxes`` method). It fills the zoom-out
canvas with ``mean`` and flips only when ``hflip`` (the data's ``meta["hflip"]``:
``digits-det`` says no, as a mirrored digit is another digit or none).

``elastic`` is :class:`cnnzoo.data.seg_augment.ElasticDeformation`. The
segmentation task moves the label map with the image (its ``pair`` method:
one draw, nearest-neighbour labels). Classification data accepts it too and
deforms the image alone: a smooth elastic warp keeps a digit's class, and
elastic distortions are the augmentation Simard, Steinkraus & Platt (2003,
ICDAR, §2) used for handwritten digits. σ is the paper's 10 pixels per 512
pixels of image side (its 512×512 EM images), at least 2 pixels, so that a
64-pixel canvas is bent, not torn.

kornia's batched ops (crop, resized crop, flip, colour jitter) do the work
where they exist: they draw per-image parameters and apply them to the whole
batch in one kernel, on any device, which is what a per-batch pipeline needs.
Written by hand: the affine jitter (kept from the first release), VGG's scale
jittering (kornia's resized crop draws the *area* uniformly; VGG draws the
*side* S uniformly) and AlexNet's PCA lighting, which no library offers.

Reproducibility: every random draw comes from the ``generator`` passed in.
kornia draws from torch's global generator, so its ops run inside
``torch.random.fork_rng`` seeded from ``generator``: the global state is
left untouched and a batch's augmentation depends only on ``generator``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor

if TYPE_CHECKING:
    from cnnzoo.data.seg_augment import ElasticDeformation

__all__ = ["AUGMENTATIONS", "PCALighting", "RandomAffine", "ScaleJitter", "build_augment", "elastic_augment", "elastic_sigma", "rgb_eigen", "train_crop"]

AUGMENTATIONS = ("none", "digits", "alexnet", "vgg", "inception", "cifar", "d2l", "elastic", "ssd")
ELASTIC_SIGMA_PER_512 = 10.0  # U-Net §3.1: σ = 10 pixels on 512×512 images
ELASTIC_MIN_SIGMA = 2.0  # pixels; below this a small canvas is hardly deformed
CROP_FRACTION = 224 / 256  # AlexNet/VGG/Inception train on 224 crops of 256 images


class RandomAffine:
    """Random rotation, scaling and translation of each image in a batch.

    Args:
        degrees: rotation drawn from [−degrees, degrees].
        translate: shift drawn from [−t, t] as a fraction of the image size.
        scale: zoom factor drawn from [scale[0], scale[1]].
        generator: a ``torch.Generator`` for reproducible draws.
    """

    def __init__(
        self,
        degrees: float = 10.0,
        translate: float = 0.1,
        scale: tuple[float, float] = (0.9, 1.1),
        generator: torch.Generator | None = None,
    ) -> None:
        self.degrees, self.translate, self.scale, self.generator = degrees, translate, scale, generator

    def _uniform(self, n: int, lo: float, hi: float) -> Tensor:
        return torch.rand(n, generator=self.generator) * (hi - lo) + lo

    def __call__(self, x: Tensor) -> Tensor:
        return F.grid_sample(x, self.grid(x), mode="bilinear", padding_mode="zeros", align_corners=False)

    def grid(self, x: Tensor) -> Tensor:
        """A sampling grid for each image of ``x`` (one draw per image; label maps reuse it)."""
        n = x.shape[0]
        angle = self._uniform(n, -self.degrees, self.degrees) * math.pi / 180
        s = self._uniform(n, *self.scale)
        # affine_grid maps output to input coordinates in [-1, 1], so a shift of
        # t·size pixels is 2t there, and zooming in by s divides coordinates by s.
        tx = self._uniform(n, -self.translate, self.translate) * 2
        ty = self._uniform(n, -self.translate, self.translate) * 2
        cos, sin = torch.cos(angle) / s, torch.sin(angle) / s
        theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
        return F.affine_grid(theta.to(x), list(x.shape), align_corners=False)


class ScaleJitter:
    """VGG §3.1 scale jittering: rescale to side S ∈ [S_min, S_max], take a random ``out`` crop.

    Equivalently, and in one resampling: a random square window of side
    ``H·out/S`` of the input, resized to ``out``. ``s_range`` is relative to the
    input side (``(1, 2)`` is VGG's [256, 512] for 256-pixel inputs).
    """

    def __init__(self, out: tuple[int, int], s_range: tuple[float, float] = (1.0, 2.0), generator: torch.Generator | None = None) -> None:
        self.out, self.s_range, self.generator = out, s_range, generator

    def __call__(self, x: Tensor) -> Tensor:
        n, _, h, w = x.shape
        s = torch.rand(n, generator=self.generator) * (self.s_range[1] - self.s_range[0]) + self.s_range[0]
        fy, fx = self.out[0] / (h * s), self.out[1] / (w * s)  # window size as a fraction of the image
        cy = (torch.rand(n, generator=self.generator) * 2 - 1) * (1 - fy)
        cx = (torch.rand(n, generator=self.generator) * 2 - 1) * (1 - fx)
        zero = torch.zeros(n)
        theta = torch.stack([torch.stack([fx, zero, cx], 1), torch.stack([zero, fy, cy], 1)], 1)
        grid = F.affine_grid(theta.to(x), [n, x.shape[1], *self.out], align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


class PCALighting:
    """AlexNet §4.1 "PCA lighting": add ``[p1 p2 p3] [α1 λ1, α2 λ2, α3 λ3]ᵀ`` to every pixel.

    ``p_i``, ``λ_i`` are the eigenvectors and eigenvalues of the 3 × 3
    covariance of RGB pixel values over the training set (:func:`rgb_eigen`);
    ``α_i ~ N(0, σ²)`` is drawn once per image per pass, σ = 0.1.
    """

    def __init__(self, eigval: Sequence[float], eigvec: Sequence[Sequence[float]], std: float = 0.1, generator: torch.Generator | None = None) -> None:
        self.eigval = torch.tensor(eigval, dtype=torch.float32)
        self.eigvec = torch.tensor(eigvec, dtype=torch.float32)  # columns are eigenvectors
        self.std, self.generator = std, generator

    def __call__(self, x: Tensor) -> Tensor:
        alpha = torch.randn(x.shape[0], 3, generator=self.generator) * self.std
        shift = (alpha * self.eigval) @ self.eigvec.T  # N x 3: Σ_i α_i λ_i p_i
        return x + shift.to(x)[:, :, None, None]


def rgb_eigen(images: Tensor) -> tuple[list[float], list[list[float]]]:
    """Eigenvalues and eigenvectors (columns) of the RGB covariance of ``images`` ``(N, 3, H, W)``."""
    pixels = images.double().permute(1, 0, 2, 3).reshape(3, -1)
    eigval, eigvec = torch.linalg.eigh(torch.cov(pixels))
    return eigval.clamp_min(0).tolist(), eigvec.tolist()


class _KorniaSeeded:
    """Run a kornia pipeline with its draws seeded from ``generator``, leaving the global RNG alone."""

    def __init__(self, ops: torch.nn.Module, generator: torch.Generator | None) -> None:
        self.ops, self.generator = ops, generator

    def __call__(self, x: Tensor) -> Tensor:
        seed = int(torch.randint(0, 2**62, (1,), generator=self.generator))
        devices = [x.device] if x.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            return self.ops(x)


class _Chain:
    def __init__(self, *fns: Callable[[Tensor], Tensor]) -> None:
        self.fns = fns

    def __call__(self, x: Tensor) -> Tensor:
        for f in self.fns:
            x = f(x)
        return x


def train_crop(name: str, image_size: tuple[int, int]) -> tuple[int, int] | None:
    """The size a preset crops training images to, which evaluation centre-crops to; ``None`` if unchanged."""
    if name in ("alexnet", "vgg", "inception"):
        return (round(image_size[0] * CROP_FRACTION), round(image_size[1] * CROP_FRACTION))
    return None


def elastic_sigma(image_size: tuple[int, int]) -> float:
    """σ in pixels of U-Net's elastic deformation for images of ``image_size``: 10 per 512 of side, at least 2."""
    return max(ELASTIC_MIN_SIGMA, ELASTIC_SIGMA_PER_512 * min(image_size) / 512)


def elastic_augment(image_size: tuple[int, int], generator: torch.Generator | None = None) -> ElasticDeformation:
    """The ``elastic`` preset: an :class:`~cnnzoo.data.seg_augment.ElasticDeformation` drawing from ``generator``."""
    from cnnzoo.data.seg_augment import ElasticDeformation  # seg_augment imports this module

    return ElasticDeformation(sigma=elastic_sigma(tuple(image_size)), points=3, generator=generator)


def _kornia():
    try:
        import kornia.augmentation as K
    except ImportError:  # pragma: no cover - the augment extra is installed in development
        raise ValueError("this augmentation needs kornia: pip install 'cnnzoo[augment]'") from None
    return K


def build_augment(
    name: str,
    generator: torch.Generator | None = None,
    *,
    in_chans: int = 1,
    image_size: tuple[int, int] | None = None,
    pca: tuple[Sequence[float], Sequence[Sequence[float]]] | None = None,
    mean: Sequence[float] | None = None,
    hflip: bool = True,
) -> Callable[[Tensor], Tensor]:
    """The batch augmentation called ``name`` for images of ``in_chans`` channels and ``image_size``.

    ``pca`` is ``(eigval, eigvec)`` from :func:`rgb_eigen`, needed by ``alexnet``
    on RGB data. ``mean`` (the training images' mean pixel) and ``hflip``
    (whether a mirrored image keeps its classes) are for ``ssd``.
    """
    if name not in AUGMENTATIONS:
        raise ValueError(f"unknown augmentation {name!r}; accepted: {', '.join(AUGMENTATIONS)}")
    if name == "none":
        return lambda x: x
    if name == "digits":
        # Handwriting varies in slant, size and position; the digits are small
        # (8×8 upsampled to 32×32), so the jitter is a few pixels at most.
        return RandomAffine(degrees=12.0, translate=0.08, scale=(0.9, 1.1), generator=generator)
    if image_size is None:
        raise ValueError(f"augmentation {name!r} needs the image size")
    if name == "elastic":
        return elastic_augment(image_size, generator)
    if name == "ssd":
        from cnnzoo.data.det_augment import SSDAugment

        return SSDAugment(fill=list(mean) if mean is not None else 0.0, hflip=hflip, generator=generator)
    K = _kornia()
    rgb = in_chans == 3
    size = tuple(image_size)
    crop = train_crop(name, size) or size
    if name == "vgg":
        jitter = ScaleJitter(crop, (1.0, 2.0), generator)
        return _Chain(jitter, _KorniaSeeded(K.RandomHorizontalFlip(), generator))
    if name == "alexnet":
        ops = _KorniaSeeded(torch.nn.Sequential(K.RandomCrop(crop), K.RandomHorizontalFlip()), generator)
        if not rgb:
            return ops
        if pca is None:
            raise ValueError("augmentation 'alexnet' needs the training set's RGB eigenbasis (pca=rgb_eigen(images))")
        return _Chain(ops, PCALighting(pca[0], pca[1], 0.1, generator))
    if name == "inception":
        jitter = K.ColorJitter(0.4, 0.4, 0.4) if rgb else K.ColorJitter(0.4, 0.4)
        seq = torch.nn.Sequential(K.RandomResizedCrop(crop, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)), K.RandomHorizontalFlip(), jitter)
        return _KorniaSeeded(seq, generator)
    if name == "cifar":
        return _KorniaSeeded(torch.nn.Sequential(K.RandomCrop(size, padding=4), K.RandomHorizontalFlip()), generator)
    # d2l
    jitter = K.ColorJitter(0.5, 0.5, 0.5, 0.5) if rgb else K.ColorJitter(0.5, 0.5)
    seq = torch.nn.Sequential(K.RandomHorizontalFlip(), K.RandomResizedCrop(size, scale=(0.1, 1.0), ratio=(0.5, 2.0)), jitter)
    return _KorniaSeeded(seq, generator)
