"""`scenes-matcher`: a caption–image matching pair for `scenes` (R-precision's embedding space).

Text-to-image models on `scenes` are scored by R-precision (Xu et al. 2018;
:mod:`gbench.metrics.r_precision`): does a generated image match its own caption
better than 99 others? AttnGAN measured that with its DAMSM encoders; this is
the same idea at `scenes`' scale — two small encoders trained CLIP-style to map
an image and a caption of it to nearby unit vectors.

Network (both towers end in L2-normalized EMBED_DIM = 96 vectors):

    image  uint8 (N, 3, 64, 64) → [-1, 1]
      conv4×4 3→48,  stride 4 (patches), BN, ReLU → 48 × 16 × 16
      conv3×3 48→64, stride 2, BN, ReLU           → 64 × 8 × 8
      conv3×3 64→80,           BN, ReLU           → 80 × 8 × 8
      conv3×3 80→32, stride 2, BN, ReLU           → 32 × 4 × 4
      flatten 512, linear 512→96, L2 normalize                   = image embedding
    text   caption → token ids (N, ≤ MAX_TOKENS = 34), vocabulary V = 54 (the grammar's words)
      embedding V→64, GRU 64→112 (one layer, left to right)
      GRU output at the last real token, linear 112→96, L2 normalize = text embedding
    similarity = exp(logit_scale) · cosine   (logit_scale learned, ≤ log 100)

The image tower flattens a 4×4 map instead of pooling it: the captions' spatial
relations ("left of", "above") need to know where things are. The text tower is
recurrent, so word order matters: "a red circle left of a blue square" and "a
blue circle left of a red square" get different embeddings (tests check it).

Tokenizer (:func:`tokenize`): lower-case, commas are tokens, words split on
white space; the vocabulary is every word of the grammar's tables
(:mod:`gbench.data.scenes_captions`) plus its literal words ("a", "an",
"which", "is", "and", ","), sorted, after <pad> = 0 and <unk> = 1; any other
word → <unk>. ``MAX_TOKENS`` is the longest caption the grammar can produce
(computed from the tables); longer inputs are truncated.

Training (:func:`train_scenes_matcher`, :class:`TrainRecipe`): the `scenes`
TRAIN split only (20,000 images); each image's caption pool is its real caption
(stream ``[7, 0, 1, i]``) plus ``extra_captions`` more of the same factors from a
disjoint stream ``numpy.random.default_rng([7, 0, 2, i])``, one drawn per image
and epoch; symmetric InfoNCE (CLIP) over the batch, AdamW, linear warm-up then
cosine decay. One CPU thread, all randomness from ``seed``: bitwise-reproducible
weights for a torch version and CPU architecture. The manifest records the test
R-precision on the full 5,000-image test split with its real captions. Cost:
12 epochs ≈ 10 CPU-minutes (≈ 50 s an epoch on an idle core; the shipped run took
25 minutes of wall time on two cores shared with other training jobs).

Quality of the shipped weights: R-precision 0.883 ± 0.014; image→text top-1 among
all 5,000 test captions is only 0.27, because many captions fit many scenes ("a red
circle, over grass" is true of every scene with one). Binding colours to the right
objects is the weak point: the true caption beats its colour-swapped twin for
about 3 images in 4.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gbench.data import scenes_captions as sc
from gbench.errors import GbenchError
from gbench.features.shipped import EvaluatorSpec, LoadedEvaluator, save_evaluator, seeded_training, warmup_cosine
from gbench.images import uint8_to_float

NAME = "scenes-matcher"
VERSION = "1"
FILENAME = "scenes-matcher.safetensors"
EMBED_DIM = 96
IMAGE_SHAPE = (3, 64, 64)
TEXT_HIDDEN = 112

# --------------------------------------------------------------------------- tokenizer

PAD, UNK = "<pad>", "<unk>"
# Words the grammar writes literally (caption() in scenes_captions), not from a table.
_LITERALS = ("a", "an", "which", "is", "and", ",")
_TABLES = (sc.SIZE_WORDS, sc.COLOUR_WORDS, sc.SHAPE_WORDS, sc.RELATION_WORDS, sc.BACKGROUND_WORDS)


def _split(text: str) -> list[str]:
    return str(text).lower().replace(",", " , ").split()


def _grammar_words() -> list[str]:
    phrases = [p for table in _TABLES for ps in table.values() for p in ps]
    phrases += list(sc.OPENERS) + list(sc.BACKGROUND_PREPOSITIONS) + list(_LITERALS)
    return sorted({w for p in phrases for w in _split(p)})


VOCAB: tuple[str, ...] = (PAD, UNK, *_grammar_words())
TOKEN_ID = {w: i for i, w in enumerate(VOCAB)}


def _longest(phrases) -> int:
    return max(len(_split(p)) for p in phrases)


def _longest_in(table: dict) -> int:
    return _longest(p for ps in table.values() for p in ps)


# The grammar's worst case: opener, 3 noun phrases ("a" size colour shape), 2 relations,
# ", which is", ", above", and a two-region background "land and water".
MAX_TOKENS = (_longest(sc.OPENERS) + 3 * (1 + _longest_in(sc.SIZE_WORDS) + _longest_in(sc.COLOUR_WORDS)
                                          + _longest_in(sc.SHAPE_WORDS))
              + 2 * _longest_in(sc.RELATION_WORDS) + len(_split(", which is")) + 1
              + _longest(sc.BACKGROUND_PREPOSITIONS)
              + _longest_in({k: v for k, v in sc.BACKGROUND_WORDS.items() if k != "water"}) + 1
              + _longest(sc.BACKGROUND_WORDS["water"]))


def tokenize(texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Captions → (ids int64 (N, MAX_TOKENS), padded with 0; lengths int64 (N,) in [1, MAX_TOKENS]).

    Unknown words map to <unk> (1); an empty caption becomes the single token <unk>;
    words beyond MAX_TOKENS are dropped.
    """
    if isinstance(texts, str):
        raise GbenchError("tokenize takes a list of captions, not one string: wrap it in a list")
    ids = torch.zeros(len(texts), MAX_TOKENS, dtype=torch.int64)
    lengths = torch.empty(len(texts), dtype=torch.int64)
    for i, text in enumerate(texts):
        row = [TOKEN_ID.get(w, 1) for w in _split(text)][:MAX_TOKENS] or [1]
        ids[i, :len(row)] = torch.tensor(row)
        lengths[i] = len(row)
    return ids, lengths


