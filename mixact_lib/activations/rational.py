"""Rational activations: the safe Padé Activation Unit and KAT's group-rational form (reference versions).

    F(x) = P(x) / Q(x),   P(x) = Σ_{j=0..m} a_j x^j

with one of the two "safe" denominators of the authors' code (ml-research/rational_activations names them):

    version "A" (default):  Q(x) = 1 + Σ_{k=1..n} |b_k|·|x|^k
    version "B":            Q(x) = 1 + |Σ_{k=1..n} b_k x^k|

Both keep Q ≥ 1, so F has no poles. Version A is the safe PAU of Molina, Schramowski & Kersting, *Padé
Activation Units* (ICLR 2020) as their released code computes it (ml-research/pau, ``pau/cuda/setup.py``,
the CUDA kernel, and ``pau/cuda/python_imp/Pade.py``; ml-research/rational_activations'
``rational/_cuda/versions/A.cu`` and ``rational/torch/rational_pytorch_functions.py``, its default
version). Version B is the second form of rational_activations (``versions/B.cu``). The two agree where
b_1, b_3 ≈ 0 and part once the odd coefficients move. KAT (Yang & Wang 2024, *Kolmogorov-Arnold
Transformer*, Adamdad/rational_kat_cu ``kat_rational/kat_1dgroup.py`` and ``src/rational_kernel_group.cu``)
uses version A with ONE numerator shared by all channel groups and a denominator per group.

At a zero argument of |·| (x = 0, b_k = 0, or in B S(x) = 0) the derivative of |t| is taken as +1, the
authors' CUDA kernels' copysign(1, t) for t = +0.0; torch's own ``abs`` would give 0 there. It matters for
b_k = 0 exactly (the identity start): with 0 the denominator would never receive a gradient.

Initial coefficients are *fitted*, not typed in: :func:`fit_rational` least-squares-fits F (in the chosen
version) to a target function on a grid over [−3, 3] (the interval the PAU paper fits its initialisations
on), first linearised (one linear solve), then refined by Levenberg–Marquardt (a damped Gauss–Newton) on
the true residual F − f. Fits are cached. Maximum absolute error on the grid at (5, 4), version A, as
:func:`fit_error` reports it: leaky ReLU (slope 0.01) 0.030, GELU 2.8e-3, swish 1.2e-6, identity 0;
version B: leaky ReLU 0.034, GELU 9.1e-4. :mod:`.fast_rational` holds the fused versions.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import torch
from torch import Tensor, nn

from .fixed import Activation

#: target functions an initial fit can start from (numpy, on float64 grids)
INITS = ("leaky_relu", "gelu", "swish", "identity")
#: the two safe denominators (module docstring)
VERSIONS = ("A", "B")
#: the interval and grid the initial coefficients are fitted on
FIT_RANGE, FIT_POINTS = (-3.0, 3.0), 1001


def _target(init: str, negative_slope: float):
    if init == "leaky_relu":
        return lambda x: np.where(x >= 0, x, negative_slope * x)
    if init == "gelu":  # the exact (erf) GELU, as torch.nn.GELU()
        from scipy.special import erf

        return lambda x: 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))
    if init == "swish":  # x·σ(x), KAT's "swish" start (= torch.nn.SiLU())
        from scipy.special import expit

        return lambda x: x * expit(x)
    if init == "identity":
        return lambda x: x
    raise ValueError(f"unknown rational init {init!r}; choose one of {', '.join(INITS)}")


def _check_version(version: str) -> str:
    if version not in VERSIONS:
        raise ValueError(f"unknown rational version {version!r}; choose 'A' (Q = 1 + Σ|b_k||x|^k, the authors' "
                         "default) or 'B' (Q = 1 + |Σ b_k x^k|)")
    return version


def _sign(t: np.ndarray) -> np.ndarray:
    """d|t|/dt with +1 at t = 0 (the module docstring's convention)."""
    return np.where(t >= 0, 1.0, -1.0)


def _safe_rational(coef: np.ndarray, x: np.ndarray, m: int, version: str):
    """(F, P, Q, dF/dcoef) at x for coefficients (a_0 … a_m, b_1 … b_n) in the given version."""
    n = len(coef) - m - 1
    powers = np.vander(x, max(m, n) + 1, increasing=True)
    a, b = coef[: m + 1], coef[m + 1 :]
    p = powers[:, : m + 1] @ a
    if version == "A":
        abs_powers = np.abs(powers[:, 1 : n + 1])
        q = 1.0 + abs_powers @ np.abs(b)
        db = (-p / q**2)[:, None] * abs_powers * _sign(b)[None, :]
    else:
        s = powers[:, 1 : n + 1] @ b
        q = 1.0 + np.abs(s)
        db = (-p * _sign(s) / q**2)[:, None] * powers[:, 1 : n + 1]
    return p / q, p, q, np.hstack([powers[:, : m + 1] / q[:, None], db])


def fit_rational(init: str = "leaky_relu", degrees: tuple[int, int] = (5, 4), negative_slope: float = 0.01,
                 version: str = "A") -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Coefficients ((a_0 … a_m), (b_1 … b_n)) of the safe rational (``version``) closest to ``init`` on [−3, 3].

    Step 1 (linearised least squares): P(x) − f(x)·D(x) = f(x), with D(x) = Σ c_k |x|^k (version A, solved
    with c_k ≥ 0 by bounded-variable least squares, since only |b_k| enters Q) or Σ c_k x^k (B), is linear in
    (a, c); its solution is the best rational P/(1 + D). Step 2: ``scipy.optimize.least_squares`` on the
    residual F − f with the analytic Jacobian from step 1's coefficients (B: Levenberg–Marquardt; A: the
    trust-region reflective method with b_k ≥ 0), never ending worse than step 1. "identity" is exact
    (a_1 = 1, every other coefficient 0). Grid: 1001 equally spaced points. Deterministic; cached.
    """
    _target(init, negative_slope)  # an unknown init fails here, with the list of known ones
    return _fit(init, (int(degrees[0]), int(degrees[1])), float(negative_slope), _check_version(version))


@functools.lru_cache(maxsize=None)
def _fit(init: str, degrees: tuple[int, int], negative_slope: float, version: str):
    from scipy.optimize import least_squares, lsq_linear

    m, n = degrees
    if init == "identity":  # exact: P(x) = x, Q = 1 (KAT's identity mode), in either version
        return (0.0, 1.0) + (0.0,) * (m - 1), (0.0,) * n
    x = np.linspace(*FIT_RANGE, FIT_POINTS)
    y = _target(init, negative_slope)(x)
    powers = np.vander(x, max(m, n) + 1, increasing=True)
    den = np.abs(powers[:, 1 : n + 1]) if version == "A" else powers[:, 1 : n + 1]
    linear = np.hstack([powers[:, : m + 1], -y[:, None] * den])
    if version == "A":  # only |b_k| enters Q: fit c_k = |b_k| >= 0, which also keeps the linear solve's Q >= 1
        lower = np.r_[np.full(m + 1, -np.inf), np.zeros(n)]
        start = lsq_linear(linear, y, bounds=(lower, np.inf), method="bvls").x
        options = {"method": "trf", "bounds": (lower, np.inf)}
    else:
        start = np.linalg.lstsq(linear, y, rcond=None)[0]
        options = {"method": "lm"}

    def residual(c):
        return _safe_rational(c, x, m, version)[0] - y

    def jacobian(c):
        return _safe_rational(c, x, m, version)[3]

    best = least_squares(residual, start, jac=jacobian, xtol=1e-15, ftol=1e-15, gtol=1e-15, max_nfev=4000,
                         **options).x
    if np.sum(residual(best) ** 2) > np.sum(residual(start) ** 2):  # never worse than the linear solve
        best = start
    return tuple(float(v) for v in best[: m + 1]), tuple(float(v) for v in best[m + 1 :])


def fit_error(init: str = "leaky_relu", degrees: tuple[int, int] = (5, 4), negative_slope: float = 0.01,
              version: str = "A") -> float:
    """Maximum |F(x) − target(x)| of :func:`fit_rational`'s coefficients over its grid on [−3, 3]."""
    a, b = fit_rational(init, tuple(degrees), negative_slope, version)
    x = np.linspace(*FIT_RANGE, FIT_POINTS)
    value = _safe_rational(np.array(a + b), x, len(a) - 1, version)[0]
    return float(np.max(np.abs(value - _target(init, negative_slope)(x))))


