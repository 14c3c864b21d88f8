"""The `conditional` suite's paper profile on fake CUB-200 / ADE20K trees (scored with the scenes
evaluator's features in place of Inception, whose weights a test machine lacks), and the word
vocabulary for real captions."""

import pytest
import torch

from gbench.data.vocabulary import PAD, UNK, Vocabulary, split_words
from gbench.errors import GbenchError
from gbench.records import read_records
from gbench.runner import RunRequest, run
from gbench.suites import conditional
from test_paper_scenes import _ade, _birds  # tests/ is on sys.path (pytest's "prepend" import mode)

N = 140  # test images per set: more than the scenes evaluator's 136 feature dimensions (full-rank FID)


def test_vocabulary_counts_orders_and_encodes():
    vocab = Vocabulary.from_captions(["A red bird.", "a small red bird", "the bird"], max_words=3)
    assert vocab.words == (PAD, UNK, "bird", "a", "red")  # by count, ties alphabetical, cut at 3
    ids = vocab.encode(["a small red bird", "", "bird bird bird bird"], max_tokens=3)
    assert ids.tolist() == [[3, 1, 4], [0, 0, 0], [2, 2, 2]] and ids.dtype == torch.int64
    assert split_words("It's a small, RED bird!") == ["it's", "a", "small", "red", "bird"]
    with pytest.raises(GbenchError):
        Vocabulary(("bird",))


@pytest.fixture(scope="module")
def paper(tmp_path_factory, one_thread):
    root = tmp_path_factory.mktemp("paper")
    _birds(root / "data", per_class=N)  # 3 train classes, 1 test class (class-disjoint split)
    _ade(root / "data", n=N)
    run(RunRequest(suite="conditional", profile="paper", preset="smoke", device="cpu", runs=root / "runs",
                   results=root / "lb" / "results", data_root=root / "data", extractor="scenes-evaluator",
                   progress=False))
    return root, read_records(root / "lb" / "results" / "conditional.jsonl")


def test_text_models_train_on_birds_and_layout_models_on_ade20k(paper):
    _, records = paper
    rows = {(r.dataset, r.model) for r in records if r.status == "ok"}
    assert rows == ({("birds", m) for m in (conditional.FLOOR, *conditional.TEXT_MODELS)}
                    | {("ade20k", m) for m in (conditional.FLOOR, *conditional.LAYOUT_MODELS)})
    for r in records:
        if r.metric in conditional.SCORES:
            assert r.status == "ok" and r.n_fake == r.n_real == (N + 1 if r.dataset == "ade20k" else N)


def test_faithfulness_without_a_shipped_evaluator_says_what_is_missing(paper):
    _, records = paper
    missing = {(r.dataset, r.model, r.metric): r.reason for r in records if r.status != "ok"}
    assert "DAMSM" in missing[("birds", "stackgan2", "r_precision")]
    assert "segmenter" in missing[("ade20k", "spade", "layout_miou")]
    assert ("birds", "spade", "layout_miou") not in missing  # no layouts on CUB: no SPADE row at all


def test_without_a_data_root_each_paper_set_says_so(tmp_path):
    run(RunRequest(suite="conditional", profile="paper", preset="smoke", device="cpu", runs=tmp_path / "runs",
                   results=tmp_path / "results", extractor="scenes-evaluator", progress=False))
    reasons = {r.dataset: r.reason for r in read_records(tmp_path / "results" / "conditional.jsonl")}
    assert set(reasons) == {"birds", "ade20k"} and all("--data-root" in why for why in reasons.values())
