"""kllib: KL divergence and its relatives, written to be read.

NumPy in gives NumPy out, torch in gives a differentiable tensor; ``axis=-1`` holds each
distribution; ``base=None`` is nats and ``base=2`` bits; bad input raises a ``ValueError``
that says how to fix it (``validate=False`` skips the checks).

>>> import kllib
>>> round(float(kllib.kl([0.5, 0.5], [0.9, 0.1], base=2)), 4)
0.737
"""

__version__ = "0.1.0"

from kllib.discrete import cross_entropy, entropy, kl, kl_logits
from kllib.divergences import hellinger, js, js_distance, renyi, tv
from kllib.estimators import k1, k2, k3
from kllib.gaussian import kl_mvn, kl_normal, kl_std_normal
from kllib.knn import kl_knn
from kllib.information import conditional_entropy, joint_entropy, mutual_information
from kllib.seeding import book_seed, seed_everything

__all__ = [
    "entropy", "cross_entropy", "kl", "kl_logits",
    "js", "js_distance", "tv", "hellinger", "renyi",
    "kl_normal", "kl_mvn", "kl_std_normal",
    "mutual_information", "joint_entropy", "conditional_entropy",
    "k1", "k2", "k3",
    "kl_knn",
    "book_seed", "seed_everything",
]

# Re-exports from kllib.vocab (the chunked full-vocabulary KL) go below this line.
# kllib.vocab needs torch, so it is imported on first use (PEP 562): `import kllib` stays light.
__all__ += ["kl_logits_chunked", "js_logits_chunked"]
# kllib.distill and kllib.dpo (distillation and DPO losses) need torch too: same lazy import.
__all__ += ["distill_loss", "dpo_loss", "ipo_loss", "implicit_reward"]


def __getattr__(name):
    if name in ("kl_logits_chunked", "js_logits_chunked"):
        from kllib import vocab

        return getattr(vocab, name)
    if name == "distill_loss":
        from kllib import distill

        return distill.distill_loss
    if name in ("dpo_loss", "ipo_loss", "implicit_reward"):
        from kllib import dpo

        return getattr(dpo, name)
    raise AttributeError(f"module 'kllib' has no attribute {name!r}")
