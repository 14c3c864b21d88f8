"""Caption encoders for the text-to-image GANs, and the matching loss that pre-trains them.

Reed et al. 2016 (GAN-INT-CLS, Sec. 3) condition G and D on φ(t), a text
embedding pre-trained to match images with their descriptions (Reed, Akata,
Lee & Schiele 2016, "Learning Deep Representations of Fine-Grained Visual
Descriptions": a char-CNN-RNN trained with a structured joint embedding
loss); StackGAN (Zhang et al. 2017) uses the same pre-trained embedding.

Here, over the word tokens of a caption grammar (0 = padding):

* :class:`TextEncoder` — word embedding, a bidirectional GRU, the mean of its
  outputs over the real tokens, a linear map: (N, L) → (N, dim);
* :class:`ImageEmbedder` — the DCGAN discriminator trunk (:class:`zoo.layers.ConvEncoder`)
  to the same space, used only while pre-training;
* :func:`matching_loss` — the symmetric contrastive loss of a batch of
  (image, caption) pairs: each image must pick its caption among the batch's,
  and each caption its image (cross-entropy over cosine similarities / τ).

Deviations: words, not characters (the grammar's vocabulary is small and
closed); the contrastive (InfoNCE/CLIP-style) loss instead of Reed et al.'s
structured hinge loss — both rank the true pair above the batch's others.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zoo.layers.conv import ConvEncoder


class TextEncoder(nn.Module):
    """Token ids int64 (N, L), 0 = padding → embedding float (N, dim).

    Captions are left-aligned (padding after the last word); a caption of only
    padding encodes to the linear map's bias (its mean over no tokens is zero).
    """

    def __init__(self, vocab_size: int, dim: int, word_dim: int = 64, hidden: int = 128):
        super().__init__()
        self.words = nn.Embedding(vocab_size, word_dim, padding_idx=0)
        self.gru = nn.GRU(word_dim, hidden, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * hidden, dim)
        self.vocab_size, self.dim = vocab_size, dim

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        mask = (tokens != 0).unsqueeze(-1).float()  # (N, L, 1); captions are left-aligned, padding after
        lengths = mask.sum(1).squeeze(1).clamp(min=1).long().cpu()
        # packed: the backward direction starts at each caption's last word, not in its padding
        packed = nn.utils.rnn.pack_padded_sequence(self.words(tokens), lengths, batch_first=True,
                                                   enforce_sorted=False)
        h, _ = nn.utils.rnn.pad_packed_sequence(self.gru(packed)[0], batch_first=True,
                                                total_length=tokens.shape[1])
        mean = (h * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return self.out(mean)


class ImageEmbedder(nn.Module):
    """Images float (N, C, S, S) in [-1, 1] → embedding (N, dim) (the DCGAN trunk, batch norm off:
    a batch of pairs must not share statistics across its images)."""

    def __init__(self, channels: int, image_size: int, width: int, dim: int):
        super().__init__()
        self.net = ConvEncoder(channels, image_size, width, dim, batch_norm=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten(1)


def matching_loss(image_emb: torch.Tensor, text_emb: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """Symmetric contrastive loss of N matching pairs (row i of each is one pair): the mean of
    CE(images → captions) and CE(captions → images) over cosine similarities / temperature.
    Its minimum −log 1 = 0 needs every true pair to be the most similar of its row and column."""
    a, b = F.normalize(image_emb, dim=1), F.normalize(text_emb, dim=1)
    logits = a @ b.T / temperature
    target = torch.arange(a.shape[0], device=a.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


class CaptionEmbedding(nn.Module):
    """φ(t) of the text-to-image GANs with what pre-trains it: a :class:`TextEncoder` and an
    :class:`ImageEmbedder` trained together by :func:`matching_loss` on real (image, caption) pairs.

    A model holds one inside its generator (so a Stage-II model's ``generator_state`` carries it),
    trains it in its own phase during the first iterations (``pretrain_loss``), and conditions on
    ``embed(tokens)`` afterwards, with the encoder frozen (no GAN phase lists it).
    """

    def __init__(self, vocab_size: int, dim: int, channels: int, image_size: int, width: int,
                 temperature: float = 0.1):
        super().__init__()
        self.text = TextEncoder(vocab_size, dim)
        self.image = ImageEmbedder(channels, image_size, width, dim)
        self.temperature = temperature

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """Token ids (N, L) → φ(t) (N, dim)."""
        return self.text(tokens)

    def pretrain_loss(self, x: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """:func:`matching_loss` of real images (N, C, S, S) in [-1, 1] and their captions (N, L)."""
        return matching_loss(self.image(x), self.text(tokens), self.temperature)


def mismatched(tokens: torch.Tensor) -> torch.Tensor:
    """Wrong captions for a batch: each row gets the next row's caption (a cyclic shift), so no
    image keeps its own unless two rows hold the same caption (Reed et al.'s ĥ)."""
    return tokens.roll(1, dims=0)


__all__ = ["CaptionEmbedding", "ImageEmbedder", "TextEncoder", "matching_loss", "mismatched"]
