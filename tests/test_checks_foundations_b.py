"""The exercise checks of chapters 4-6 (Gaussians, f-divergences, estimating KL).

Each reference solution passes; each typical wrong implementation fails with the message
that names its mistake.
"""
from __future__ import annotations

import numpy as np
import pytest

from kllib import checks
from kllib.checks import CheckError


# --------------------------------------------------------------------------- Gaussians
def kl_normal_ok(mu_p, sigma_p, mu_q, sigma_q):
    return np.log(sigma_q / sigma_p) + (sigma_p**2 + (mu_p - mu_q) ** 2) / (2 * sigma_q**2) - 0.5


KL_NORMAL_WRONG = {
    "swapped": (lambda mp, sp, mq, sq: kl_normal_ok(mq, sq, mp, sp), "KL(Q || P)"),
    "sigma for sigma^2": (
        lambda mp, sp, mq, sq: np.log(sq / sp) + (sp + (mp - mq) ** 2) / (2 * sq) - 0.5,
        "you used σ where σ² belongs",
    ),
    "variance inputs": (
        lambda mp, sp, mq, sq: kl_normal_ok(mp, np.sqrt(sp), mq, np.sqrt(sq)),
        "treats its arguments as variances",
    ),
    "log of variance ratio": (
        lambda mp, sp, mq, sq: np.log(sq**2 / sp**2) + (sp**2 + (mp - mq) ** 2) / (2 * sq**2) - 0.5,
        "twice too big",
    ),
    "no -1/2": (lambda mp, sp, mq, sq: kl_normal_ok(mp, sp, mq, sq) + 0.5, "constant −1/2"),
    "no log term": (
        lambda mp, sp, mq, sq: (sp**2 + (mp - mq) ** 2) / (2 * sq**2) - 0.5,
        "forgot the log(σ_q/σ_p) term",
    ),
    "math.log": (
        lambda mp, sp, mq, sq: float(kl_normal_ok(float(mp), float(sp), float(mq), float(sq))),
        "raised TypeError",
    ),
    "not written": (lambda *a: (_ for _ in ()).throw(NotImplementedError()), "not written yet"),
}


def test_kl_normal_reference_passes(capsys):
    checks.kl_normal_exercise(kl_normal_ok)
    assert "all 9 checks passed" in capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(KL_NORMAL_WRONG))
def test_kl_normal_mistakes_are_named(name):
    fn, message = KL_NORMAL_WRONG[name]
    with pytest.raises(CheckError, match=message.replace("(", r"\(").replace(")", r"\)").replace("|", r"\|")):
        checks.kl_normal_exercise(fn)


def kl_mvn_ok(mu_p, cov_p, mu_q, cov_q):
    k = mu_p.shape[-1]
    iq = np.linalg.inv(cov_q)
    d = mu_q - mu_p
    return 0.5 * (np.trace(iq @ cov_p) + d @ iq @ d - k + np.log(np.linalg.det(cov_q) / np.linalg.det(cov_p)))


def _mvn_variant(trace="qp", quad="iq", logdet=1.0, minus_k=True, half=True):
    def fn(mu_p, cov_p, mu_q, cov_q):
        k = mu_p.shape[-1]
        iq, ip = np.linalg.inv(cov_q), np.linalg.inv(cov_p)
        d = mu_q - mu_p
        tr = np.trace(iq @ cov_p) if trace == "qp" else np.trace(ip @ cov_q)
        m = {"iq": iq, "ip": ip, "cq": cov_q}[quad]
        ld = np.linalg.slogdet(cov_q)[1] - np.linalg.slogdet(cov_p)[1]
        s = tr + d @ m @ d - (k if minus_k else 0) + logdet * ld
        return 0.5 * s if half else s

    return fn


KL_MVN_WRONG = {
    "swapped": (lambda mp, cp, mq, cq: kl_mvn_ok(mq, cq, mp, cp), "KL(Q || P)"),
    "no logdet": (_mvn_variant(logdet=0.0), "log-determinant term"),
    "logdet sign": (_mvn_variant(logdet=-1.0), "wrong sign"),
    "no -k": (_mvn_variant(minus_k=False), "forgot the −k"),
    "no 1/2": (_mvn_variant(half=False), "missing that factor"),
    "trace inverted": (_mvn_variant(trace="pq"), "tr(Σ_q⁻¹ Σ_p)"),
    "quad with inv cov_p": (_mvn_variant(quad="ip"), "you used Σ_p⁻¹"),
    "quad without inverse": (_mvn_variant(quad="cq"), "Σ_q itself"),
}


def test_kl_mvn_reference_passes(capsys):
    checks.kl_mvn_exercise(kl_mvn_ok)
    assert "all 7 checks passed" in capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(KL_MVN_WRONG))
def test_kl_mvn_mistakes_are_named(name):
    fn, message = KL_MVN_WRONG[name]
    with pytest.raises(CheckError) as err:
        checks.kl_mvn_exercise(fn)
    assert message in str(err.value)


# --------------------------------------------------------------------------- f-divergences
def _kl(a, b):
    nz = a > 0
    return np.sum(a[nz] * np.log(a[nz] / b[nz]))


