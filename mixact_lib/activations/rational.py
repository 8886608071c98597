"""Rational activations: the safe Padé Activation Unit and KAT's group-rational form (reference versions).

    F(x) = P(x) / Q(x),   P(x) = Σ_{j=0..m} a_j x^j,   Q(x) = 1 + |Σ_{k=1..n} b_k x^k|

is the "safe" PAU of Molina, Schramowski & Kersting, *Padé Activation Units* (ICLR 2020): the absolute
value keeps Q ≥ 1, so F has no poles. Degrees (m, n) = (5, 4) by default, as in both papers.
KAT (Yang & Wang 2024, *Kolmogorov-Arnold Transformer*, the GR-KAN layer) uses the same F with the
channels split into groups, one coefficient set per group.

Initial coefficients are *fitted*, not typed in: :func:`fit_rational` least-squares-fits F to a target
function on a grid over [−3, 3] (the interval the PAU paper fits its initialisations on), first
linearised (P − f·S = f, one linear solve), then refined by Levenberg–Marquardt (a damped Gauss–Newton)
on the true residual F − f. Fits are cached per (target, m, n, slope). Maximum absolute error on the
grid at (5, 4), as :func:`fit_error` reports it: leaky ReLU (slope 0.01) 0.034 (at the kink: a rational
function is smooth), GELU 9.1e-4, identity ~1e-16. :mod:`.fast_rational` holds the fused versions.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import torch
from torch import Tensor, nn

from .fixed import Activation

#: target functions an initial fit can start from (numpy, on float64 grids)
INITS = ("leaky_relu", "gelu", "identity")
#: the interval and grid the initial coefficients are fitted on
FIT_RANGE, FIT_POINTS = (-3.0, 3.0), 1001


def _target(init: str, negative_slope: float):
    if init == "leaky_relu":
        return lambda x: np.where(x >= 0, x, negative_slope * x)
    if init == "gelu":  # the exact (erf) GELU, as torch.nn.GELU()
        from scipy.special import erf

        return lambda x: 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))
    if init == "identity":
        return lambda x: x
    raise ValueError(f"unknown rational init {init!r}; choose one of {', '.join(INITS)}")


def _safe_rational(coef: np.ndarray, x: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(F, P, S) at x for coefficients (a_0 … a_m, b_1 … b_n)."""
    powers = np.vander(x, len(coef), increasing=True)
    p = powers[:, : m + 1] @ coef[: m + 1]
    s = powers[:, 1 : len(coef) - m] @ coef[m + 1 :]
    return p / (1.0 + np.abs(s)), p, s


def fit_rational(init: str = "leaky_relu", degrees: tuple[int, int] = (5, 4),
                 negative_slope: float = 0.01) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Coefficients ((a_0 … a_m), (b_1 … b_n)) of the safe rational closest to ``init`` on [−3, 3].

    Step 1 (linearised least squares): P(x) − f(x)·S(x) = f(x) is linear in (a, b); its solution is
    the best plain rational P/(1 + S). Step 2: Levenberg–Marquardt (``scipy.optimize.least_squares``)
    on the residual P/(1 + |S|) − f with the analytic Jacobian, from step 1's coefficients. Grid:
    1001 equally spaced points. Deterministic; cached per (init, degrees, negative_slope).
    """
    _target(init, negative_slope)  # an unknown init fails here, with the list of known ones
    return _fit(init, (int(degrees[0]), int(degrees[1])), float(negative_slope))


@functools.lru_cache(maxsize=None)
def _fit(init: str, degrees: tuple[int, int], negative_slope: float):
    from scipy.optimize import least_squares

    m, n = degrees
    f = _target(init, negative_slope)
    x = np.linspace(*FIT_RANGE, FIT_POINTS)
    y = f(x)
    powers = np.vander(x, max(m, n) + 1, increasing=True)
    linear = np.hstack([powers[:, : m + 1], -y[:, None] * powers[:, 1 : n + 1]])
    start = np.linalg.lstsq(linear, y, rcond=None)[0]

    def residual(c):
        return _safe_rational(c, x, m)[0] - y

    def jacobian(c):
        _, p, s = _safe_rational(c, x, m)
        q = 1.0 + np.abs(s)
        return np.hstack([powers[:, : m + 1] / q[:, None], (-p * np.sign(s) / q**2)[:, None] * powers[:, 1 : n + 1]])

    best = least_squares(residual, start, jac=jacobian, method="lm", xtol=1e-15, ftol=1e-15, gtol=1e-15,
                         max_nfev=2000).x
    if np.sum(residual(best) ** 2) > np.sum(residual(start) ** 2):  # never worse than the linear solve
        best = start
    return tuple(float(v) for v in best[: m + 1]), tuple(float(v) for v in best[m + 1 :])


def fit_error(init: str = "leaky_relu", degrees: tuple[int, int] = (5, 4), negative_slope: float = 0.01) -> float:
    """Maximum |F(x) − target(x)| of :func:`fit_rational`'s coefficients over its grid on [−3, 3]."""
    a, b = fit_rational(init, tuple(degrees), negative_slope)
    x = np.linspace(*FIT_RANGE, FIT_POINTS)
    value = _safe_rational(np.array(a + b), x, len(a) - 1)[0]
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


