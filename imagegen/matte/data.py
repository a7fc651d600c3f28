"""Training and bench data for the matte: catalogue products with pseudo-masks, pasted over real photos.

Products are decoded once into 80x64 canvases (the photo, its decontaminated colours, its pseudo-mask alpha);
backgrounds are squares of clothing-photos resized to 128 px (their top corners for the matte). `random_batch`
then builds a batch with torch on the fly: each sample is one of
  photo  the catalogue photo itself, scaled and moved, its backdrop extended (the service's own photos),
  busy   the product pasted over a random crop of a real amateur photo (the known paste alpha is exact),
  plain  the product pasted over a plain colour with a gradient, half of them near-white (studio backdrops),
  empty  a background with no product (so that a photo without one gets no confident matte),
with independent colour jitter of product and background, and a little noise.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from features.catalogue import load_catalogue
from features.image_pack import is_heldout
from features.images import open_image
from imagegen.errors import TrainingError
from imagegen.matte.foreground import decontaminate
from imagegen.matte.inference import mask_iou, matte
from imagegen.matte.pseudo_mask import pseudo_mask

PRODUCT_SHAPE = (80, 64)  # (height, width) of a product canvas: fashion-small's 80x60 plus 2 px each side
BACKGROUND_SIZE = 128
BACKGROUND_REGIONS = ("centre", "top-corners")
MATTE_BACKGROUNDS = "top-corners"  # where the matte's composite backgrounds come from (load_backgrounds)
KINDS = ("photo", "busy", "plain", "empty")
TRAINING_MIX = (0.35, 0.40, 0.20, 0.05)  # share of each kind in a training batch
NEAR_WHITE_SHARE = 0.5  # of the plain backdrops: the matte's hardest case is a pale product on near-white
BENCH_MIX = (0.0, 1.0, 0.0, 0.0)  # held-out composites: busy backgrounds only


@dataclass
class ProductSet:
    ids: np.ndarray  # int64 [n]
    photos: torch.Tensor  # uint8 [n, 3, 80, 64], the photo with its backdrop extended at the sides
    colours: torch.Tensor  # uint8 [n, 3, 80, 64], decontaminated foreground colours
    alpha: torch.Tensor  # uint8 [n, 1, 80, 64], the pseudo-mask (0..255)

    def __len__(self) -> int:
        return len(self.ids)

    def save(self, path: Path) -> None:
        np.savez(path, ids=self.ids, **{name: getattr(self, name).numpy() for name in ("photos", "colours", "alpha")})

    @classmethod
    def load(cls, path: Path) -> ProductSet:
        with np.load(path) as stored:
            return cls(stored["ids"], *(torch.from_numpy(stored[name]) for name in ("photos", "colours", "alpha")))


def catalogue_products(catalogue_dir: str | Path, heldout: bool, limit: int | None = None,
                       seed: int = 0) -> list[tuple[int, Path]]:
    """(product key, photo file) of the training or held-out split (features.image_pack.is_heldout), shuffled:
    any catalogue features.catalogue reads (SKU ids, URL photos, text-only rows left out)."""
    catalogue = load_catalogue(catalogue_dir, check_images=False)  # each photo is checked when it is read
    rows = [(key, catalogue.image_path(key)) for key in catalogue.photo_ids if is_heldout(key) == heldout]
    order = np.random.default_rng(seed).permutation(len(rows))
    return [rows[i] for i in order[:limit]]


def read_photo(path: Path) -> np.ndarray:
    return np.asarray(open_image(path))  # type, pixel limit and decompression-bomb checks, as every photo gets


def build_product_set(products: list[tuple[int, Path]], log=print,
                      gaps_kept: frozenset[str] | None = None) -> ProductSet:
    """Decode, pseudo-mask and decontaminate each photo; products whose pseudo-mask is not trusted are left out.
    `gaps_kept` (read_gap_exceptions): the backdrop-coloured holes of every other product are backdrop in its truth
    (pseudo_mask's `open_gaps`); these products' stay filled, as a person found product there (a white stripe)."""
    ids, canvases, opened = [], [], 0
    for n, (product_id, path) in enumerate(products):
        photo = read_photo(path)
        mask = pseudo_mask(photo)
        if mask.trusted:
            alpha = mask.alpha
            if gaps_kept is not None and str(product_id) not in gaps_kept:
                alpha = pseudo_mask(photo, open_gaps=True).alpha
                opened += bool(((mask.alpha >= 0.5) & (alpha < 0.5)).any())
            colours = np.round(decontaminate(photo, alpha)).astype(np.uint8)
            canvases.append(_to_canvas(photo, colours, alpha))
            ids.append(product_id)
        if (n + 1) % 2000 == 0:
            log(f"pseudo-masks: {n + 1}/{len(products)} photos, {len(ids)} trusted")
    if not ids:
        raise TrainingError(f"none of the {len(products)} photos has a trusted pseudo-mask (plain backdrops needed)")
    if gaps_kept is not None:
        log(f"gaps: opened in {opened} trusted pseudo-masks, kept filled in those of {len(gaps_kept)} listed products")
    return _product_set(ids, canvases)


def read_gap_exceptions(path: str | Path) -> frozenset[str]:
    """Product keys, one a line (`#` starts a comment), whose backdrop-coloured holes are product after all."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise TrainingError(f"cannot read the gap exceptions {path}: {error}") from error
    keys = frozenset(line.split("#", 1)[0].strip() for line in lines) - {""}
    if not keys:
        raise TrainingError(f"the gap exceptions {path} list no product key (one a line expected)")
    return keys


def cached_product_set(cache: Path, catalogue_dir, limit: int, seed: int, log=print,
                       gaps_kept: frozenset[str] | None = None) -> ProductSet:
    """Training products with trusted pseudo-masks, built once per run folder (resumed sessions reuse them)."""
    if cache.is_file():
        products = ProductSet.load(cache)
        log(f"products: {len(products)} from {cache}")
        return products
    chosen = catalogue_products(catalogue_dir, heldout=False, limit=limit, seed=seed)
    products = build_product_set(chosen, log=log, gaps_kept=gaps_kept)
    log(f"products: {len(products)} of {len(chosen)} training photos have a trusted pseudo-mask")
    cache.parent.mkdir(parents=True, exist_ok=True)
    products.save(cache)
    return products


def teacher_agreeing(products: ProductSet, teacher, min_iou: float, log=print, settle: bool = False) -> ProductSet:
    """The products whose pseudo-mask a trained matte (`teacher`) agrees with at IoU >= `min_iou`. A "trusted"
    pseudo-mask can still cut a white sole or a pale shirt's body out of the product; learning from those teaches
    the matte that such parts are backdrop, so a disagreement leaves the product out of training."""
    photos = products.photos.permute(0, 2, 3, 1).numpy()
    alphas = np.stack([matte(photo, teacher, settle=settle)[0] for photo in photos])
    agreement = mask_iou(alphas, products.alpha[:, 0].numpy() / 255.0)
    keep = torch.from_numpy(agreement >= min_iou)
    log(f"teacher filter: {int(keep.sum())} of {len(products)} pseudo-masks agree with the teacher at IoU >= "
        f"{min_iou} (median IoU {float(np.median(agreement)):.4f}); the rest are left out")
    if not keep.any():
        raise TrainingError(f"the teacher agrees with none of the {len(products)} pseudo-masks at IoU >= {min_iou}")
    return ProductSet(products.ids[keep.numpy()], products.photos[keep], products.colours[keep], products.alpha[keep])


def pseudo_labelled_photos(folder: str | Path, split: str, teacher, limit: int | None = None, log=print,
                           settle: bool = False) -> ProductSet:
    """Self-training products: clothing-photos' `split` photos at the canvas height whose `teacher` matte is sure,
    that matte taken as their alpha. Amateur garments on beds and floors are what the catalogue's studio photos
    never show the matte; only the photos its rules would use on a card are kept, so it learns from its own sure
    mattes (Noisy Student, Xie et al. 2020, with the composites' jitter and noise as the noise)."""
    paths = _split_photos(folder, split, limit)
    ids, canvases = [], []
    for n, path in enumerate(paths):
        photo = Image.fromarray(read_photo(path))
        small = np.asarray(photo.resize((max(1, round(photo.width * PRODUCT_SHAPE[0] / photo.height)), PRODUCT_SHAPE[0]),
                                        Image.BILINEAR))
        alpha, confidence = matte(small, teacher, settle=settle)
        if confidence.sure:
            canvases.append(_to_canvas(small, np.round(decontaminate(small, alpha)).astype(np.uint8), alpha))
            ids.append(-(n + 1))  # negative: no catalogue product key
    log(f"self-training: the teacher is sure of {len(ids)} of {len(paths)} photos in {Path(folder) / split}")
    if not ids:
        raise TrainingError(f"the teacher is sure of none of the {len(paths)} photos in {Path(folder) / split}")
    return _product_set(ids, canvases)


def _product_set(ids: list[int], canvases: list[tuple[np.ndarray, ...]]) -> ProductSet:
    photos, colours, alpha = (torch.from_numpy(np.stack(part)) for part in zip(*canvases))
    return ProductSet(np.array(ids, dtype=np.int64), photos, colours, alpha)


def _split_photos(folder: str | Path, split: str, limit: int | None = None) -> list[Path]:
    """clothing-photos' `split` (class folders of .jpg photos), sorted."""
    paths = sorted((Path(folder) / split).glob("*/*.jpg"))[:limit]
    if not paths:
        raise TrainingError(f"{Path(folder) / split}: expected class folders of .jpg photos (clothing-photos layout)")
    return paths


def joined(first: ProductSet, second: ProductSet) -> ProductSet:
    return ProductSet(np.concatenate([first.ids, second.ids]),
                      *(torch.cat([getattr(first, name), getattr(second, name)]) for name in ("photos", "colours", "alpha")))


def _to_canvas(photo: np.ndarray, colours: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, ...]:
    """Scale to the canvas height, then pad its width with the edge pixels (alpha with zeros) or crop it."""
    height, width = PRODUCT_SHAPE
    stacked = np.concatenate([photo, colours, np.round(alpha * 255)[..., None]], axis=-1).astype(np.uint8)
    if stacked.shape[0] != height:
        new_width = max(1, round(stacked.shape[1] * height / stacked.shape[0]))
        stacked = np.stack([np.asarray(Image.fromarray(stacked[..., c]).resize((new_width, height), Image.BILINEAR))
                            for c in range(7)], axis=-1)
    scaled_width = stacked.shape[1]
    left = (width - scaled_width) // 2
    if left < 0:
        stacked = stacked[:, -left:-left + width]
    else:
        stacked = np.pad(stacked, ((0, 0), (left, width - scaled_width - left), (0, 0)), mode="edge")
        stacked[:, :left, 6] = 0  # alpha stays 0 on the padding, even where the product touches the photo's side
        stacked[:, left + scaled_width:, 6] = 0
    chw = stacked.transpose(2, 0, 1)
    return chw[:3], chw[3:6], chw[6:]


def load_backgrounds(folder: str | Path, split: str, limit: int | None = None, log=print,
                     region: str = "centre") -> torch.Tensor:
    """clothing-photos' `split` (train or validation) as uint8 [n, 3, 128, 128], squares resized from `region`:
      centre       the photo's centre square, where its garment is;
      top-corners  its two top corners, a quarter of its width each: floor, bed or wall, seldom the garment
                   (a matte trained over garments learns that a garment photographed at home is background).
    """
    if region not in BACKGROUND_REGIONS:
        raise TrainingError(f"background region {region!r}: expected one of {', '.join(BACKGROUND_REGIONS)}")
    paths = _split_photos(folder, split, limit)
    squares = []
    for path in paths:
        with Image.open(path) as image:
            image.draft("RGB", (BACKGROUND_SIZE * 2, BACKGROUND_SIZE * 2))  # JPEG decodes at a reduced scale
            image = image.convert("RGB")
            squares.extend(np.asarray(image.crop(box).resize((BACKGROUND_SIZE, BACKGROUND_SIZE), Image.BILINEAR))
                           for box in _square_boxes(image.size, region))
    log(f"backgrounds: {len(squares)} {region} squares of {len(paths)} photos from {Path(folder) / split}")
    return torch.from_numpy(np.stack(squares)).permute(0, 3, 1, 2).contiguous()


def _square_boxes(size: tuple[int, int], region: str) -> list[tuple[int, int, int, int]]:
    width, height = size
    if region == "centre":
        side = min(width, height)
        left, top = (width - side) // 2, (height - side) // 2
        return [(left, top, left + side, top + side)]
    side = max(1, min(width, height) // 4)
    return [(0, 0, side, side), (width - side, 0, width, side)]


def random_batch(products: ProductSet, backgrounds: torch.Tensor, count: int, size: int = 80,
                 mix: tuple[float, ...] = TRAINING_MIX, generator: torch.Generator | None = None):
    """`count` samples (kinds drawn with the shares of `mix`): images float [count, 3, size, size] in [0, 1]
    and their true alpha [count, 1, size, size]."""
    images, alpha, _ = random_composites(products, backgrounds, count, size, mix, generator)
    return images, alpha


def random_composites(products: ProductSet, backgrounds: torch.Tensor, count: int, size: int = 80,
                      mix: tuple[float, ...] = TRAINING_MIX, generator: torch.Generator | None = None,
                      near_white: float = NEAR_WHITE_SHARE):
    """As random_batch, and each sample's backdrop without the product (float [count, 3, size, size]; a photo's
    is its studio colour, the mean of its pixels outside the product). `near_white`: the share of plain backdrops
    that are near-white greys (the rest are any colour)."""
    def uniform(low, high, n=count):
        return low + (high - low) * torch.rand(n, generator=generator)

    kind = torch.multinomial(torch.tensor(mix, dtype=torch.float), count, replacement=True, generator=generator)
    is_photo, is_empty = (kind == KINDS.index("photo"))[:, None, None, None], kind == KINDS.index("empty")
    chosen = torch.randint(len(products), (count,), generator=generator)
    source = torch.where(is_photo, products.photos[chosen], products.colours[chosen]).float() / 255
    source = _jitter(source, generator)
    height = torch.where(is_photo.flatten(), uniform(0.75, 1.05), uniform(0.5, 1.0))  # share of the frame's height
    theta = _placement(height, height * PRODUCT_SHAPE[1] / PRODUCT_SHAPE[0], generator)
    grid = F.affine_grid(theta, [count, 1, size, size], align_corners=False)
    placed = F.grid_sample(source, grid, padding_mode="border", align_corners=False)
    alpha_source = products.alpha[chosen].float() / 255
    alpha = torch.where(is_photo,  # a photo's product may run off its edge, as its pixels do; a pasted one may not
                        F.grid_sample(alpha_source, grid, padding_mode="border", align_corners=False),
                        F.grid_sample(alpha_source, grid, padding_mode="zeros", align_corners=False))
    alpha[is_empty] = 0.0
    plain, busy = _plain_backdrops(count, size, generator, near_white), _background_crops(backgrounds, count, size, generator)
    backdrop = torch.where((kind == KINDS.index("plain"))[:, None, None, None], plain, busy)
    images = torch.where(is_photo, placed, alpha * placed + (1 - alpha) * backdrop)
    outside = (1 - alpha).sum(dim=(2, 3), keepdim=True).clamp(min=1)
    studio = ((1 - alpha) * placed).sum(dim=(2, 3), keepdim=True) / outside
    backdrop = torch.where(is_photo, studio.expand_as(placed), backdrop)
    noise = torch.randn(images.shape, generator=generator) * uniform(0.0, 0.02)[:, None, None, None]
    return (images + noise).clamp(0, 1), alpha, (backdrop + noise).clamp(0, 1)


def _placement(height: torch.Tensor, width: torch.Tensor, generator) -> torch.Tensor:
    """Affine maps (for affine_grid) that put the product canvas at a random place, `height` and `width` being
    its shares of the frame, flipped left-right half the time."""
    count = len(height)
    centre_x = (torch.rand(count, generator=generator) * 2 - 1) * (1 - width).clamp(min=0.05)
    centre_y = (torch.rand(count, generator=generator) * 2 - 1) * (1 - height).clamp(min=0.05)
    flip = torch.where(torch.rand(count, generator=generator) < 0.5, -1.0, 1.0)
    theta = torch.zeros(count, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2] = flip / width, -flip * centre_x / width
    theta[:, 1, 1], theta[:, 1, 2] = 1 / height, -centre_y / height
    return theta


def _background_crops(backgrounds: torch.Tensor, count: int, size: int, generator) -> torch.Tensor:
    chosen = torch.randint(len(backgrounds), (count,), generator=generator)
    side = 0.3 + 0.7 * torch.rand(count, generator=generator)  # the crop's share of the background's side
    theta = torch.zeros(count, 2, 3)
    flip = torch.where(torch.rand(count, generator=generator) < 0.5, -1.0, 1.0)
    theta[:, 0, 0], theta[:, 1, 1] = side * flip, side
    theta[:, :, 2] = (torch.rand(count, 2, generator=generator) * 2 - 1) * (1 - side)[:, None]
    grid = F.affine_grid(theta, [count, 3, size, size], align_corners=False)
    crops = F.grid_sample(backgrounds[chosen].float() / 255, grid, align_corners=False)
    return _jitter(crops, generator)


def _plain_backdrops(count: int, size: int, generator, near_white: float = NEAR_WHITE_SHARE) -> torch.Tensor:
    """Plain colours with a gradient; a share `near_white` of them near-white greys, the studio backdrop that white
    and pale products are hardest to tell from (the catalogue's own photos of those have no trusted pseudo-mask)."""
    colour = torch.rand(count, 3, 1, 1, generator=generator)
    grey = 0.85 + 0.15 * torch.rand(count, 1, 1, 1, generator=generator)
    tint = (torch.rand(count, 3, 1, 1, generator=generator) - 0.5) * 0.03
    near_white = torch.rand(count, 1, 1, 1, generator=generator) < near_white
    colour = torch.where(near_white, grey + tint, colour)
    slope = (torch.rand(count, 3, 1, 1, generator=generator) - 0.5) * 0.2
    ramp = torch.linspace(-1, 1, size)[None, None, :, None]
    return (colour + slope * ramp).clamp(0, 1).expand(count, 3, size, size)


def _jitter(images: torch.Tensor, generator) -> torch.Tensor:
    """Random brightness, contrast and saturation per image."""
    count = len(images)
    factors = 0.7 + 0.6 * torch.rand(count, 3, 1, 1, 1, generator=generator)
    brightness, contrast, saturation = factors.unbind(1)
    images = images * brightness
    images = (images - images.mean(dim=(1, 2, 3), keepdim=True)) * contrast + images.mean(dim=(1, 2, 3), keepdim=True)
    grey = images.mean(dim=1, keepdim=True)
    return ((images - grey) * saturation + grey).clamp(0, 1)
