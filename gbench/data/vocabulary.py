"""A word vocabulary for free-text captions (CUB-200's), and their token ids.

The `scenes` captions come from a closed grammar with its own fixed vocabulary
(:func:`gbench.features.scenes_matcher.tokenize`); real captions need one built
from the training split. Words are lower-cased runs of letters (and
apostrophes); id 0 pads, id 1 stands for a word outside the vocabulary, then
the training words by decreasing count (ties alphabetical), so the same
captions always give the same ids.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Sequence

import torch

from gbench.errors import GbenchError

PAD, UNK = "<pad>", "<unk>"
_WORD = re.compile(r"[a-z']+")


def split_words(text: str) -> list[str]:
    """``"A small, red bird."`` → ``["a", "small", "red", "bird"]``."""
    return _WORD.findall(text.lower())


@dataclass(frozen=True)
class Vocabulary:
    """``words[i]`` is the word of token id i (``words[0] = PAD``, ``words[1] = UNK``)."""

    words: tuple[str, ...]

    def __post_init__(self):
        if self.words[:2] != (PAD, UNK) or len(set(self.words)) != len(self.words):
            raise GbenchError("a vocabulary starts with the padding and unknown tokens and lists each word once")

    def __len__(self) -> int:
        return len(self.words)

    @classmethod
    def from_captions(cls, captions: Iterable[str], max_words: int = 5000, min_count: int = 1) -> "Vocabulary":
        """The ``max_words`` most frequent words seen at least ``min_count`` times."""
        counts = Counter(w for text in captions for w in split_words(text))
        kept = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        return cls((PAD, UNK, *kept[:max_words]))

    def encode(self, texts: Sequence[str], max_tokens: int) -> torch.Tensor:
        """Token ids int64 (N, max_tokens): left-aligned, 0-padded, cut after ``max_tokens`` words;
        unknown words are 1."""
        index = {w: i for i, w in enumerate(self.words)}
        out = torch.zeros((len(texts), max_tokens), dtype=torch.int64)
        for row, text in enumerate(texts):
            ids = [index.get(w, 1) for w in split_words(text)[:max_tokens]]
            out[row, :len(ids)] = torch.tensor(ids, dtype=torch.int64)
        return out


__all__ = ["PAD", "UNK", "Vocabulary", "split_words"]
