"""Captions of `scenes`: a small grammar with synonyms, and its parser.

A caption is generated from one factor row and a ``numpy.random.Generator``
(which words, which order) and says only true things about the scene. The
grammar (every alternative drawn uniformly; ``[…]`` is optional):

    caption    := [opener] objects [", " bg-prep " " background]       (background: 90 %)
    opener     := "there is " | "a picture of " | ""                     ("" half of the time)
    objects    := np₁ [" " rel " " np₂ [", which is " rel " " np₃]]    (one np per object,
                                                                        in random order)
    np         := article " " [size " "] colour " " shape                (size: 80 %)
    article    := "a" | "an" (before a vowel)
    size       := small: small | little | tiny        large: large | big | huge
    colour     := red: red | scarlet   orange   yellow: yellow | golden   green   blue
                  purple: purple | violet   white   black
    shape      := circle: circle | disc   square: square | block   triangle   star
                  ring: ring | donut | hoop
    rel        := left: "to the left of" | "left of"    right: "to the right of" | "right of"
                  above: above | over                    below: below | under | beneath
    bg-prep    := above | over
    background := land | water | land " and " water | water " and " land   (the regions below
                  the horizon; the sky is never named)
    land       := grass: "green grass" | grass | "a green meadow"
                  sand: "yellow sand" | sand | "a sandy beach"
    water      := "blue water" | water | "the sea" | "a lake"

A relation links consecutive mentions: "np₁ rel np₂" says where np₁ is relative to
np₂, ", which is rel np₃" where np₂ is relative to np₃. It is
:func:`~gbench.data.scenes_factors.relation` of the two objects (the dominant axis of
their centres' displacement). Size words name the size class (small < 0.135 ≤ large).

:func:`parse_caption` inverts the grammar exactly (every word of every caption maps
back to one factor value), e.g.::

    "a large red circle to the left of a small blue square, above green grass"
    → {"objects": [{"size": "large", "colour": "red", "shape": "circle"},
                   {"size": "small", "colour": "blue", "shape": "square"}],
       "relations": [("left", 0, 1)], "background": ("grass",)}
"""

from __future__ import annotations

import re

import numpy as np

from gbench.data.scenes_factors import BACKGROUNDS, COLOURS, SHAPES, SceneFactors, relation
from gbench.errors import GbenchError

SIZE_WORDS = {"small": ("small", "little", "tiny"), "large": ("large", "big", "huge")}
COLOUR_WORDS = {"red": ("red", "scarlet"), "orange": ("orange",), "yellow": ("yellow", "golden"),
                "green": ("green",), "blue": ("blue",), "purple": ("purple", "violet"), "white": ("white",),
                "black": ("black",)}
SHAPE_WORDS = {"circle": ("circle", "disc"), "square": ("square", "block"), "triangle": ("triangle",),
               "star": ("star",), "ring": ("ring", "donut", "hoop")}
RELATION_WORDS = {"left": ("to the left of", "left of"), "right": ("to the right of", "right of"),
                  "above": ("above", "over"), "below": ("below", "under", "beneath")}
BACKGROUND_WORDS = {"grass": ("green grass", "grass", "a green meadow"),
                    "sand": ("yellow sand", "sand", "a sandy beach"),
                    "water": ("blue water", "water", "the sea", "a lake")}
OPENERS = ("there is ", "a picture of ")
BACKGROUND_PREPOSITIONS = ("above", "over")
P_SIZE, P_BACKGROUND = 0.8, 0.9

assert set(COLOUR_WORDS) == set(COLOURS) and set(SHAPE_WORDS) == set(SHAPES)


def _pick(rng: np.random.Generator, words: tuple[str, ...]) -> str:
    return words[int(rng.integers(len(words)))]


def _noun_phrase(f: SceneFactors, k: int, rng: np.random.Generator) -> str:
    words = []
    if rng.random() < P_SIZE:
        words.append(_pick(rng, SIZE_WORDS["large" if f.large[0, k] else "small"]))
    words.append(_pick(rng, COLOUR_WORDS[COLOURS[f.colour[0, k]]]))
    words.append(_pick(rng, SHAPE_WORDS[SHAPES[f.shape[0, k]]]))
    return ("an " if words[0][0] in "aeiou" else "a ") + " ".join(words)


