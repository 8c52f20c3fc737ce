"""Checks for the exercises of the chapter *KL in RL for language models*.

The reference is :func:`kllib.rlhf.shaped_rewards`, called at run time on cases built here.
The check recognises the usual mistakes: the penalty with the wrong sign (the log-ratio the
wrong way round), the score added at every token (or at the first), a forgotten ``beta``, and the
estimator k3 (or k2) of the GRPO section used in place of k1.

Example
-------
>>> import torch
>>> from kllib.checks.rl_for_llms import shaped_rewards_exercise
>>> def my_shaped_rewards(scores, logp, logp_ref, beta):
...     raise NotImplementedError()   # the student's answer goes here
>>> shaped_rewards_exercise(my_shaped_rewards)
Traceback (most recent call last):
    ...
kllib.checks._core.CheckError: your shaped_rewards is not written yet: replace `raise NotImplementedError()` with your code.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from kllib.checks._core import Checker
from kllib.checks.definitions import _name_mistake

__all__ = ["shaped_rewards_exercise"]


def _reference(scores, logp, logp_ref, beta):
    import torch

    from kllib.rlhf import shaped_rewards

    return shaped_rewards(torch.as_tensor(scores), torch.as_tensor(logp), torch.as_tensor(logp_ref), beta).numpy()


def _last(scores, shape):
    out = np.zeros(shape)
    out[:, -1] = np.asarray(scores)
    return out


_MISTAKES = {
    "(the penalty has the wrong sign: the reward is score - beta * (log pi(y_t) - log pi_ref(y_t)), policy minus "
    "reference because the samples come from the policy; did you swap logp and logp_ref, or add the penalty?)":
        lambda s, lp, lr, b: _last(s, lp.shape) + b * (lp - lr).numpy(),
    "(the sequence score goes to the LAST token only, where the reward model has read the whole sequence; "
    "you added it at every token)":
        lambda s, lp, lr, b: np.asarray(s)[:, None] - b * (lp - lr).numpy(),
    "(the sequence score goes to the LAST token, not the first)":
        lambda s, lp, lr, b: np.pad(np.asarray(s)[:, None], ((0, 0), (0, lp.shape[1] - 1)))
        - b * (lp - lr).numpy(),
    "(you forgot to multiply the log-ratio by beta)":
        lambda s, lp, lr, b: _last(s, lp.shape) - (lp - lr).numpy(),
    "(you used k3 = r - 1 - log r as the penalty; the RLHF reward uses k1 = log pi(y_t) - log pi_ref(y_t), "
    "the only estimator whose gradient as a detached reward is unbiased)":
        lambda s, lp, lr, b: _last(s, lp.shape) - b * (np.expm1((lr - lp).numpy()) - (lr - lp).numpy()),
    "(you used k2 = (log r)^2 / 2 as the penalty; the RLHF reward uses k1 = log pi(y_t) - log pi_ref(y_t))":
        lambda s, lp, lr, b: _last(s, lp.shape) - b * 0.5 * ((lr - lp).numpy()) ** 2,
}


def shaped_rewards_exercise(fn: Callable) -> None:
    """Check ``fn(scores, logp, logp_ref, beta)``: the per-token RLHF reward.

    ``scores`` has shape ``(B,)`` (one reward-model score per sequence), ``logp`` and ``logp_ref``
    shape ``(B, T)`` (log-probabilities of the sampled tokens under the policy and the reference,
    float64 tensors); the answer is ``(B, T)``: ``-beta * (logp - logp_ref)`` at every token, plus the
    score at the last token. Compared with :func:`kllib.rlhf.shaped_rewards`.
    """
    import torch

    c = Checker("your shaped_rewards")
    gen = torch.Generator().manual_seed(2024)
    cases = []
    for B, T, beta in [(1, 1, 0.1), (2, 3, 0.0), (3, 5, 0.05), (4, 6, 1.0), (2, 4, 0.3)]:
        logp = -torch.rand(B, T, generator=gen, dtype=torch.float64) * 3
        logp_ref = -torch.rand(B, T, generator=gen, dtype=torch.float64) * 3
        scores = torch.randn(B, generator=gen, dtype=torch.float64)
        cases.append((scores, logp, logp_ref, beta))
    for scores, logp, logp_ref, beta in cases:
        B, T = logp.shape
        got = c.call(fn, scores.clone(), logp.clone(), logp_ref.clone(), beta)
        expected = _reference(scores, logp, logp_ref, beta)
        g = np.asarray(got.detach().numpy() if hasattr(got, "detach") else got, dtype=float)
        if g.shape != expected.shape:
            c.fail(f"returns shape {g.shape} for B={B} sequences of T={T} tokens; expected {expected.shape}: "
                   "one reward per token.")
        if not np.allclose(g, expected, rtol=1e-6, atol=1e-9):
            probe = [(scores, logp, logp_ref, beta)] + [cs for cs in cases if cs[3] > 0 and cs[1].shape[1] > 1]
            hint = _name_mistake(lambda *a: fn(a[0].clone(), a[1].clone(), a[2].clone(), a[3]), probe, _MISTAKES)
            c.close(g, expected, f"for B={B}, T={T}, beta={beta}", hint=hint)
        c.passed += 1
    c.done()
