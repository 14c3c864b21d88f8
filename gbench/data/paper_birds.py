"""`birds`: CUB-200-2011 with the Reed et al. (2016) captions, as in GAN-INT-CLS, StackGAN and AttnGAN.

Layout under ``--data-root DIR`` (CUB's archive unpacked, plus the captions)::

    DIR/birds/CUB_200_2011/images.txt              "<id> <class>/<file>.jpg"
    DIR/birds/CUB_200_2011/image_class_labels.txt  "<id> <class 1..200>"
    DIR/birds/CUB_200_2011/classes.txt             "<class 1..200> <class folder>"
    DIR/birds/CUB_200_2011/bounding_boxes.txt      "<id> <x> <y> <width> <height>" (pixels)
    DIR/birds/CUB_200_2011/train_test_split.txt    "<id> <1 = train, 0 = test>"
    DIR/birds/CUB_200_2011/images/<class>/<file>.jpg
    DIR/birds/text/<class>/<file>.txt              one caption a line, 10 per image
                                                   (AttnGAN's birds.zip; Reed's ``text_c10/`` is accepted too)
    DIR/birds/trainvalclasses.txt, testclasses.txt optional: one class folder a line (Reed's cvpr2016_cub)

Split. With ``trainvalclasses.txt`` and ``testclasses.txt`` present: the class-disjoint
split of Reed et al. that StackGAN and AttnGAN inherited — train = every image of the 150
train+val classes (8,855 images), test = every image of the 50 test classes (2,933);
otherwise CUB's own image-level ``train_test_split.txt`` (5,994 / 5,794, all 200 classes in
both). ``ConditionedSet.split_rule`` says which was used. Labels are always the 200 CUB
classes (0..199 = class id − 1, names = the class folders of classes.txt), so the
class-disjoint test split holds labels the train split never has.

Preprocessing (StackGAN's ``misc/utils.py`` ``custom_crop``, AttnGAN's ``get_imgs``): with the
box (x, y, w, h) truncated to ints, centre cx = ⌊(2x + w) / 2⌋, cy = ⌊(2y + h) / 2⌋ and
R = ⌊0.75 · max(w, h)⌋, the crop is rows [max(0, cy − R), min(H, cy + R)) × columns
[max(0, cx − R), min(W, cx + R)) — a square of side 1.5 · max(w, h) around the bird,
clipped to the image (so not square near a border) — then resized to S×S (squashing a
clipped crop, as StackGAN's ``imresize(img, [S, S], 'bicubic')``) with PIL's antialiased
bicubic filter. S = 64 / 128 / 256 are StackGAN's and AttnGAN's stages. The random
76/64 rescale-and-crop and flips of training are augmentation, not done here.

Captions: every non-empty line of the image's file (10 for the released captions), as
read (stripped), in file order; "the" caption (``ConditionedSet.first_captions``) is the
first line. Without a ``text/`` or ``text_c10/`` folder ``captions`` is None.

Nothing is unpickled: StackGAN's ``filenames.pickle`` and the char-CNN-RNN embedding
pickles are not read (the split comes from the class lists above, the text from the
caption files); a model needing those embeddings must compute them from the captions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from gbench.data.lazy import LazyImages
from gbench.data.paper_scenes import ConditionedSet, Decoder, PaperSet
from gbench.errors import GbenchError

CUB_FILES = ("images.txt", "image_class_labels.txt", "classes.txt", "bounding_boxes.txt", "train_test_split.txt")
CLASS_LISTS = ("trainvalclasses.txt", "testclasses.txt")
CAPTION_FOLDERS = ("text", "text_c10")  # AttnGAN's, Reed's


def stackgan_box(bbox: tuple[float, float, float, float], width: int, height: int) -> tuple[int, int, int, int]:
    """StackGAN's crop of a CUB box (x, y, w, h) in an image of ``width`` × ``height``, as PIL's
    (left, top, right, bottom): the square of half-side ⌊0.75 · max(w, h)⌋ centred on the box,
    clipped to the image."""
    x, y, w, h = (int(v) for v in bbox)  # StackGAN reads the table with pandas .astype(int): truncation
    cx, cy = (2 * x + w) // 2, (2 * y + h) // 2
    r = int(max(w, h) * 0.75)
    return max(0, cx - r), max(0, cy - r), min(width, cx + r), min(height, cy + r)


def _table(path: Path) -> dict[int, list[str]]:
    """A CUB metadata file: ``<image or class id> <fields…>`` → {id: fields}."""
    out = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        try:
            out[int(parts[0])] = parts[1:]
        except ValueError:
            raise GbenchError(f"{path} line {n} does not start with an integer id: {line[:60]!r}; "
                              "restore the file from CUB_200_2011.tgz") from None
    return out


def _class_list(path: Path) -> set[str]:
    # Reed's lists hold class folders ("001.Black_footed_Albatross"); tolerate a leading id column
    return {line.split()[-1] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()}


def _first_missing(root: Path) -> Path | None:
    cub = root / "birds" / "CUB_200_2011"
    for p in (*(cub / f for f in CUB_FILES), cub / "images"):
        if not p.exists():
            return p
    return None


class StackGANCrop:
    """``crop(path, width, height)`` → :func:`stackgan_box` of the file's CUB box (picklable, for
    :class:`~gbench.data.paper_scenes.Decoder`): the box is computed at decode time, when the
    image's size is known, so loading a split opens no image."""

    def __init__(self, bboxes: dict[str, tuple[float, float, float, float]]):
        self.bboxes = bboxes  # os.fspath(image path) → CUB (x, y, w, h)

    def __call__(self, path: str, width: int, height: int) -> tuple[int, int, int, int]:
        return stackgan_box(self.bboxes[path], width, height)