def caption(factors_row: SceneFactors, rng: np.random.Generator) -> str:
    """One caption of one scene.

    Args:
        factors_row: a SceneFactors with one row (``factors[i]``).
        rng: chooses the words and the mention order (same state ⇒ same caption).

    Returns:
        A lower-case caption in the grammar above, true of the scene.
    """
    f = factors_row
    if len(f) != 1:
        raise GbenchError(f"caption takes one factor row (factors[i]), got {len(f)} rows")
    order = rng.permutation(np.flatnonzero(f.present[0]))
    text = _noun_phrase(f, order[0], rng)
    for i in range(1, len(order)):
        rel = _pick(rng, RELATION_WORDS[str(relation(f, order[i - 1], order[i])[0])])
        text += (" " if i == 1 else ", which is ") + rel + " " + _noun_phrase(f, order[i], rng)
    if rng.random() < P_BACKGROUND:
        present = [BACKGROUNDS[c] for c in f.region_classes[0, 1:] if c >= 0]
        phrases = [_pick(rng, BACKGROUND_WORDS[c]) for c in present]
        if len(phrases) == 2 and rng.random() < 0.5:
            phrases.reverse()
        text += ", " + _pick(rng, BACKGROUND_PREPOSITIONS) + " " + " and ".join(phrases)
    if rng.random() < 0.5:
        text = _pick(rng, OPENERS) + text
    return text


def _alternation(table: dict[str, tuple[str, ...]]) -> str:
    words = sorted((w for ws in table.values() for w in ws), key=len, reverse=True)  # longest first
    return "|".join(re.escape(w) for w in words)


def _inverse(table: dict[str, tuple[str, ...]]) -> dict[str, str]:
    return {w: key for key, ws in table.items() for w in ws}


_SIZE, _COLOUR, _SHAPE = _inverse(SIZE_WORDS), _inverse(COLOUR_WORDS), _inverse(SHAPE_WORDS)
_RELATION, _BACKGROUND = _inverse(RELATION_WORDS), _inverse(BACKGROUND_WORDS)
_NP = re.compile(rf"(?:a|an) (?:(?P<size>{_alternation(SIZE_WORDS)}) )?(?P<colour>{_alternation(COLOUR_WORDS)}) "
                 rf"(?P<shape>{_alternation(SHAPE_WORDS)})")
_REL = _alternation(RELATION_WORDS)
_FIRST = re.compile(rf"(?P<a>.+?) (?P<rel>{_REL}) (?P<b>.+)")
_NEXT = re.compile(rf"(?P<rel>{_REL}) (?P<b>.+)")
_BG_CLAUSE = re.compile(rf"(?P<objects>.+), (?:{'|'.join(BACKGROUND_PREPOSITIONS)}) (?P<bg>[a-z ]+)")


def parse_caption(text: str) -> dict:
    """Invert the grammar: the attributes a caption mentions.

    Returns:
        {"objects": [{"size": "small" | "large" | None, "colour": str, "shape": str}, ...]
         in mention order; "relations": [(relation, i, j), ...] meaning mention i is
         left / right / above / below mention j; "background": tuple of the named
         regions in BACKGROUNDS order (e.g. ("grass",) or ("sand", "water")), or None when
         the caption does not name them}.

    Raises GbenchError naming the part that is not in the grammar.
    """
    s = " ".join(str(text).lower().split())
    for opener in OPENERS:
        if s.startswith(opener):
            s = s[len(opener):]
            break
    background = None
    m = _BG_CLAUSE.fullmatch(s)
    if m and all(p in _BACKGROUND for p in m["bg"].split(" and ")):
        s = m["objects"]
        named = {_BACKGROUND[p] for p in m["bg"].split(" and ")}
        background = tuple(b for b in BACKGROUNDS if b in named)
    parts = s.split(", which is ")
    first = _FIRST.fullmatch(parts[0])
    mentions, relations = ([first["a"], first["b"]], [first["rel"]]) if first else ([parts[0]], [])
    for part in parts[1:]:
        m = _NEXT.fullmatch(part)
        if m is None or not first:
            raise GbenchError(f"cannot parse caption {text!r}: expected 'which is <relation> <object>' in {part!r}")
        mentions.append(m["b"])
        relations.append(m["rel"])
    objects = []
    for phrase in mentions:
        m = _NP.fullmatch(phrase)
        if m is None:
            raise GbenchError(f"cannot parse caption {text!r}: {phrase!r} is not '<a|an> [size] <colour> <shape>'")
        objects.append({"size": _SIZE.get(m["size"]), "colour": _COLOUR[m["colour"]], "shape": _SHAPE[m["shape"]]})
    return {"objects": objects, "relations": [(_RELATION[r], i, i + 1) for i, r in enumerate(relations)],
            "background": background}
