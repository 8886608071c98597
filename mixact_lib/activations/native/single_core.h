// Paper B's learnable activations and their baselines (fast_single.py) as one-pass CPU kernels.
//
// Parameters come as a (4, C) matrix, unused rows zero: C = 1 (scalars) or the channels of dim 1.
// Backward returns dx and, fused into the same pass, the parameters' gradients sum_i g_i dy_i/dp_k
// (16 independent lanes per row, as in mix_core.h). Exponentials use mix_core.h's exp_neg.
//   arelu    y = max(a x + c, b x + d); a tie splits the gradient half/half (torch.maximum's rule)
//   asigmoid y = b sigma(a x + c) + d          atanh  y = b tanh(a x + c) + d
//   pelu     y = (a/b) x (x >= 0), a (e^{x/b} - 1) (x < 0); a, b > 0 (softplus applied by the caller)
//   frelu    y = relu(x) + b (slope 0 at x = 0)                swish  y = x sigma(beta x)
//   prelu    y = x (x >= 0), alpha x (x < 0): slope 1 at x = 0, as torch
//   acon_c   y = (p1 - p2) x sigma(beta (p1 - p2) x) + p2 x   (parameters p1, p2, beta)
#pragma once
#include "mix_core.h"

namespace mixact {

enum Kind { ARELU = 0, ASIGMOID, ATANH, PELU, FRELU, SWISH, PRELU, ACONC };

// sigma(u) and 1 - sigma(u) from one exp_neg(|u|)
template <typename T>
inline void sigmoid2(T u, T& s, T& q) {
  T t = exp_neg(std::abs(u));
  T inv = T(1) / (T(1) + t);
  bool up = u >= T(0);
  s = up ? inv : t * inv;
  q = up ? t * inv : inv;
}

template <int K, typename T>
inline T single_forward(T x, const T* p) {
  if constexpr (K == ARELU) {
    T u1 = p[0] * x + p[2], u2 = p[1] * x + p[3];
    return u1 > u2 ? u1 : u2;
  } else if constexpr (K == ASIGMOID) {
    T s, q;
    sigmoid2(p[0] * x + p[2], s, q);
    return p[1] * s + p[3];
  } else if constexpr (K == ATANH) {
    T u = p[0] * x + p[2];
    T t2 = exp_neg(T(2) * std::abs(u));
    T a = (T(1) - t2) / (T(1) + t2);
    return p[1] * (u >= T(0) ? a : -a) + p[3];
  } else if constexpr (K == PELU) {
    T e = exp_neg(x > T(0) ? T(0) : -x / p[1]);  // NaN reaches exp and passes through
    return x >= T(0) ? p[0] / p[1] * x : p[0] * (e - T(1));
  } else if constexpr (K == FRELU) {
    return (x <= T(0) ? T(0) : x) + p[0];  // NaN passes through, as torch's relu
  } else if constexpr (K == SWISH) {
    T s, q;
    sigmoid2(p[0] * x, s, q);
    return x * s;
  } else if constexpr (K == ACONC) {
    T dp = p[0] - p[1];
    T s, q;
    sigmoid2(p[2] * dp * x, s, q);
    return dp * x * s + p[1] * x;
  } else {
    return x >= T(0) ? x : p[0] * x;
  }
}

// dy/dx at x times g, and g * dy/dp_k in d[0..3]
template <int K, typename T>
inline T single_backward(T x, const T* p, T g, T* d) {
  if constexpr (K == ARELU) {
    T u1 = p[0] * x + p[2], u2 = p[1] * x + p[3];
    T h = u1 > u2 ? T(1) : (u1 < u2 ? T(0) : T(0.5));
    T gh = g * h, gl = g - gh;
    d[0] = gh * x; d[1] = gl * x; d[2] = gh; d[3] = gl;
    return gh * p[0] + gl * p[1];
  } else if constexpr (K == ASIGMOID) {
    T s, q;
    sigmoid2(p[0] * x + p[2], s, q);
    T gd = g * s * q * p[1];  // g b sigma'(u)
    d[0] = gd * x; d[1] = g * s; d[2] = gd; d[3] = g;
    return gd * p[0];
  } else if constexpr (K == ATANH) {
    T u = p[0] * x + p[2];
    T t2 = exp_neg(T(2) * std::abs(u));
    T a = (T(1) - t2) / (T(1) + t2);
    T t = u >= T(0) ? a : -a;
    T gd = g * (T(1) - t * t) * p[1];
    d[0] = gd * x; d[1] = g * t; d[2] = gd; d[3] = g;
    return gd * p[0];
  } else if constexpr (K == PELU) {
    bool up = x >= T(0);
    T e = exp_neg(up ? T(0) : -x / p[1]);
    T ge = up ? g : g * e;  // g e^{x/b} for x < 0, g for x >= 0
    d[0] = up ? g * x / p[1] : g * (e - T(1));
    d[1] = -ge * x * p[0] / (p[1] * p[1]);
    d[2] = T(0); d[3] = T(0);
    return ge * p[0] / p[1];
  } else if constexpr (K == FRELU) {
    d[0] = g; d[1] = T(0); d[2] = T(0); d[3] = T(0);
    return x > T(0) ? g : T(0);
  } else if constexpr (K == SWISH) {
    T u = p[0] * x;
    T s, q;
    sigmoid2(u, s, q);
    d[0] = g * x * x * s * q; d[1] = T(0); d[2] = T(0); d[3] = T(0);
    return g * s * (T(1) + u * q);
  } else if constexpr (K == ACONC) {
    // h = dy/dp1 = x s (1 + u q) with u = beta (p1 - p2) x; dy/dp2 = x - h; dy/dbeta = (p1 - p2)^2 x^2 s q
    T dp = p[0] - p[1];
    T u = p[2] * dp * x;
    T s, q;
    sigmoid2(u, s, q);
    T gs = g * s * (T(1) + u * q);
    d[0] = gs * x; d[1] = g * x - gs * x; d[2] = g * dp * dp * x * x * s * q; d[3] = T(0);
    return gs * dp + g * p[1];
  } else {
    bool neg = x < T(0);
    d[0] = neg ? g * x : T(0); d[1] = T(0); d[2] = T(0); d[3] = T(0);
    return neg ? g * p[0] : g;
  }
}

template <int K, typename T>
void single_forward_kernel(const T* x, T* y, const T* par, Layout L) {
  if (L.C > 1 && L.inner == 1) {
    for_each_sample(L, [&](int64_t first, int64_t last, int64_t) {
      for (int64_t n = first; n < last; ++n) {
#pragma omp simd
        for (int64_t ch = 0; ch < L.C; ++ch) {
          T p[4];
          column(par, L.C, ch, p);
          y[n * L.C + ch] = single_forward<K, T>(x[n * L.C + ch], p);
        }
      }
    });
    return;
  }
  for_each_block(L, [&](int64_t start, int64_t stop, int64_t ch, int64_t) {
    T p[4];
    column(par, L.C, ch, p);
    map_block(start, stop, L, x, y, [&](int64_t i) { return single_forward<K, T>(x[i], p); });
  });
}

template <int K, typename T>
void single_backward_kernel(const T* x, const T* g, T* dx, const T* par, Layout L, double* sums) {
  const int64_t slab = 4 * L.C;  // sums: (threads, 4, C)
  if (L.C > 1 && L.inner == 1) {
    for_each_sample(L, [&](int64_t first, int64_t last, int64_t tid) {
      std::vector<T> part(slab, T(0));
      T* pp = part.data();
      for (int64_t n = first; n < last; ++n) {
#pragma omp simd
        for (int64_t ch = 0; ch < L.C; ++ch) {
          T p[4], d[4];
          column(par, L.C, ch, p);
          dx[n * L.C + ch] = single_backward<K, T>(x[n * L.C + ch], p, g[n * L.C + ch], d);
          pp[ch] += d[0]; pp[L.C + ch] += d[1]; pp[2 * L.C + ch] += d[2]; pp[3 * L.C + ch] += d[3];
        }
      }
      add_part(part, sums + tid * slab);
    });
    return;
  }
  auto part = block_partials<4>(L);
  for_each_block(L, [&](int64_t start, int64_t stop, int64_t ch, int64_t b) {
    T p[4];
    column(par, L.C, ch, p);
    T lane[4][W] = {};
    lanes_block(start, stop, L, x, g, dx, [&](int64_t i, int l) {
      T d[4];
      dx[i] = single_backward<K, T>(x[i], p, g[i], d);
      lane[0][l] += d[0]; lane[1][l] += d[1]; lane[2][l] += d[2]; lane[3][l] += d[3];
    });
    store_lanes<4>(lane, part.get() + b * 4);
  });
  add_blocks<4>(part.get(), L, sums);  // into thread 0's slab
}

}  // namespace mixact
