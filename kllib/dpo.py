r"""Direct preference optimisation: the DPO and IPO losses and the implicit reward.

The KL-regularised objective :math:`\max_\pi \mathbb{E}_{y\sim\pi}[r(y)] - \beta\,\mathrm{KL}(\pi\,\|\,\pi_{\mathrm{ref}})`
has the optimum :math:`\pi^*(y) = \pi_{\mathrm{ref}}(y)\,e^{r(y)/\beta}/Z`, so
:math:`r(y) = \beta\log\frac{\pi^*(y)}{\pi_{\mathrm{ref}}(y)} + \beta\log Z`. Under Bradley-Terry preferences,
:math:`P(y_w \succ y_l) = \sigma(r(y_w) - r(y_l))`, the constant :math:`\beta\log Z` cancels, and maximum likelihood
of the preferences over the policy itself is the DPO loss :cite:p:`rafailov2023dpo`. IPO :cite:p:`azar2024ipo`
replaces the log-sigmoid by a squared loss that does not push the margin to infinity.

All inputs are **sequence** log-probabilities (sums of per-token log-probabilities), shape ``(B,)``, one
entry per preference pair (``chosen`` = preferred :math:`y_w`, ``rejected`` = :math:`y_l`). Everything is in nats.
torch is imported here (``import kllib`` does not import this module).
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["dpo_loss", "ipo_loss", "implicit_reward"]

_REDUCTIONS = ("mean", "sum", "none")


def _prepare(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta, reduction, name="beta"):
    args = dict(policy_chosen=policy_chosen, policy_rejected=policy_rejected,
                ref_chosen=ref_chosen, ref_rejected=ref_rejected)
    numpy_in = all(isinstance(v, np.ndarray) for v in args.values())
    if numpy_in:
        args = {k: torch.as_tensor(np.asarray(v, dtype=np.float64)) for k, v in args.items()}
    for k, v in args.items():
        if not isinstance(v, torch.Tensor):
            raise TypeError(f"{k} must be a torch.Tensor (or all four must be NumPy arrays); got {type(v).__name__}.")
        if not v.is_floating_point():
            raise TypeError(f"{k} must hold floating-point log-probabilities; got {v.dtype}.")
    shapes = {k: tuple(v.shape) for k, v in args.items()}
    if len(set(shapes.values())) != 1:
        raise ValueError(f"the four log-probability arrays must have the same shape (one entry per pair); got {shapes}. "
                         "Sum per-token log-probabilities over each sequence first.")
    beta = float(beta)
    if not (beta > 0 and math.isfinite(beta)):
        raise ValueError(f"{name} must be a finite number > 0; got {beta}.")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}; got {reduction!r}.")
    return args, beta, numpy_in


def _reduce(x, reduction, numpy_in):
    out = x.mean() if reduction == "mean" else x.sum() if reduction == "sum" else x
    return out.detach().numpy() if numpy_in else out


def implicit_reward(policy_logps, ref_logps, beta):
    r"""DPO's implicit reward :math:`\hat r(y) = \beta\,(\log\pi_\theta(y) - \log\pi_{\mathrm{ref}}(y))`.

    It equals the true reward up to a constant (:math:`\beta\log Z`) when :math:`\pi_\theta` is the optimum of the
    KL-regularised objective with that reward and that :math:`\beta`.

    Parameters
    ----------
    policy_logps, ref_logps : torch.Tensor or numpy.ndarray
        Sequence log-probabilities, same shape.
    beta : float
        :math:`\beta > 0`.

    Examples
    --------
    >>> import torch
    >>> implicit_reward(torch.tensor([-1.0, -3.0]), torch.tensor([-2.0, -2.0]), beta=0.5)
    tensor([ 0.5000, -0.5000])
    """
    beta = float(beta)
    if not (beta > 0 and math.isfinite(beta)):
        raise ValueError(f"beta must be a finite number > 0; got {beta}.")
    numpy_in = isinstance(policy_logps, np.ndarray) and isinstance(ref_logps, np.ndarray)
    if numpy_in:
        return beta * (np.asarray(policy_logps, dtype=float) - np.asarray(ref_logps, dtype=float))
    if not (isinstance(policy_logps, torch.Tensor) and isinstance(ref_logps, torch.Tensor)):
        raise TypeError("policy_logps and ref_logps must both be torch tensors or both NumPy arrays.")
    if policy_logps.shape != ref_logps.shape:
        raise ValueError(f"policy_logps {tuple(policy_logps.shape)} and ref_logps {tuple(ref_logps.shape)} "
                         "must have the same shape.")
    return beta * (policy_logps - ref_logps)


def dpo_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta: float = 0.1, *,
             reduction: str = "mean"):
    r"""The DPO loss of :cite:t:`rafailov2023dpo`.

    .. math::

        \mathcal L = -\log\sigma\big(\beta\,h\big),\qquad
        h = \Big(\log\pi_\theta(y_w) - \log\pi_{\mathrm{ref}}(y_w)\Big) - \Big(\log\pi_\theta(y_l) - \log\pi_{\mathrm{ref}}(y_l)\Big),

    i.e. the Bradley-Terry negative log-likelihood of "``chosen`` beats ``rejected``" with the implicit rewards
    :math:`\beta\log(\pi_\theta/\pi_{\mathrm{ref}})` (see :func:`implicit_reward`). Computed as
    ``softplus(-beta * h)``, which is exact for large margins of either sign (no ``log(0)``). At
    :math:`\pi_\theta = \pi_{\mathrm{ref}}` it is :math:`\log 2`. Its gradient is
    :math:`-\beta\,\sigma(-\beta h)\,\nabla h`: it never vanishes for a finite margin, which is why, with
    deterministic preferences, DPO keeps pushing :math:`h` up (the failure mode IPO was designed for).
    The reference log-probabilities are used as given (detach them, or compute them under ``torch.no_grad()``).

    Parameters
    ----------
    policy_chosen, policy_rejected, ref_chosen, ref_rejected : torch.Tensor or numpy.ndarray
        Sequence log-probabilities of the preferred and the rejected answer under the policy and under the
        reference, all of shape ``(B,)`` (any common shape works).
    beta : float, default 0.1
        :math:`\beta > 0`, the KL coefficient of the objective DPO solves.
    reduction : {"mean", "sum", "none"}

    Examples
    --------
    >>> import torch
    >>> lp = torch.tensor([-1.0]); lr = torch.tensor([-1.0])
    >>> round(float(dpo_loss(lp, lp, lr, lr, beta=0.1)), 4)          # policy = reference: log 2
    0.6931
    >>> round(float(dpo_loss(torch.tensor([-1.0]), torch.tensor([-3.0]), lr, lr, beta=0.5)), 4)  # -log sigmoid(1)
    0.3133

    References
    ----------
    R. Rafailov et al., "Direct preference optimization: your language model is secretly a reward model",
    NeurIPS 2023.
    """
    a, beta, numpy_in = _prepare(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta, reduction)
    h = (a["policy_chosen"] - a["ref_chosen"]) - (a["policy_rejected"] - a["ref_rejected"])
    return _reduce(F.softplus(-beta * h), reduction, numpy_in)


def ipo_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected, tau: float = 0.1, *,
             reduction: str = "mean"):
    r"""The IPO loss of :cite:t:`azar2024ipo`: a squared loss on the same log-ratio margin.

    .. math::

        \mathcal L = \Big(h - \frac{1}{2\tau}\Big)^2, \qquad
        h = \log\frac{\pi_\theta(y_w)\,\pi_{\mathrm{ref}}(y_l)}{\pi_\theta(y_l)\,\pi_{\mathrm{ref}}(y_w)}

    (:math:`h` as in :func:`dpo_loss`). The minimiser over :math:`h` is the finite target :math:`1/(2\tau)`, so even
    when every pair is labelled the same way the margin stops there and the policy stays at a finite distance from
    the reference; :math:`\tau` plays the role of DPO's :math:`\beta` (larger :math:`\tau`, smaller margin, closer to
    the reference). This is the sampled loss of the paper's Algorithm 1 (with preferences taken as given) and of TRL.

    Parameters
    ----------
    policy_chosen, policy_rejected, ref_chosen, ref_rejected : torch.Tensor or numpy.ndarray
        As in :func:`dpo_loss`.
    tau : float, default 0.1
        :math:`\tau > 0`.
    reduction : {"mean", "sum", "none"}

    Examples
    --------
    >>> import torch
    >>> lp = torch.tensor([-1.0])
    >>> float(ipo_loss(lp, lp, lp, lp, tau=0.5))     # margin 0, target 1/(2 tau) = 1
    1.0
    >>> float(ipo_loss(torch.tensor([0.0]), lp, lp, lp, tau=0.5))   # margin 1: at the target
    0.0

    References
    ----------
    M. G. Azar et al., "A general theoretical paradigm to understand learning from human preferences",
    AISTATS 2024.
    """
    a, tau, numpy_in = _prepare(policy_chosen, policy_rejected, ref_chosen, ref_rejected, tau, reduction, name="tau")
    h = (a["policy_chosen"] - a["ref_chosen"]) - (a["policy_rejected"] - a["ref_rejected"])
    return _reduce((h - 1.0 / (2.0 * tau)) ** 2, reduction, numpy_in)
