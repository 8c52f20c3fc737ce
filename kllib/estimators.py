r"""Sample estimators of :math:`D_{\mathrm{KL}}(Q \,\|\, P)` from log-probabilities.

Draw :math:`x \sim Q` and evaluate both log-densities at the sample; with the ratio

.. math::

    r(x) = \frac{p(x)}{q(x)}, \qquad \log r = \log p(x) - \log q(x),

the three estimators of Schulman (2020) are, per sample,

.. math::

    k_1 = -\log r, \qquad k_2 = \tfrac12 (\log r)^2, \qquad k_3 = (r - 1) - \log r .

**Direction.** Because the samples come from :math:`Q`, all three estimate the *reverse*
divergence :math:`D_{\mathrm{KL}}(Q \,\|\, P) = \mathbb E_{x\sim Q}[-\log r(x)]` (the
argument order is ``(logp, logq)``, but the samples are drawn from ``q``).

**Bias and variance** (each returns one value per sample; average them):

* :math:`k_1` is unbiased but has high variance, and individual values are negative
  whenever :math:`p(x) > q(x)`.
* :math:`k_2` is biased: :math:`\mathbb E[k_2] = \sum_x q(x) f(r(x))` with
  :math:`f(t) = \tfrac12 (\log t)^2`, which agrees with KL to second order as
  :math:`P \to Q` (:math:`f(1) = f'(1) = 0`, :math:`f''(1) = 1`), so the bias is small for close
  distributions. (Schulman calls it an f-divergence, but this :math:`f` is not convex for
  :math:`t > e`; :math:`\mathbb E[k_2]` is still :math:`\ge 0` and zero only when :math:`P = Q`.)
  Every value is :math:`\ge 0`, and its variance is usually much lower than :math:`k_1`'s.
* :math:`k_3` is unbiased (:math:`\mathbb E_Q[r] = 1` adds a zero-mean control variate to
  :math:`k_1`) and every value is :math:`\ge 0` (:math:`\log r \le r - 1`). Its variance is
  usually low, but it grows fast when :math:`p/q` has heavy tails.

For :math:`Q = \mathcal N(0, 1)` and :math:`P = \mathcal N(\mu, 1)`, the true value is
:math:`\mu^2/2`, and the standard deviations relative to it are :math:`2/\mu`
(:math:`k_1`), :math:`\sqrt{2 + \mu^2}` (:math:`k_2`) and
:math:`\sqrt{e^{\mu^2} - 1 - \mu^2}\,/\,(\mu^2/2)` (:math:`k_3`), while
:math:`k_2`'s relative bias is :math:`\mu^2/4`: the table in Schulman's note.

**Gradients.** A good value is not a good gradient. With :math:`Q = Q_\theta` and the samples
held fixed (drawn without the reparameterisation trick, as for discrete tokens), autograd
gives per sample, with the score :math:`s = \nabla_\theta \log q_\theta(x)`:

* :math:`\nabla k_1 = s`, whose expectation is 0: no pull towards :math:`P` at all;
* :math:`\nabla k_2 = -\log r \cdot s`, whose expectation is
  :math:`\nabla_\theta D_{\mathrm{KL}}(Q_\theta \,\|\, P)`, the right gradient;
* :math:`\nabla k_3 = (1 - r)\, s`, whose expectation is
  :math:`\nabla_\theta D_{\mathrm{KL}}(P \,\|\, Q_\theta)`, the gradient of the other direction
  (Tang and Munos, 2025).

With reparameterised samples (``rsample``) the unbiased :math:`k_1` and :math:`k_3` give the
gradient of :math:`D_{\mathrm{KL}}(Q_\theta \,\|\, P)`.

References
----------
J. Schulman, "Approximating KL divergence", blog note, 2020,
http://joschu.net/blog/kl-approx.html

Y. Tang and R. Munos, "On a few pitfalls in KL divergence gradient estimation for RL",
arXiv:2506.09477, 2025.
"""
from __future__ import annotations

import numpy as np

from kllib import _xp

__all__ = ["k1", "k2", "k3"]


def _log_ratio(logp, logq, validate):
    _xp.check_validate(validate)
    be, (lp, lq) = _xp.prepare(logp, logq, names=("logp", "logq"))
    _xp.check_broadcast([(lp, "logp"), (lq, "logq")])
    if validate:
        _xp.check_finite(be, lp, "logp", allow="-inf")
        _xp.check_finite(be, lq, "logq", allow="-inf")
        if be.checkable and bool(be.xp.any(lq == -np.inf)):
            a = _xp.to_numpy(be, lq)
            idx = np.argwhere(np.isneginf(a))[0] if a.ndim else ()
            raise ValueError(
                f"{_xp._entry('logq', idx)} is -inf, but the samples must be drawn from q, "
                f"so q(x) > 0 at every sample. Did you swap logp and logq?"
            )
    with be.errstate():
        return be, lp - lq


