"""`ade20k` and `cityscapes`: photos with per-pixel label maps, prepared as SPADE (Park et al. 2019) does.

ADE20K (the MIT Scene Parsing benchmark release), layout under ``--data-root DIR``::

    DIR/ADEChallengeData2016/images/{training,validation}/ADE_*_<id>.jpg
    DIR/ADEChallengeData2016/annotations/{training,validation}/ADE_*_<id>.png   uint8, 0 = other, 1..150
    DIR/ADEChallengeData2016/objectInfo150.{txt,csv}   optional: class names (the zip's tab-separated
                                                       .txt or the devkit's .csv; also accepted in DIR/)
    DIR/ADEChallengeData2016/sceneCategories.txt       optional: "<image id> <scene>" per image

Split: ``train`` = training (20,210 images), ``test`` = validation (2,000), the benchmark's
own. Images are paired with the annotation of the same file stem. Label maps keep the
release's values: 0 = "other" (unlabelled; ignored by the benchmark), v = 1..150 the
classes of objectInfo150 (``label_classes[v]``; numbered "class v" without the file).
SPADE shifts them to v − 1 with "other" → 150 (its ``postprocess``: ``(m + 150) % 151``).
Resizing is SPADE's at test time (``resize_and_crop`` with load_size = crop_size = 256): the
whole image is resized to S×S ignoring its aspect ratio, the photo bicubic (PIL,
antialiased), the label map nearest (so no value is made up). Image class labels are the
scene categories of ``sceneCategories.txt`` when present (classes = its sorted distinct
scenes, over both splits), else None.

Cityscapes (fine annotations), layout::

    DIR/cityscapes/leftImg8bit/{train,val}/<city>/<city>_<seq>_<frame>_leftImg8bit.png
    DIR/cityscapes/gtFine/{train,val}/<city>/<city>_<seq>_<frame>_gtFine_labelIds.png

Split: ``train`` = train (2,975), ``test`` = val (500) (the test split's labels are not
public). Images pair with labels by the ``<city>_<seq>_<frame>`` prefix, ordered by city
then file name. Label maps are the 34 ``labelIds`` 0..33 of cityscapesScripts
(:data:`CITYSCAPES_LABELS`; "license plate" has id −1 and no value of its own here); SPADE
one-hot encodes them with label_nc = 35 (+ a don't-care channel). Resizing is SPADE's
``fixed`` mode with aspect ratio 2: S × 2S (SPADE's low resolution is 256×512), photo
bicubic, label map nearest. SPADE's instance-boundary input (``_instanceIds.png``) is not
read. No image class labels.
"""

from __future__ import annotations

import csv
from pathlib import Path

import torch

from gbench.data.lazy import LazyImages
from gbench.data.paper_scenes import ConditionedSet, Decoder, LazyLabelMaps, PaperSet
from gbench.errors import GbenchError

ADE_FOLDER = "ADEChallengeData2016"
ADE_SPLITS = {"train": "training", "test": "validation"}
ADE_NUM_CLASSES = 150
CITYSCAPES_SPLITS = {"train": "train", "test": "val"}
CITYSCAPES_LABELS = (
    "unlabeled", "ego vehicle", "rectification border", "out of roi", "static", "dynamic", "ground", "road",
    "sidewalk", "parking", "rail track", "building", "wall", "fence", "guard rail", "bridge", "tunnel", "pole",
    "polegroup", "traffic light", "traffic sign", "vegetation", "terrain", "sky", "person", "rider", "car", "truck",
    "bus", "caravan", "trailer", "train", "motorcycle", "bicycle",
)  # cityscapesScripts labels.py, ids 0..33


def _pairs(images: list[Path], labels: list[Path], key, where: Path) -> list[tuple[Path, Path]]:
    """Each image with its label file (matched by ``key(path)``), in image order; a missing label is an error."""
    by_key = {key(p): p for p in labels}
    out = []
    for p in images:
        lab = by_key.get(key(p))
        if lab is None:
            raise GbenchError(f"{p} has no label map under {where}: restore the annotations from the same release")
        out.append((p, lab))
    if not out:
        raise GbenchError(f"no images under {where.parent}: check the layout (see gbench.data.paper_layouts)")
    return out


def _lazy_pair(pairs: list[tuple[Path, Path]], h: int, w: int) -> tuple[LazyImages, LazyLabelMaps]:
    return (LazyImages([p for p, _ in pairs], Decoder((h, w), "bicubic"), (3, h, w)),
            LazyLabelMaps([q for _, q in pairs], Decoder((h, w), "nearest", labels=True), (h, w)))


# ---------------------------------------------------------------------------- ADE20K

def _ade_missing(root: Path) -> Path | None:
    base = root / ADE_FOLDER
    for p in (base / kind / sub for kind in ("images", "annotations") for sub in ADE_SPLITS.values()):
        if not p.is_dir():
            return p
    return None


