"""Checks for the exercises of the chapter *PPO: a soft trust region*.

Example
-------
>>> import torch
>>> from kllib.checks.ppo import ppo_clip_exercise
>>> def my_clip(ratio, adv, eps):
...     raise NotImplementedError()   # the student's answer goes here
>>> ppo_clip_exercise(my_clip)
Traceback (most recent call last):
    ...
kllib.checks._core.CheckError: your clipped surrogate is not written yet: replace `raise NotImplementedError()` with your code.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from kllib.checks._core import Checker

__all__ = ["ppo_clip_exercise", "gae_exercise"]


def ppo_clip_exercise(fn: Callable) -> None:
    """Check ``fn(ratio, adv, eps)``: PPO's clipped surrogate, the mean over the batch, to be maximised.

    ``ratio`` and ``adv`` are 1-D float tensors of the same length, ``eps`` a float. The function
    returns a scalar tensor, differentiable with respect to ``ratio``. Compared with
    :func:`kllib.rl.ppo.clipped_surrogate`, values and gradients.
    """
    import torch

    from kllib.rl import clipped_surrogate

    c = Checker("your clipped surrogate")
    g = torch.Generator().manual_seed(20261121)
    cases = [
        (torch.tensor([1.0, 1.0]), torch.tensor([1.0, -2.0]), 0.2, "when the ratio is 1 (it should be the mean advantage)"),
        (torch.tensor([1.5]), torch.tensor([2.0]), 0.2, "for r = 1.5, A = +2, ε = 0.2 (it should be clipped to 1.2·2 = 2.4)"),
        (torch.tensor([1.5]), torch.tensor([-2.0]), 0.2, "for r = 1.5, A = −2, ε = 0.2 (the pessimistic term r·A = −3 wins)"),
        (torch.tensor([0.5]), torch.tensor([-2.0]), 0.2, "for r = 0.5, A = −2, ε = 0.2 (it should be clipped to 0.8·(−2) = −1.6)"),
        (torch.tensor([0.5]), torch.tensor([2.0]), 0.2, "for r = 0.5, A = +2, ε = 0.2 (the pessimistic term r·A = 1 wins)"),
        (torch.exp(0.5 * torch.randn(64, generator=g)), torch.randn(64, generator=g), 0.1, "for a batch of 64 with ε = 0.1"),
    ]
    for ratio, adv, eps, context in cases:
        r_student = ratio.clone().requires_grad_()
        got = c.call(fn, r_student, adv.clone(), eps)
        expected = clipped_surrogate(ratio, adv, eps)
        if not hasattr(got, "shape") or got.numel() != 1:
            c.fail(f"returns shape {tuple(getattr(got, 'shape', ()))} {context}; return the mean over the batch (a scalar).")
        v = float(got.detach())
        if np.isclose(v, -float(expected), rtol=1e-6, atol=1e-9) and abs(float(expected)) > 1e-9:
            c.fail(f"returns {v:.6g} {context}: that is the loss (minus the objective); return the objective to maximise.")
        maxed = torch.max(ratio * adv, ratio.clamp(1 - eps, 1 + eps) * adv).mean()
        clip_only = (ratio.clamp(1 - eps, 1 + eps) * adv).mean()
        hint = ""
        if not np.isclose(v, float(expected)) and (np.isclose(v, float(maxed)) or np.isclose(v, float(clip_only))):
            hint = "(you took the max of the two terms or kept only the clipped one; PPO takes the pessimistic min(r·A, clip(r)·A))"
        c.close(got, expected, context, hint=hint)
    # Gradients: zero for clipped terms, A/B for the others.
    ratio = torch.tensor([1.5, 0.5, 1.5, 0.5, 1.0])
    adv = torch.tensor([1.0, -1.0, -1.0, 1.0, 3.0])
    r_student = ratio.clone().requires_grad_()
    out = c.call(fn, r_student, adv, 0.2)
    if not getattr(out, "requires_grad", False):
        c.fail("returns a value that is not differentiable with respect to ratio: compute it with torch operations.")
    out.backward()
    if r_student.grad is None:
        c.fail("does not pass gradients back to ratio.")
    c.close(r_student.grad, torch.tensor([0.0, 0.0, -0.2, 0.2, 0.6]),
            "as the gradient with respect to the ratios [1.5, 0.5, 1.5, 0.5, 1.0] for A = [1, −1, −1, 1, 3]",
            hint="(a clipped term must give zero gradient; an unclipped one gives A/B)")
    r2 = ratio.clone().requires_grad_()
    out = c.call(fn, r2, adv, 0.0)
    c.close(out, clipped_surrogate(ratio, adv, 0.0), "with ε = 0 (every ratio is clipped to 1 when that is pessimistic)")
    c.done()


def _gae_variants(r, v, term, trunc, final, last, gamma, lam):
    """Typical wrong versions, built at run time from :func:`kllib.rl.common.gae` (none of them is GAE)."""
    from kllib.rl.common import gae

    z = np.zeros_like(r)
    done = np.maximum(term, trunc)
    v_after = np.concatenate([v[1:], last[None]])       # the next row's value, whatever episode it belongs to
    deltas = gae(r, v, term, trunc, final, last, gamma, 0.0)[0]   # lambda = 0: the TD errors themselves
    return {
        "(a truncated step is treated like a terminated one: the episode was only cut by the time limit, so its "
        "last state still has a future; bootstrap with gamma * final_values[t] there)":
            gae(r, v, done, z, z, last, gamma, lam)[0],
        "(after a terminated step nothing follows: do not bootstrap there, and stop the sum of TD errors)":
            gae(r, v, z, trunc, final, last, gamma, lam)[0],
        "(a truncated step ends the episode too: the next row belongs to a new episode, so bootstrap with "
        "final_values[t], not values[t + 1], and stop the sum there)":
            gae(r, v, term, z, z, last, gamma, lam)[0],
        "(after a truncated step the next row belongs to a new episode: bootstrap with final_values[t], not "
        "values[t + 1])":
            gae(r, v, term, trunc, v_after, last, gamma, lam)[0],
        "(the sum of TD errors must stop at the end of an episode, truncated or terminated: multiply the "
        "carried advantage by (1 - terminated) * (1 - truncated))":
            gae(deltas, z, z, z, z, np.zeros_like(last), gamma * lam, 1.0)[0],
    }


def gae_exercise(fn: Callable) -> None:
    """Check ``fn(rewards, values, terminated, truncated, final_values, last_value, gamma, lam)``: GAE advantages.

    All arrays are NumPy, time first: ``rewards``, ``values``, ``terminated``, ``truncated`` (0/1) and
    ``final_values`` (the value of the observation where a truncated episode was cut; read only where
    ``truncated`` is 1) have shape ``(T, N)``, ``last_value`` shape ``(N,)``. The answer is the array of
    advantages, shape ``(T, N)``. Compared with :func:`kllib.rl.common.gae` on rollouts whose episodes
    terminate, are truncated by a time limit, or run past the end of the rollout.
    """
    from kllib.rl.common import gae

    c = Checker("your gae")
    rng = np.random.default_rng(20261130)
    ones, zeros = np.ones((4, 1)), np.zeros((4, 1))
    end = np.array([[0.0], [1.0], [0.0], [0.0]])
    cases = [
        ((ones, zeros, zeros, zeros, zeros, np.zeros(1), 0.5, 1.0),
         "for four rewards of 1, zero values, no episode end, gamma = 0.5, lambda = 1"),
        ((ones, zeros, zeros, zeros, zeros, np.array([8.0]), 0.5, 1.0),
         "when the rollout stops mid-episode (last_value = 8 must be bootstrapped)"),
        ((ones, zeros, end, zeros, zeros, np.array([8.0]), 0.5, 1.0),
         "when the episode terminates after step 1 (no bootstrap, and the sum stops there)"),
        ((ones, zeros, zeros, end, 4 * end, np.array([8.0]), 0.5, 1.0),
         "when the episode is truncated after step 1 with V(final observation) = 4 (bootstrap 0.5 * 4)"),
        ((ones, np.full((4, 1), 2.0), zeros, end, 4 * end, np.array([8.0]), 0.5, 0.0),
         "with lambda = 0 (one-step TD errors), values 2, truncated after step 1"),
    ]
    for n_envs, gamma, lam in [(3, 0.99, 0.95), (2, 0.9, 0.8), (4, 0.98, 1.0)]:
        T = 12
        u = rng.random((T, n_envs))
        term = (u < 0.12).astype(float)
        trunc = ((u >= 0.12) & (u < 0.25)).astype(float)
        trunc[-1, 0], term[-1, 0] = 1.0, 0.0                # a truncation at the last step too
        args = (rng.normal(size=(T, n_envs)), rng.normal(size=(T, n_envs)), term, trunc,
                rng.normal(size=(T, n_envs)) * trunc, rng.normal(size=n_envs), gamma, lam)
        cases.append((args, f"on a random rollout of {T} steps x {n_envs} environments with terminated and truncated "
                            f"episodes (gamma = {gamma}, lambda = {lam})"))
    for args, context in cases:
        got = c.call(fn, *[a.copy() if isinstance(a, np.ndarray) else a for a in args])
        got = np.asarray(got.detach().numpy() if hasattr(got, "detach") else got, dtype=float)
        expected = gae(*args)[0]
        if isinstance(got, np.ndarray) and got.shape != expected.shape and got.size == 2 * expected.size:
            c.fail(f"returns shape {got.shape} {context}: return the advantages only, shape {expected.shape} (T, N).")
        hint = ""
        if got.shape == expected.shape and not np.allclose(got, expected, rtol=1e-6, atol=1e-9):
            for text, wrong in _gae_variants(*args).items():
                if np.allclose(got, wrong, rtol=1e-6, atol=1e-9):
                    hint = text
                    break
        c.close(got, expected, context, hint=hint)
    c.done()
