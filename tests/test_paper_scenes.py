"""Paper counterparts of `scenes` (birds, ade20k, cityscapes, ffhq, celeba-hq) on tiny fake trees."""

import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from gbench.data import DATASETS
from gbench.data.paper_birds import stackgan_box
from gbench.data.paper_scenes import NAMES, LazyLabelMaps, load_conditioned
from gbench.errors import GbenchError

W, H = 30, 20  # every fake photo is 30 wide, 20 tall


def _photo(path, seed, size=(W, H), fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(arr).save(path, fmt)


def _label_png(path, left, right):
    """A 20×30 label map: columns 0..14 = ``left``, 15..29 = ``right``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.full((H, W), right, dtype=np.uint8)
    arr[:, :15] = left
    Image.fromarray(arr, mode="L").save(path)


CUB_CLASSES = ("001.Albatross", "002.Grebe", "003.Heron", "004.Wren")
BOXES = [(10.0, 5.0, 8.0, 6.0), (2.0, 3.0, 20.0, 10.0)]  # a box inside the image, one clipped by the border


def _birds(root, class_lists=True, text="text", per_class=2):
    base = root / "birds"
    cub = base / "CUB_200_2011"
    rows = []  # (id, class index, relative path)
    for c, name in enumerate(CUB_CLASSES):
        for j in range(per_class):
            rows.append((len(rows) + 1, c, f"{name}/{name[4:]}_{j}.jpg"))
    for i, c, rel in rows:
        _photo(cub / "images" / rel, i)
        if text:
            cap = (base / text / rel).with_suffix(".txt")
            cap.parent.mkdir(parents=True, exist_ok=True)
            cap.write_text("".join(f"caption {k} of image {i}\n" for k in range(10)) + "\n")
    (cub / "images.txt").write_text("".join(f"{i} {rel}\n" for i, _, rel in rows))
    (cub / "image_class_labels.txt").write_text("".join(f"{i} {c + 1}\n" for i, c, _ in rows))
    (cub / "classes.txt").write_text("".join(f"{k + 1} {n}\n" for k, n in enumerate(CUB_CLASSES)))
    boxes = (" ".join(map(str, BOXES[(i - 1) % 2])) for i, _, _ in rows)  # id 1 gets BOXES[0]
    (cub / "bounding_boxes.txt").write_text("".join(f"{i} {b}\n" for (i, _, _), b in zip(rows, boxes)))
    (cub / "train_test_split.txt").write_text("".join(f"{i} {i % 2}\n" for i, _, _ in rows))
    if class_lists:
        (base / "trainvalclasses.txt").write_text("\n".join(CUB_CLASSES[:3]) + "\n")
        (base / "testclasses.txt").write_text(CUB_CLASSES[3] + "\n")
    for sub in ("train", "test"):  # StackGAN's pickles: must never be opened as pickles
        (base / sub).mkdir()
        (base / sub / "filenames.pickle").write_bytes(b"not a pickle")
    return rows


def test_stackgan_crop_math():
    # box (10, 5, 8, 6): centre (⌊28/2⌋, ⌊16/2⌋) = (14, 8), R = ⌊0.75 · 8⌋ = 6 → [8, 20) × [2, 14)
    assert stackgan_box((10.0, 5.0, 8.0, 6.0), W, H) == (8, 2, 20, 14)
    assert stackgan_box((10.7, 5.9, 8.6, 6.2), W, H) == (8, 2, 20, 14)  # truncated like pandas .astype(int)
    # box (2, 3, 20, 10): centre (12, 8), R = 15 → [−3, 27) × [−7, 23), clipped to the 30×20 image
    assert stackgan_box((2.0, 3.0, 20.0, 10.0), W, H) == (0, 0, 27, 20)


def test_birds_class_disjoint_split_crop_and_captions(tmp_path):
    _birds(tmp_path)
    train = load_conditioned("birds", "train", tmp_path, size=12)
    test = load_conditioned("birds", "test", tmp_path, size=12)
    assert train.labels.tolist() == [0, 0, 1, 1, 2, 2] and test.labels.tolist() == [3, 3]
    assert train.classes == test.classes == CUB_CLASSES
    assert "class-disjoint" in train.split_rule and "class-disjoint" in test.split_rule
    assert train.images.shape == (6, 3, 12, 12) and train.label_maps is None
    # image 1 has box (10, 5, 8, 6): its 12×12 crop resized to 12×12 is the crop itself
    src = np.asarray(Image.open(tmp_path / "birds/CUB_200_2011/images" / train.names[0]).convert("RGB"))
    assert torch.equal(train.images[0], torch.from_numpy(src[2:14, 8:20].transpose(2, 0, 1).copy()))
    assert train.images[1].shape == (3, 12, 12)  # the clipped, non-square crop is squashed to S×S
    assert len(train.captions) == 6 and all(len(c) == 10 for c in train.captions)  # trailing blank line dropped
    assert train.captions[0][3] == "caption 3 of image 1" and test.first_captions[1] == "caption 0 of image 8"
    x = DATASETS.get("birds")("train", tmp_path)  # the registered spec: 64×64 ImageSet with the 200-way labels
    assert x.images.shape == (6, 3, 64, 64) and x.classes == CUB_CLASSES and x.labels.tolist() == [0, 0, 1, 1, 2, 2]


def test_birds_cub_split_text_c10_and_no_captions(tmp_path):
    _birds(tmp_path, class_lists=False, text="text_c10")
    train = load_conditioned("birds", "train", tmp_path, size=8)
    assert "train_test_split.txt" in train.split_rule
    assert [n.split("_")[-1] for n in train.names] == ["0.jpg"] * 4  # ids 1, 3, 5, 7 (odd = train)
    assert train.captions[2][0] == "caption 0 of image 5"
    (tmp_path / "birds" / "text_c10" / CUB_CLASSES[0]).rename(tmp_path / "elsewhere")
    with pytest.raises(GbenchError, match="caption file .* is missing"):
        load_conditioned("birds", "train", tmp_path, size=8)
    other = tmp_path / "b"
    _birds(other, text=None)
    assert load_conditioned("birds", "test", other, size=8).captions is None


def test_no_pickle_is_read_and_sources_pickle(tmp_path, monkeypatch):
    _birds(tmp_path)
    _ade(tmp_path)
    loaded = {}

    def refuse(*a, **k):
        raise AssertionError("a dataset loader unpickled something")

    with monkeypatch.context() as m:
        for name in ("load", "loads", "Unpickler"):
            m.setattr(pickle, name, refuse)
        m.setattr(torch, "load", refuse)
        loaded["birds"] = load_conditioned("birds", "train", tmp_path, size=8)
        loaded["ade"] = load_conditioned("ade20k", "train", tmp_path, size=8)
        first = loaded["birds"].images[:2], loaded["ade"].label_maps[0]
    # the lazy sources go to DataLoader workers: they pickle and decode the same there
    again = pickle.loads(pickle.dumps((loaded["birds"].images, loaded["ade"].label_maps)))
    assert torch.equal(again[0][:2], first[0]) and torch.equal(again[1][0], first[1])


def _ade(root, n=0):
    """Two training pairs and one validation pair with known classes (+ n more of each, random halves)."""
    base = root / "ADEChallengeData2016"
    specs = {"training": [("00000001", 3, 150), ("00000002", 0, 7)], "validation": [("00000001", 12, 0)]}
    for sub, items in specs.items():
        items += [(f"{k + 10:08d}", k % 151, (7 * k) % 151) for k in range(n)]
    for sub, items in specs.items():
        tag = "train" if sub == "training" else "val"
        for k, (stem, left, right) in enumerate(items):
            _photo(base / "images" / sub / f"ADE_{tag}_{stem}.jpg", k)
            _label_png(base / "annotations" / sub / f"ADE_{tag}_{stem}.png", left, right)
    (base / "objectInfo150.txt").write_text("Idx\tRatio\tTrain\tVal\tName\n1\t0.15\t11664\t1172\twall\n"
                                            "3\t0.09\t8265\t796\tsky\n")
    scenes = ["ADE_train_00000001 bathroom", "ADE_train_00000002 street", "ADE_val_00000001 bathroom"]
    scenes += [f"ADE_{tag}_{k + 10:08d} street" for tag in ("train", "val") for k in range(n)]
    (base / "sceneCategories.txt").write_text("".join(line + "\n" for line in scenes))


def test_ade20k_pairs_names_scenes_and_nearest_resize(tmp_path):
    _ade(tmp_path)
    train = load_conditioned("ade20k", "train", tmp_path, size=16)
    test = load_conditioned("ade20k", "test", tmp_path, size=16)
    assert len(train) == 2 and len(test) == 1 and "validation" in test.split_rule
    assert train.images.shape == (2, 3, 16, 16) and train.label_maps.shape == (2, 16, 16)
    maps = train.label_maps[:]
    assert maps.dtype == torch.uint8 and set(maps.unique().tolist()) == {0, 3, 7, 150}  # no value made up
    # nearest: output column x samples source column ⌊(x + ½) · 30/16⌋, so columns 0..7 ← 0..14, 8..15 ← 15..29
    assert (maps[0, :, :8] == 3).all() and (maps[0, :, 8:] == 150).all()
    assert train.label_classes[:4] == ("other", "wall", "class 2", "sky") and len(train.label_classes) == 151
    assert train.classes == ("bathroom", "street") and train.labels.tolist() == [0, 1]
    assert test.labels.tolist() == [0]
    (tmp_path / "ADEChallengeData2016" / "sceneCategories.txt").unlink()
    assert load_conditioned("ade20k", "train", tmp_path, size=16).labels is None
    (tmp_path / "ADEChallengeData2016/annotations/training/ADE_train_00000002.png").unlink()
    with pytest.raises(GbenchError, match="ADE_train_00000002.jpg has no label map"):
        load_conditioned("ade20k", "train", tmp_path, size=16)


def test_cityscapes_pairs_by_frame_and_half_aspect(tmp_path):
    base = tmp_path / "cityscapes"
    frames = {"train": [("aachen", "000001_000019"), ("aachen", "000000_000019"), ("bochum", "000000_000313")],
              "val": [("frankfurt", "000000_000294")]}
    for sub, items in frames.items():
        for k, (city, frame) in enumerate(items):
            _photo(base / "leftImg8bit" / sub / city / f"{city}_{frame}_leftImg8bit.png", k)
            _label_png(base / "gtFine" / sub / city / f"{city}_{frame}_gtFine_labelIds.png", 7, 26)
            _label_png(base / "gtFine" / sub / city / f"{city}_{frame}_gtFine_instanceIds.png", 1, 2)
    train = load_conditioned("cityscapes", "train", tmp_path, size=8)
    assert train.names == ("leftImg8bit/train/aachen/aachen_000000_000019_leftImg8bit.png",
                           "leftImg8bit/train/aachen/aachen_000001_000019_leftImg8bit.png",
                           "leftImg8bit/train/bochum/bochum_000000_000313_leftImg8bit.png")
    assert train.images.shape == (3, 3, 8, 16) and train.label_maps.shape == (3, 8, 16)
    assert set(train.label_maps[:].unique().tolist()) == {7, 26} and train.labels is None
    assert train.label_classes[7] == "road" and train.label_classes[26] == "car" and len(train.label_classes) == 34
    assert len(load_conditioned("cityscapes", "test", tmp_path, size=8)) == 1
    spec = DATASETS.get("cityscapes")
    assert spec.availability(tmp_path) == (True, "") and spec("test", tmp_path).images.shape == (1, 3, 64, 128)


def test_lazy_label_maps_index_like_lazy_images(tmp_path):
    files = []
    for k in range(3):
        files.append(tmp_path / f"{k}.png")
        _label_png(files[-1], k, 10 + k)
    from gbench.data.paper_scenes import Decoder

    maps = LazyLabelMaps(files, Decoder((4, 6), "nearest", labels=True), (4, 6))
    assert maps.shape == (3, 4, 6) and maps[1].shape == (4, 6) and maps[-1][0, 0] == 2
    assert maps[1:].shape == (2, 4, 6) and maps[torch.tensor([2, 0])][:, 0, 0].tolist() == [2, 0]
    assert maps[np.array([True, False, True])].shape == (2, 4, 6)
    sub = maps.subset([2])
    assert isinstance(sub, LazyLabelMaps) and sub.shape == (1, 4, 6) and torch.equal(sub[0], maps[2])


def test_faces_order_split_and_resolution_choice(tmp_path):
    flat = tmp_path / "celeba-hq" / "CelebA-HQ-img"
    for k in (0, 1, 2, 10, 3, 4, 5, 6, 7, 8, 9):
        _photo(flat / f"{k}.jpg", k)
    train = load_conditioned("celeba-hq", "train", tmp_path, size=16)
    test = load_conditioned("celeba-hq", "test", tmp_path, size=16)
    assert test.names == ("CelebA-HQ-img/10.jpg",)  # digit runs compare as numbers; round(11 / 10) = 1 test image
    assert len(train) == 10 and train.names[2] == "CelebA-HQ-img/2.jpg" and "last 1 of 11" in test.split_rule
    assert train.images[:2].shape == (2, 3, 16, 16) and train.labels is None and train.captions is None
    ffhq = tmp_path / "ffhq"
    for k in range(14):
        _photo(ffhq / "thumbnails128x128" / f"{k // 10:02d}000" / f"{k:05d}.png", k, (12, 12))
        _photo(ffhq / "images1024x1024" / f"{k // 10:02d}000" / f"{k:05d}.png", k, (24, 24))
    small, large = (load_conditioned("ffhq", "test", tmp_path, size=s) for s in (64, 256))
    assert small.names == ("thumbnails128x128/01000/00012.png", "thumbnails128x128/01000/00013.png")
    assert large.names[0].startswith("images1024x1024/") and large.images.shape == (2, 3, 256, 256)
    assert len(load_conditioned("ffhq", "train", tmp_path, size=64)) == 12


@pytest.mark.parametrize("name", NAMES)
def test_missing_root_and_download(tmp_path, name):
    spec = DATASETS.get(name)
    ok, why = spec.availability(tmp_path)
    assert not ok and str(tmp_path) in why and "\n" not in why
    with pytest.raises(GbenchError) as e:
        spec("train", tmp_path)
    assert "not found: expected " + str(tmp_path) in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(GbenchError, match="no automatic download") as e:
        spec("train", tmp_path, download=True)
    assert "DIR/" in str(e.value) and "\n" not in str(e.value)
    assert spec.availability(None)[0] is False  # `gbench list`: needs --data-root


def test_bad_split_and_size(tmp_path):
    with pytest.raises(GbenchError, match="unknown split"):
        load_conditioned("ffhq", "val", tmp_path)
    with pytest.raises(GbenchError, match="positive int"):
        load_conditioned("ffhq", "train", tmp_path, size=0)
    with pytest.raises(GbenchError, match="unknown paper scene dataset"):
        load_conditioned("coco", "train", tmp_path)