class PAU(Activation):
    """Safe Padé Activation Unit (Molina et al., ICLR 2020): F(x) = P(x) / (1 + |Σ_{k=1..n} b_k x^k|).

    P(x) = Σ_{j=0..m} a_j x^j, ``degrees`` = (m, n), (5, 4) by default: 10 coefficients. ``groups`` = 1
    (the paper's form) learns one coefficient set per layer; ``groups`` = G splits the channels (dim 1)
    into G equal, contiguous groups with a set each (KAT's form, :class:`KATRational`). Parameters
    ``numerator`` (G, m + 1) and ``denominator`` (G, n). ``init`` picks the function the coefficients
    are fitted to (:func:`fit_rational`): leaky ReLU with ``negative_slope`` 0.01 by default, as the
    paper initialises its PAUs (max error of the fit on [−3, 3]: 0.034, at the kink).
    """

    name = "pau"
    family = "rational"
    source = "Molina et al. 2020 (ICLR), safe PAU"
    default_init = "leaky_relu"
    default_groups = 1

    def __init__(self, degrees: tuple[int, int] = (5, 4), groups: int | None = None, init: str | None = None,
                 negative_slope: float = 0.01):
        super().__init__()
        groups = self.default_groups if groups is None else groups
        init = self.default_init if init is None else init
        if len(tuple(degrees)) != 2 or int(degrees[0]) < 0 or int(degrees[1]) < 1:
            raise ValueError(f"{self.name} needs degrees (m, n) with m >= 0 and n >= 1, got {degrees!r}")
        if not (isinstance(groups, int) and groups >= 1):
            raise ValueError(f"{self.name} needs groups >= 1 (an int), got {groups!r}")
        m, n = int(degrees[0]), int(degrees[1])
        a, b = fit_rational(init, (m, n), float(negative_slope))
        self.degrees, self.groups, self.init = (m, n), groups, init
        self.numerator = nn.Parameter(torch.tensor(a).repeat(groups, 1))
        self.denominator = nn.Parameter(torch.tensor(b).repeat(groups, 1))

    def coefficients(self, x: Tensor) -> Tensor:
        """The coefficients as (R, C) columns, one per channel of x (R = m + 1 + n); (R, 1) for one group."""
        return group_coefficients(torch.cat([self.numerator, self.denominator], 1), x, self.name)

    def forward(self, x: Tensor) -> Tensor:
        return rational_reference(x, self.coefficients(x), self.degrees[0])

    def describe(self) -> dict:
        def values(t):
            t = t.detach().float().cpu()
            return t[0].tolist() if t.shape[0] == 1 else t.tolist()

        return {"numerator": values(self.numerator), "denominator": values(self.denominator)}

    def extra_repr(self) -> str:
        return f"degrees={self.degrees}, groups={self.groups}, init={self.init!r}"


class KATRational(PAU):
    """KAT's group-rational activation (Yang & Wang 2024, *Kolmogorov-Arnold Transformer*, GR-KAN).

    The safe PAU F(x) = P(x)/(1 + |Σ b_k x^k|), degrees (5, 4), with the channels (dim 1) split into
    ``groups`` = 8 equal groups sharing a coefficient set each: 80 parameters. The channel count must be
    a multiple of ``groups`` (ValueError otherwise). Initialised, as KAT's second activation of each
    block, to fit GELU (max error 9.1e-4 on [−3, 3]); ``init="identity"`` is KAT's first one.
    KAT applies it to (B, L, C) tokens; here channels are dim 1 as everywhere in mixact, so move a
    channels-last input's channels to dim 1 (for (N, C) inputs the two agree).
    """

    name = "kat_rational"
    source = "Yang & Wang 2024 (KAT), group-rational"
    default_init = "gelu"
    default_groups = 8


def rational_reference(x: Tensor, coef: Tensor, m: int) -> Tensor:
    """P(x) / (1 + |S(x)|) in plain torch, with coef (R, C) or (R, 1): rows a_0 … a_m, b_1 … b_n."""
    rows = [c.reshape(()) if coef.shape[1] == 1 else c.view(1, -1, *([1] * (x.dim() - 2))) for c in coef]
    p = sum(rows[j] * x**j for j in range(m + 1))
    s = sum(rows[m + k] * x**k for k in range(1, len(rows) - m))
    return p / (1 + torch.abs(s))


RATIONAL_ACTIVATIONS: dict[str, type[Activation]] = {cls.name: cls for cls in (PAU, KATRational)}