def detokenize(ids: torch.Tensor, lengths: torch.Tensor) -> list[str]:
    """Inverse of :func:`tokenize` for in-vocabulary captions (commas re-attached)."""
    return [" ".join(VOCAB[int(t)] for t in row[:int(n)]).replace(" ,", ",") for row, n in zip(ids, lengths)]


# --------------------------------------------------------------------------- network


class SceneMatcher(nn.Module):
    """The two towers above. ``encode_images(uint8 (N, 3, 64, 64))`` and ``encode_texts(list of N str)``
    → float32 (N, EMBED_DIM) unit rows; ``similarity(img, txt)`` → scaled cosine logits."""

    def __init__(self):
        super().__init__()

        def block(cin: int, cout: int, k: int = 3, stride: int = 2) -> list[nn.Module]:
            # BN: fast, learning-rate-tolerant training; in eval mode a fixed per-image affine map.
            return [nn.Conv2d(cin, cout, k, stride=stride, padding=(k // 2) if k % 2 else 0, bias=False),
                    nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

        # A 4×4 stride-4 patch stem: a 3×3 or 5×5 conv at full resolution took half of a
        # training step on one thread (measured), and the smallest object is ~10 px wide.
        self.image_body = nn.Sequential(*block(3, 48, 4, 4), *block(48, 64), *block(64, 80, stride=1),
                                        *block(80, 32))
        self.image_proj = nn.Linear(32 * 4 * 4, EMBED_DIM)
        self.token_embedding = nn.Embedding(len(VOCAB), 64, padding_idx=0)
        self.gru = nn.GRU(64, TEXT_HIDDEN, batch_first=True)
        self.text_proj = nn.Linear(TEXT_HIDDEN, EMBED_DIM)
        # CLIP's initial temperature 0.07; learned, capped at 100 as in CLIP.
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def encode_image_float(self, x: torch.Tensor) -> torch.Tensor:
        """float (N, 3, 64, 64) in [-1, 1] → unit (N, EMBED_DIM)."""
        return F.normalize(self.image_proj(self.image_body(x).flatten(1)), dim=1)

    def encode_tokens(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """ids int64 (N, L), lengths int64 (N,) → unit (N, EMBED_DIM)."""
        ids = ids[:, :int(lengths.max())]  # the padding past the longest caption costs GRU steps for nothing
        out, _ = self.gru(self.token_embedding(ids))
        # Left-to-right GRU: the output at the last real token never saw the padding.
        last = out[torch.arange(len(ids), device=ids.device), lengths.to(ids.device) - 1]
        return F.normalize(self.text_proj(last), dim=1)

    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (N, 3, 64, 64) RGB → float32 (N, EMBED_DIM), unit rows."""
        if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or tuple(images.shape[1:]) != IMAGE_SHAPE:
            shape = tuple(getattr(images, "shape", ()))
            raise GbenchError(f"{NAME} takes uint8 (N, 3, 64, 64) RGB images (scenes at 64×64), got "
                              f"{getattr(images, 'dtype', type(images).__name__)} {shape}")
        return self.encode_image_float(uint8_to_float(images.to(self.logit_scale.device)))

    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor:
        """N captions → float32 (N, EMBED_DIM), unit rows."""
        ids, lengths = tokenize(texts)
        return self.encode_tokens(ids.to(self.logit_scale.device), lengths)

    def similarity(self, image_emb: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
        """(N, d), (M, d) unit rows → (N, M) logits exp(logit_scale) · cosine."""
        return self.logit_scale.clamp(max=math.log(100)).exp() * image_emb @ text_emb.T


def _net(matcher: SceneMatcher | LoadedEvaluator) -> SceneMatcher:
    return matcher.net if isinstance(matcher, LoadedEvaluator) else matcher


def image_embeddings(matcher: SceneMatcher | LoadedEvaluator, images, batch_size: int = 250) -> torch.Tensor:
    """Embed uint8 images (N, 3, 64, 64) — a tensor or a lazy source like scenes' RenderedImages —
    in batches, under inference_mode on the net's device → float32 (N, EMBED_DIM) on the CPU."""
    net = _net(matcher)
    with torch.inference_mode():
        parts = [net.encode_images(images[i:i + batch_size]).cpu() for i in range(0, len(images), batch_size)]
    return torch.cat(parts) if parts else torch.empty(0, EMBED_DIM)


def text_embeddings(matcher: SceneMatcher | LoadedEvaluator, texts: Sequence[str],
                    batch_size: int = 1000) -> torch.Tensor:
    """Embed N captions in batches under inference_mode → float32 (N, EMBED_DIM) on the CPU."""
    net = _net(matcher)
    texts = list(texts)
    with torch.inference_mode():
        parts = [net.encode_texts(texts[i:i + batch_size]).cpu() for i in range(0, len(texts), batch_size)]
    return torch.cat(parts) if parts else torch.empty(0, EMBED_DIM)


def retrieval_top1(image_emb: torch.Tensor, text_emb: torch.Tensor) -> float:
    """Image→text top-1 accuracy among all N captions: the fraction of images whose own caption
    (same row) has the highest cosine (unit rows (N, d) each; ties broken toward the lower row)."""
    return float((torch.argmax(image_emb @ text_emb.T, dim=1) == torch.arange(len(image_emb))).double().mean())


# --------------------------------------------------------------------------- training


@dataclass(frozen=True)
class TrainRecipe:
    """Everything that determines the trained weights (recorded in the manifest)."""

    seed: int = 0
    epochs: int = 12
    batch_size: int = 256          # the InfoNCE negatives: 255 per image and per caption
    lr: float = 2e-3               # AdamW peak, after linear warm-up; cosine to 0 per step
    warmup_steps: int = 150
    weight_decay: float = 0.02     # on weight matrices and kernels only (not BN, biases, temperature)
    extra_captions: int = 2        # per train image, from the disjoint stream [7, 0, 2, i]


def caption_pools(indices: np.ndarray, extra: int) -> list[list[str]]:
    """Per train row: its real caption, then ``extra`` more of the same factors drawn in order from
    ``numpy.random.default_rng([SPLIT_SEED, 0, 2, i])`` (stream 1 is the real captions')."""
    from gbench.data import scenes

    f, real = scenes.split_factors("train"), scenes.split_captions("train", indices)
    pools = []
    for i, text in zip(indices, real):
        rng = np.random.default_rng([scenes.SPLIT_SEED, 0, 2, int(i)])
        pools.append([text] + [sc.caption(f[int(i)], rng) for _ in range(extra)])
    return pools


def _fit(recipe: TrainRecipe, images: torch.Tensor, pools: list[list[str]],
         monitor: Callable[[SceneMatcher], str] | None = None,
         log: Callable[[str], None] | None = print) -> SceneMatcher:
    """Symmetric InfoNCE on (uint8 images (N, 3, 64, 64), caption pools) (global RNG already seeded:
    it drives the initialization); ``monitor(net)`` adds a few words to each epoch's log line."""
    gen = torch.Generator().manual_seed(recipe.seed)  # batch order and caption choice
    k = len(pools[0])
    ids, lengths = tokenize([t for pool in pools for t in pool])
    ids, lengths = ids.view(len(pools), k, -1), lengths.view(len(pools), k)
    net = SceneMatcher()
    decay = [p for p in net.parameters() if p.ndim >= 2]
    no_decay = [p for p in net.parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": recipe.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=recipe.lr)
    n = len(images)
    total_steps = recipe.epochs * math.ceil(n / recipe.batch_size)
    sched = warmup_cosine(opt, recipe.warmup_steps, total_steps)
    for epoch in range(recipe.epochs):
        net.train()
        start, total = time.perf_counter(), 0.0
        perm = torch.randperm(n, generator=gen)
        choice = torch.randint(k, (n,), generator=gen)
        for i in range(0, n, recipe.batch_size):
            idx = perm[i:i + recipe.batch_size]
            img = net.encode_image_float(uint8_to_float(images[idx]))
            txt = net.encode_tokens(ids[idx, choice[idx]], lengths[idx, choice[idx]])
            logits = net.similarity(img, txt)
            target = torch.arange(len(idx))
            loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        if log is not None:
            extra = f"  {monitor(net.eval())}" if monitor is not None else ""
            log(f"epoch {epoch + 1}/{recipe.epochs}  loss {total / n:.4f}  "
                f"{time.perf_counter() - start:.0f} s{extra}")
    return net.eval()


def evaluate(matcher: SceneMatcher | LoadedEvaluator, images, captions: Sequence[str], seed: int = 0) -> dict:
    """R-precision (99 mismatched, 10 folds) and image→text top-1 retrieval on matched pairs."""
    from gbench.metrics.r_precision import r_precision

    img, txt = image_embeddings(matcher, images), text_embeddings(matcher, captions)
    mean, std = r_precision(img, txt, mismatched=99, seed=seed, folds=10)
    return {"r_precision": mean, "r_precision_std": std, "retrieval_top1": retrieval_top1(img, txt)}


def train_scenes_matcher(out_dir: str | Path, seed: int = 0, epochs: int | None = None,
                         log: Callable[[str], None] | None = print, monitor_size: int = 1000) -> dict:
    """Train the matcher on the scenes train split; write its weights and manifest entry to ``out_dir``.

    Args:
        out_dir: where ``scenes-matcher.safetensors`` goes and ``manifest.json`` is merged
            (other entries kept); never the package folder (:func:`save_evaluator` refuses it).
        seed: seeds initialization, batch order and caption choice.
        epochs: passes over the 20,000 train images (None: the recipe's).
        log: one line per epoch (loss, seconds, R-precision on the first ``monitor_size``
            test images when > 0) and one for the files written; None for silence.

    Returns:
        The manifest entry: test_r_precision (± test_r_precision_std, over 10 folds) and
        test_retrieval_top1 on the full 5,000-image test split with its real captions, recipe, ...
    """
    from gbench.data import scenes

    recipe = TrainRecipe(seed=seed, **({} if epochs is None else {"epochs": epochs}))
    start = time.perf_counter()
    with seeded_training(seed):  # one thread for rendering too: see the scenes dataset card
        train = scenes.load("train").images.materialize()
        pools = caption_pools(np.arange(len(train)), recipe.extra_captions)
        test = scenes.load_split("test")
        k = monitor_size
        monitor = None if log is None or k <= 0 else (  # a progress line only: never a training signal
            lambda net: f"R-precision (first {k} test) "
                        f"{evaluate(net, test.images[:k], test.captions[:k])['r_precision']:.3f}")
        net = _fit(recipe, train, pools, monitor, log)
        wall = time.perf_counter() - start
        quality = evaluate(net, test.images, test.captions)
    entry = save_evaluator(out_dir, NAME, VERSION, FILENAME, net, {
        "embed_dim": EMBED_DIM,
        "vocab_size": len(VOCAB),
        "max_tokens": MAX_TOKENS,
        "test_r_precision": quality["r_precision"],
        "test_r_precision_std": quality["r_precision_std"],
        "test_retrieval_top1": quality["retrieval_top1"],
        "r_precision_protocol": "Xu et al. 2018, R = 1: true caption vs 99 other test images' captions "
                                "(seed 0), cosine; ties are misses; std over 10 contiguous folds",
        "train_wall_seconds": round(wall, 1),
        "data": "scenes train split (20,000 images; real captions + 2 extra per image from stream "
                "[7, 0, 2, i]); quality on the full scenes test split (5,000 images, real captions)",
        "recipe": asdict(recipe) | {"optimizer": "AdamW", "schedule": "linear warm-up, then cosine per step to 0",
                                    "loss": "symmetric InfoNCE (CLIP), learned temperature",
                                    "augmentation": "caption resampling only", "cpu_threads": 1},
        "command": f"gbench evaluators train {NAME} --seed {seed} --epochs {recipe.epochs}",
    })
    return entry


# --------------------------------------------------------------------------- registration


EVALUATOR = EvaluatorSpec(
    name=NAME,
    version=VERSION,
    group="scenes",
    description="caption–image matching pair for scenes (CNN + GRU, 96-d CLIP-style embeddings); "
                "the R-precision space",
    filename=FILENAME,
    build=SceneMatcher,
    train=lambda out_dir, seed=0, epochs=None, log=print: train_scenes_matcher(out_dir, seed=seed, epochs=epochs,
                                                                               log=log),
    quality=lambda entry: f"R-precision {entry['test_r_precision']:.3f}",
)