def _ade_class_names(root: Path) -> tuple[str, ...]:
    base = root / ADE_FOLDER
    path = next((p for p in (base / "objectInfo150.txt", base / "objectInfo150.csv", root / "objectInfo150.csv")
                 if p.is_file()), None)
    names = [f"class {v}" for v in range(1, ADE_NUM_CLASSES + 1)]
    if path is not None:
        text = path.read_text(encoding="utf-8", errors="replace").splitlines()
        rows = list(csv.reader(text, delimiter="\t" if "\t" in text[0] else ","))
        try:
            for row in rows[1:]:  # header: Idx, Ratio, Train, Val, Name
                if row:
                    names[int(row[0]) - 1] = row[-1].strip()
        except (ValueError, IndexError):
            raise GbenchError(f"{path} is not objectInfo150's table (Idx, Ratio, Train, Val, Name); "
                              "restore it from the ADEChallengeData2016 release") from None
    return ("other", *names)


def _ade_scenes(root: Path, stems: list[str]) -> tuple[torch.Tensor | None, tuple[str, ...] | None]:
    path = root / ADE_FOLDER / "sceneCategories.txt"
    if not path.is_file():
        return None, None
    scene = dict(ln.split()[:2] for ln in path.read_text(encoding="utf-8").splitlines() if len(ln.split()) >= 2)
    classes = tuple(sorted(set(scene.values())))  # both splits' scenes: the same indices in train and test
    index = {c: k for k, c in enumerate(classes)}
    absent = [s for s in stems if s not in scene]
    if absent:
        raise GbenchError(f"{path} has no scene for {absent[0]} ({len(absent)} images): restore the file from "
                          "the ADEChallengeData2016 release, or remove it to load without scene labels")
    return torch.tensor([index[scene[s]] for s in stems], dtype=torch.int64), classes


def _ade_load(split: str, root: Path, size: int) -> ConditionedSet:
    base, sub = root / ADE_FOLDER, ADE_SPLITS[split]
    images = sorted((base / "images" / sub).glob("*.jpg"))
    labels = sorted((base / "annotations" / sub).glob("*.png"))
    pairs = _pairs(images, labels, lambda p: p.stem, base / "annotations" / sub)
    stems = [p.stem for p, _ in pairs]
    y, classes = _ade_scenes(root, stems)
    x, maps = _lazy_pair(pairs, size, size)
    return ConditionedSet("ade20k", split, x, maps, y, classes, _ade_class_names(root), None,
                          f"ADEChallengeData2016's {sub}", tuple(f"images/{sub}/{p.name}" for p, _ in pairs))


ADE20K = PaperSet(
    "ade20k", "ADEChallengeData2016.zip (the MIT Scene Parsing benchmark, sceneparsing.csail.mit.edu)",
    f"DIR/{ADE_FOLDER}/{{images,annotations}}/{{training,validation}}/ (+ objectInfo150.txt, sceneCategories.txt)",
    _ade_missing, _ade_load,
)


# ---------------------------------------------------------------------------- Cityscapes

def _city_missing(root: Path) -> Path | None:
    base = root / "cityscapes"
    for p in (base / kind / sub for kind in ("leftImg8bit", "gtFine") for sub in CITYSCAPES_SPLITS.values()):
        if not p.is_dir():
            return p
    return None


def _frame(path: Path) -> tuple[str, str]:
    """(city, "<city>_<seq>_<frame>"): what an image and its label files share (SPADE's paths_match)."""
    return path.parent.name, "_".join(path.name.split("_")[:3])


def _city_load(split: str, root: Path, size: int) -> ConditionedSet:
    base, sub = root / "cityscapes", CITYSCAPES_SPLITS[split]
    images = sorted((base / "leftImg8bit" / sub).glob("*/*_leftImg8bit.png"), key=_frame)
    labels = list((base / "gtFine" / sub).glob("*/*_gtFine_labelIds.png"))
    pairs = _pairs(images, labels, _frame, base / "gtFine" / sub)
    x, maps = _lazy_pair(pairs, size, 2 * size)
    return ConditionedSet("cityscapes", split, x, maps, None, None, CITYSCAPES_LABELS, None,
                          f"Cityscapes' {sub} (gtFine)",
                          tuple(p.relative_to(base).as_posix() for p, _ in pairs))


CITYSCAPES = PaperSet(
    "cityscapes", "leftImg8bit_trainvaltest.zip and gtFine_trainvaltest.zip (www.cityscapes-dataset.com, "
    "registration required)",
    "DIR/cityscapes/leftImg8bit/{train,val}/<city>/*_leftImg8bit.png + "
    "DIR/cityscapes/gtFine/{train,val}/<city>/*_gtFine_labelIds.png",
    _city_missing, _city_load,
)