def _captions(base: Path, rel: list[str]) -> tuple[tuple[str, ...], ...] | None:
    folder = next((base / c for c in CAPTION_FOLDERS if (base / c).is_dir()), None)
    if folder is None:
        return None
    out = []
    for r in rel:
        path = (folder / r).with_suffix(".txt")
        if not path.is_file():
            raise GbenchError(f"caption file {path} is missing: restore {folder.name}/ from the captions archive")
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        out.append(tuple(s for s in (ln.strip() for ln in lines) if s))
    return tuple(out)


def _load(split: str, root: Path, size: int) -> ConditionedSet:
    base = root / "birds"
    cub = base / "CUB_200_2011"
    images, labels, classes, boxes, is_train = (_table(cub / f) for f in CUB_FILES)
    class_names = tuple(classes[k][0] for k in sorted(classes))
    ids = sorted(images)
    try:
        rel = {i: images[i][0] for i in ids}
        cls = {i: int(labels[i][0]) - 1 for i in ids}
        if all((base / f).is_file() for f in CLASS_LISTS):
            lists = [_class_list(base / f) for f in CLASS_LISTS]
            if lists[0] & lists[1]:
                raise GbenchError(f"{base / CLASS_LISTS[0]} and {CLASS_LISTS[1]} share classes "
                                  f"{sorted(lists[0] & lists[1])[:3]}; use Reed et al.'s class lists")
            keep = lists[0] if split == "train" else lists[1]
            chosen = [i for i in ids if class_names[cls[i]] in keep]
            rule = (f"class-disjoint (Reed et al. 2016, as StackGAN / AttnGAN): {CLASS_LISTS[0]} "
                    f"({len(lists[0])} classes) = train, {CLASS_LISTS[1]} ({len(lists[1])} classes) = test")
        else:
            want = "1" if split == "train" else "0"
            chosen = [i for i in ids if is_train[i][0] == want]
            rule = "CUB-200-2011's train_test_split.txt (image-level; every class in both splits)"
        files = [cub / "images" / rel[i] for i in chosen]
        bboxes = {str(f): (float(boxes[i][0]), float(boxes[i][1]), float(boxes[i][2]), float(boxes[i][3]))
                  for f, i in zip(files, chosen)}
    except (KeyError, IndexError, ValueError) as e:
        raise GbenchError(f"the CUB metadata files in {cub} do not agree ({type(e).__name__}: {e}); "
                          "restore them from CUB_200_2011.tgz") from None
    decoder = Decoder((size, size), "bicubic", crop=StackGANCrop(bboxes))
    y = torch.from_numpy(np.array([cls[i] for i in chosen], dtype=np.int64).reshape(-1))
    names = tuple(rel[i] for i in chosen)
    return ConditionedSet("birds", split, LazyImages(files, decoder, (3, size, size)), None, y, class_names, None,
                          _captions(base, list(names)), rule, names)


BIRDS = PaperSet(
    "birds",
    "CUB-200-2011 (www.vision.caltech.edu/datasets/cub_200_2011) and the Reed et al. captions "
    "(AttnGAN's birds.zip or Reed's cvpr2016_cub text_c10)",
    "DIR/birds/CUB_200_2011/{images.txt,image_class_labels.txt,classes.txt,bounding_boxes.txt,"
    "train_test_split.txt,images/<class>/<file>.jpg} + DIR/birds/text/<class>/<file>.txt "
    "[+ DIR/birds/{trainvalclasses,testclasses}.txt]",
    _first_missing,
    _load,
)