def js_ok(p, q):
    m = (p + q) / 2
    return 0.5 * _kl(p, m) + 0.5 * _kl(q, m)


def _naive_kl(a, b):
    return np.sum(a * np.log(a / b))


JS_WRONG = {
    "nan on zeros": (lambda p, q: 0.5 * _naive_kl(p, (p + q) / 2) + 0.5 * _naive_kl(q, (p + q) / 2), "returns nan"),
    "no half": (lambda p, q: _kl(p, (p + q) / 2) + _kl(q, (p + q) / 2), "missing the factor 1/2"),
    "bits": (lambda p, q: js_ok(p, q) / np.log(2), "in bits"),
    "distance": (lambda p, q: np.sqrt(js_ok(p, q)), "JS distance"),
    "jeffreys": (lambda p, q: (_kl(p, q) + _kl(q, p)) / 2, "symmetrised KL"),
    "mixture first": (lambda p, q: (_kl((p + q) / 2, p) + _kl((p + q) / 2, q)) / 2, "the mixture goes second"),
    "mixture not halved": (lambda p, q: (_kl(p, p + q) + _kl(q, p + q)) / 2, "forgot to divide by 2"),
}


def test_js_reference_passes(capsys):
    checks.js_exercise(js_ok)
    assert "all 9 checks passed" in capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(JS_WRONG))
def test_js_mistakes_are_named(name):
    fn, message = JS_WRONG[name]
    with pytest.raises(CheckError) as err:
        checks.js_exercise(fn)
    assert message in str(err.value)


def test_js_reference_with_scipy_passes():
    from scipy.spatial.distance import jensenshannon

    checks.js_exercise(lambda p, q: jensenshannon(p, q) ** 2)


# --------------------------------------------------------------------------- estimating KL
def k3_ok(logp, logq):
    log_r = logp - logq
    return np.expm1(log_r) - log_r


K3_WRONG = {
    "swapped": (lambda lp, lq: k3_ok(lq, lp), "wrong way round"),
    "k1": (lambda lp, lq: lq - lp, "that is k1"),
    "log r": (lambda lp, lq: lp - lq, "that is log r"),
    "k2": (lambda lp, lq: 0.5 * (lp - lq) ** 2, "that is k2"),
    "no -1": (lambda lp, lq: np.exp(lp - lq) - (lp - lq), "forgot the −1"),
    "plus log": (lambda lp, lq: np.exp(lp - lq) - 1 + (lp - lq), "minus sign"),
    "mean": (lambda lp, lq: np.mean(k3_ok(lp, lq)), "not their mean"),
}


def test_k3_reference_passes(capsys):
    checks.k3_exercise(k3_ok)
    assert "all 7 checks passed" in capsys.readouterr().out


def test_k3_naive_exp_form_passes():
    checks.k3_exercise(lambda lp, lq: np.exp(lp - lq) - 1 - (lp - lq))


@pytest.mark.parametrize("name", sorted(K3_WRONG))
def test_k3_mistakes_are_named(name):
    fn, message = K3_WRONG[name]
    with pytest.raises(CheckError) as err:
        checks.k3_exercise(fn)
    assert message in str(err.value)


# --------------------------------------------------------------------------- estimating KL from samples alone
def _knn_parts(x, y):
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    d_xx = np.abs(x[:, None] - x[None, :])
    np.fill_diagonal(d_xx, np.inf)
    return d_xx.min(1), np.abs(x[:, None] - y[None, :]).min(1), len(x), len(y)


def knn_ok(x, y):
    rho, nu, n, m = _knn_parts(x, y)
    return float(np.mean(np.log(nu / rho)) + np.log(m / (n - 1)))


def _knn_self(x, y):
    x = np.asarray(x, dtype=float)
    rho = np.abs(x[:, None] - x[None, :]).min(1)        # includes the point itself: distance 0
    _, nu, n, m = _knn_parts(x, y)
    with np.errstate(divide="ignore"):
        return float(np.mean(np.log(nu / rho)) + np.log(m / (n - 1)))


KNN_WRONG = {
    "no correction": (lambda x, y: knn_ok(x, y) - np.log(len(y) / (len(x) - 1)), "sample-size correction"),
    "n not n-1": (lambda x, y: knn_ok(x, y) - np.log(len(y) / (len(x) - 1)) + np.log(len(y) / len(x)), "n − 1 points"),
    "upside down": (lambda x, y: -knn_ok(x, y) + 2 * np.log(len(y) / (len(x) - 1)), "upside down"),
    "self neighbour": (_knn_self, "its own nearest neighbour"),
    "not a number": (lambda x, y: [knn_ok(x, y)] * 2, "return one number"),
}


def test_kl_knn_reference_passes(capsys):
    checks.kl_knn_exercise(knn_ok)
    assert "all 5 checks passed" in capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(KNN_WRONG))
def test_kl_knn_mistakes_are_named(name):
    fn, message = KNN_WRONG[name]
    with pytest.raises(CheckError) as err:
        checks.kl_knn_exercise(fn)
    assert message in str(err.value)


def test_checks_are_reexported():
    for name in ("kl_normal_exercise", "kl_mvn_exercise", "js_exercise", "k3_exercise", "kl_knn_exercise"):
        assert callable(getattr(checks, name))