def k1(logp, logq, *, validate=True):
    r"""The naive estimator :math:`k_1 = -\log r` of :math:`D_{\mathrm{KL}}(Q \,\|\, P)`, per sample.

    Unbiased, high variance; single values can be negative. ``inf`` where :math:`p(x) = 0`
    (``logp = -inf``). Used as a loss with the samples held fixed, its gradient is the score
    :math:`\nabla_\theta \log q_\theta(x)`, which is 0 on average: use it as a (detached)
    reward with a policy gradient instead (see the module notes on gradients).

    Parameters
    ----------
    logp : array_like or torch.Tensor
        :math:`\log p(x)` at samples :math:`x \sim Q` (may be ``-inf``).
    logq : array_like or torch.Tensor
        :math:`\log q(x)` at the same samples (finite: the samples come from :math:`Q`).
    validate : bool, optional
        Check for NaN, ``+inf`` and a ``-inf`` in ``logq`` (default ``True``).

    Returns
    -------
    numpy.ndarray or numpy.floating or torch.Tensor
        One value per sample (broadcast shape); their mean estimates the KL.

    Raises
    ------
    ValueError
        NaN or ``+inf`` in ``logp`` or ``logq``, ``-inf`` in ``logq``, or shapes that do not broadcast.
    TypeError
        Non-numeric input.

    References
    ----------
    J. Schulman, "Approximating KL divergence", 2020, http://joschu.net/blog/kl-approx.html

    Examples
    --------
    >>> import numpy as np
    >>> from kllib import k1
    >>> x = np.random.default_rng(0).standard_normal(200_000)       # x ~ Q = N(0, 1)
    >>> logq = -0.5 * x**2 - 0.5 * np.log(2 * np.pi)
    >>> logp = -0.5 * (x - 1.0)**2 - 0.5 * np.log(2 * np.pi)         # P = N(1, 1)
    >>> round(float(k1(logp, logq).mean()), 2)                        # KL(Q || P) = 0.5
    0.5
    """
    be, lr = _log_ratio(logp, logq, validate)
    return be.finish(-lr)


def k2(logp, logq, *, validate=True):
    r"""The low-variance, biased estimator :math:`k_2 = \tfrac12 (\log r)^2`, per sample.

    Always :math:`\ge 0`. Its mean, :math:`\tfrac12\,\mathbb E_Q[(\log r)^2]`, matches
    :math:`D_{\mathrm{KL}}(Q \,\|\, P)` to second order when :math:`P \approx Q`; the bias grows
    as they separate (relative bias :math:`\mu^2/4` for unit Gaussians :math:`\mu` apart).
    Used as a loss with the samples held fixed, its expected gradient is that of
    :math:`D_{\mathrm{KL}}(Q_\theta \,\|\, P)` (see the chapter *Estimating KL from samples*).

    Parameters
    ----------
    logp : array_like or torch.Tensor
        :math:`\log p(x)` at samples :math:`x \sim Q` (may be ``-inf``).
    logq : array_like or torch.Tensor
        :math:`\log q(x)` at the same samples (finite).
    validate : bool, optional
        Check the inputs (default ``True``).

    Returns
    -------
    numpy.ndarray or numpy.floating or torch.Tensor
        One value per sample (broadcast shape).

    Raises
    ------
    ValueError
        NaN or ``+inf`` in ``logp`` or ``logq``, ``-inf`` in ``logq``, or shapes that do not broadcast.
    TypeError
        Non-numeric input.

    References
    ----------
    J. Schulman, "Approximating KL divergence", 2020, http://joschu.net/blog/kl-approx.html

    Examples
    --------
    >>> from kllib import k2
    >>> k2([0.0, -1.0], [0.0, 0.0])
    array([0. , 0.5])
    """
    be, lr = _log_ratio(logp, logq, validate)
    return be.finish(0.5 * (lr * lr))


_expm1_minus_x = _xp.expm1_minus_x  # shared with kllib.gaussian


def k3(logp, logq, *, validate=True):
    r"""The unbiased, low-variance estimator :math:`k_3 = (r - 1) - \log r`, per sample.

    Unbiased for :math:`D_{\mathrm{KL}}(Q \,\|\, P)` (because :math:`\mathbb E_Q[r - 1] = 0`)
    and :math:`\ge 0` sample by sample. Computed as :math:`e^{\ell} - 1 - \ell` with
    :math:`\ell = \log r`, using ``expm1`` (and a Taylor series for :math:`|\ell| < 1`) so
    values near :math:`r = 1` keep full relative accuracy. ``inf`` where :math:`p(x) = 0` or
    where :math:`r` overflows. Unbiased for the *value* only: used as a loss with the samples
    held fixed, its expected gradient is that of :math:`D_{\mathrm{KL}}(P \,\|\, Q_\theta)`, the
    other direction (see the module notes on gradients).

    Parameters
    ----------
    logp : array_like or torch.Tensor
        :math:`\log p(x)` at samples :math:`x \sim Q` (may be ``-inf``).
    logq : array_like or torch.Tensor
        :math:`\log q(x)` at the same samples (finite).
    validate : bool, optional
        Check the inputs (default ``True``).

    Returns
    -------
    numpy.ndarray or numpy.floating or torch.Tensor
        One value per sample (broadcast shape); their mean estimates the KL.

    Raises
    ------
    ValueError
        NaN or ``+inf`` in ``logp`` or ``logq``, ``-inf`` in ``logq``, or shapes that do not broadcast.
    TypeError
        Non-numeric input.

    References
    ----------
    J. Schulman, "Approximating KL divergence", 2020, http://joschu.net/blog/kl-approx.html

    Examples
    --------
    >>> from kllib import k3
    >>> k3([1e-9], [0.0])       # (r - 1) - log r = 5e-19, to full precision
    array([5.e-19])
    """
    be, lr = _log_ratio(logp, logq, validate)
    with be.errstate():
        out = _expm1_minus_x(be, lr)
    return be.finish(out)
