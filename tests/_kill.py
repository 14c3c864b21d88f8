"""Simulated process deaths for resume tests (tests/ is on sys.path: pytest's "prepend" import mode)."""


class Killed(Exception):
    """Raised where the process would have died."""


def kill_after(model, calls: int) -> None:
    """Make ``model.loss`` raise :class:`Killed` on its ``calls``-th call, as if the process died there."""
    real, count = model.loss, [0]

    def loss(*args):
        count[0] += 1
        if count[0] == calls:
            raise Killed
        return real(*args)

    model.loss = loss


def assert_same_state(a, b) -> None:
    """Two modules hold bit-identical state (a resumed run against the uninterrupted one)."""
    import torch

    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k