def group_coefficients(coef: Tensor, x: Tensor, name: str) -> Tensor:
    """(G, R) group coefficients → (R, C) per-channel columns for x of shape (N, C, ...); (R, 1) when G = 1.

    ValueError (saying what to do) when x has no channel dim or G does not divide its channel count.
    """
    groups = coef.shape[0]
    if groups == 1:
        return coef.t()
    if x.dim() < 2 or x.shape[1] % groups:
        shape = tuple(x.shape)
        channels = x.shape[1] if x.dim() >= 2 else None
        divisors = [d for d in range(1, (channels or 1) + 1) if channels and channels % d == 0]
        raise ValueError(
            f"{name} with groups={groups} splits the channels (dim 1) into {groups} equal groups, but the input "
            f"has shape {shape}" + (f" ({channels} channels)" if channels else " (no channel dim)") + ". "
            + (f"Use groups dividing {channels}: {', '.join(map(str, divisors))}." if channels
               else "Give an input of shape (N, C, ...).")
        )
    return coef.repeat_interleave(x.shape[1] // groups, dim=0).t()


def abs_plus(t: Tensor) -> Tensor:
    """|t| whose autograd derivative at t = 0 is +1 (the authors' copysign(1, +0.0)), not torch.abs's 0."""
    return torch.where(t >= 0, t, -t)


class PAU(Activation):
    """Safe Padé Activation Unit (Molina et al., ICLR 2020): F(x) = P(x) / Q(x), P(x) = Σ_{j=0..m} a_j x^j.

    ``version`` "A" (default), Q(x) = 1 + Σ_{k=1..n} |b_k|·|x|^k, is the authors' safe PAU: ml-research/pau
    ``pau/cuda/setup.py`` (the CUDA kernel the paper trained with) and ``pau/cuda/python_imp/Pade.py``, and
    ml-research/rational_activations' default version A (``rational/_cuda/versions/A.cu``). ``version`` "B",
    Q(x) = 1 + |Σ_{k=1..n} b_k x^k|, is rational_activations' version B (``versions/B.cu``); mixact's pau
    computed B before issue 29. ``degrees`` = (m, n), (5, 4) by default: 10 coefficients. ``groups`` = 1
    (the paper's form) learns one coefficient set per layer; ``groups`` = G splits the channels (dim 1)
    into G equal, contiguous groups with a full set each. Parameters ``numerator`` (G, m + 1) and
    ``denominator`` (G, n). ``init`` picks the function the coefficients are fitted to (:func:`fit_rational`,
    fitted here in the chosen version, not the authors' published numbers): leaky ReLU with
    ``negative_slope`` 0.01 by default, as the paper initialises its PAUs (max error of the version-A fit on
    [−3, 3]: 0.030, at the kink). d|t|/dt = +1 at t = 0 (module docstring).
    """

    name = "pau"
    family = "rational"
    source = "Molina et al. 2020 (ICLR), safe PAU (version A)"
    default_init = "leaky_relu"
    default_groups = 1
    #: KAT shares one numerator across the groups; PAU's groups each learn their own
    shared_numerator = False

    def __init__(self, degrees: tuple[int, int] = (5, 4), groups: int | None = None, init: str | None = None,
                 negative_slope: float = 0.01, version: str = "A"):
        super().__init__()
        groups = self.default_groups if groups is None else groups
        init = self.default_init if init is None else init
        if len(tuple(degrees)) != 2 or int(degrees[0]) < 0 or int(degrees[1]) < 1:
            raise ValueError(f"{self.name} needs degrees (m, n) with m >= 0 and n >= 1, got {degrees!r}")
        if not (isinstance(groups, int) and groups >= 1):
            raise ValueError(f"{self.name} needs groups >= 1 (an int), got {groups!r}")
        m, n = int(degrees[0]), int(degrees[1])
        a, b = fit_rational(init, (m, n), float(negative_slope), _check_version(version))
        self.degrees, self.groups, self.init, self.version = (m, n), groups, init, version
        self.numerator = nn.Parameter(torch.tensor(a).repeat(1 if self.shared_numerator else groups, 1))
        self.denominator = nn.Parameter(torch.tensor(b).repeat(groups, 1))

    def coefficients(self, x: Tensor) -> Tensor:
        """The kernel's coefficients as (R, C) columns, one per channel of x (R = m + 1 + n; (R, 1) for one group):
        rows a_0 … a_m, then |b_1| … |b_n| in version A (the kernel then needs no sign) or b_1 … b_n in B."""
        numerator = self.numerator.expand(self.groups, -1) if self.shared_numerator else self.numerator
        denominator = abs_plus(self.denominator) if self.version == "A" else self.denominator
        return group_coefficients(torch.cat([numerator, denominator], 1), x, self.name)

    def forward(self, x: Tensor) -> Tensor:
        return rational_reference(x, self.coefficients(x), self.degrees[0], self.version)

    def describe(self) -> dict:
        def values(t):
            t = t.detach().float().cpu()
            return t[0].tolist() if t.shape[0] == 1 else t.tolist()

        return {"numerator": values(self.numerator), "denominator": values(self.denominator)}

    def extra_repr(self) -> str:
        return f"degrees={self.degrees}, groups={self.groups}, init={self.init!r}, version={self.version!r}"


class KATRational(PAU):
    """KAT's group-rational activation (Yang & Wang 2024, *Kolmogorov-Arnold Transformer*, GR-KAN).

    F_g(x) = P(x) / (1 + Σ_{k=1..4} |b_{g,k}|·|x|^k) for the channels of group g, as Adamdad/rational_kat_cu
    computes it (``kat_rational/kat_1dgroup.py``: one numerator of shape (1, 6) repeated over the groups,
    a denominator per group; formula in ``src/rational_kernel_group.cu``, version A): parameters
    ``numerator`` (1, 6), shared, and ``denominator`` (G, 4); 6 + 4·G, 38 at the default ``groups`` = 8.
    The channels (dim 1) are split into ``groups`` equal contiguous groups (ValueError if G does not divide
    them). ``init``: "gelu" (default, KAT's default mode), "swish" or "identity" (KAT's modes). The
    starts are fitted here in version A (:func:`fit_rational`; max error on [−3, 3]: GELU 2.8e-3,
    swish 1.2e-6, identity 0), not taken from KAT's ``init.json``, whose GELU entry was fitted in
    version B and so misses GELU under KAT's own version-A kernel (by 1.46 at x = 3). KAT applies it to
    (B, L, C) tokens; here channels are dim 1 as everywhere in mixact, so move a channels-last input's
    channels to dim 1 (for (N, C) inputs the two agree).
    """

    name = "kat_rational"
    source = "Yang & Wang 2024 (KAT), group-rational (shared numerator)"
    default_init = "gelu"
    default_groups = 8
    shared_numerator = True


def rational_reference(x: Tensor, coef: Tensor, m: int, version: str = "A") -> Tensor:
    """F(x) in plain torch, with coef (R, C) or (R, 1): rows a_0 … a_m, then c_1 … c_n.

    Version A: P(x) / (1 + Σ c_k |x|^k) (c_k = |b_k|, from :meth:`PAU.coefficients`); B: P(x) / (1 + |Σ c_k x^k|).
    """
    rows = [c.reshape(()) if coef.shape[1] == 1 else c.view(1, -1, *([1] * (x.dim() - 2))) for c in coef]
    p = sum(rows[j] * x**j for j in range(m + 1))
    if version == "A":
        t = abs_plus(x)
        return p / (1 + sum(rows[m + k] * t**k for k in range(1, len(rows) - m)))
    return p / (1 + abs_plus(sum(rows[m + k] * x**k for k in range(1, len(rows) - m))))


RATIONAL_ACTIVATIONS: dict[str, type[Activation]] = {cls.name: cls for cls in (PAU, KATRational)}
