// The safe Padé / group-rational activations (fast_rational.py) as one-pass CPU kernels.
//
//   y = P(x) / Q(x),  P = sum_{j=0..M} a_j x^j,  with coefficient rows c_1..c_N after a_0..a_M and
//   version A (V = true):   Q = 1 + D(|x|),  D(t) = sum_{k=1..N} c_k t^k   (the caller passes c_k = |b_k|)
//   version B (V = false):  Q = 1 + |S(x)|,  S(x) = sum_{k=1..N} c_k x^k   (c_k = b_k)
//
// Coefficients come as an (M + 1 + N, C) matrix: C = 1 (one set for the layer) or the channels of dim 1 (a
// group's set repeated over its channels; the caller sums the gradients per group and, in version A, applies
// d|b_k|/db_k itself). Backward recomputes P and D (or S) and their derivatives by Horner's rule and returns,
// with u = g/Q:
//   A: v = -g P/Q^2,           dx = u P'(x) + v D'(|x|) sgn(x),  d/da_j = sum u x^j,  d/dc_k = sum v |x|^k
//   B: v = -g P sgn(S)/Q^2,    dx = u P'(x) + v S'(x),           d/da_j = sum u x^j,  d/dc_k = sum v x^k
// where sgn(0) = +1 (the authors' CUDA kernels' copysign(1, +0.0)), the M + 1 + N parameter sums fused
// into the same pass: 16 independent lanes per row in T (a running sum would not vectorise), the lanes
// added per row, and the rows added in double (mix_core.h's scheme).
#pragma once
#include "mix_core.h"

namespace mixact {

template <int M, int N, typename T, bool V>
struct Rational {
  static constexpr int R = M + 1 + N;
  static constexpr int D = M > N ? M : N;  // the highest power of x any gradient needs

  static inline T sgn(T t) { return t >= T(0) ? T(1) : T(-1); }

  static inline T forward(T x, const T* c) {
    T p = c[M];
    for (int j = M - 1; j >= 0; --j) p = p * x + c[j];
    T z = V ? std::abs(x) : x;
    T s = c[M + N];  // s(z) = c_1 + c_2 z + ... + c_N z^{N-1}; D or S = z s
    for (int k = N - 1; k >= 1; --k) s = s * z + c[M + k];
    return V ? p / (T(1) + s * z) : p / (T(1) + std::abs(s * z));
  }

  // g dy/dx; d[r] = g dy/dc_r for the R coefficients
  static inline T backward(T x, const T* c, T g, T* d) {
    T p = c[M], dp = T(0);
    for (int j = M - 1; j >= 0; --j) {
      dp = dp * x + p;
      p = p * x + c[j];
    }
    T z = V ? std::abs(x) : x;
    T s = c[M + N], ds = T(0);
    for (int k = N - 1; k >= 1; --k) {
      ds = ds * z + s;
      s = s * z + c[M + k];
    }
    T S = s * z, dS = s + ds * z;  // the denominator polynomial and its derivative in z
    T inv = T(1) / (T(1) + (V ? S : std::abs(S)));
    T u = g * inv;
    T v = -u * (p * inv) * (V ? T(1) : sgn(S));
    T pw = T(1), pz = T(1);
    for (int r = 0; r <= D; ++r) {
      if (r <= M) d[r] = u * pw;
      if (r >= 1 && r <= N) d[M + r] = v * pz;
      pw *= x;
      pz *= z;
    }
    return u * dp + v * dS * (V ? sgn(x) : T(1));
  }
};

template <int M, int N, bool V, typename T>
void rational_forward_kernel(const T* x, T* y, const T* par, Layout L) {
  using F = Rational<M, N, T, V>;
  if (L.C > 1 && L.inner == 1) {
    for_each_sample(L, [&](int64_t first, int64_t last, int64_t) {
      for (int64_t n = first; n < last; ++n) {
#pragma omp simd
        for (int64_t ch = 0; ch < L.C; ++ch) {
          T c[F::R];
          column(par, L.C, ch, c);
          y[n * L.C + ch] = F::forward(x[n * L.C + ch], c);
        }
      }
    });
    return;
  }
  for_each_block(L, [&](int64_t start, int64_t stop, int64_t ch, int64_t) {
    T c[F::R];
    column(par, L.C, ch, c);
    map_block(start, stop, L, x, y, [&](int64_t i) { return F::forward(x[i], c); });
  });
}

template <int M, int N, bool V, typename T>
void rational_backward_kernel(const T* x, const T* g, T* dx, const T* par, Layout L, double* sums) {
  using F = Rational<M, N, T, V>;
  constexpr int R = F::R;
  const int64_t slab = R * L.C;  // sums: (threads, R, C)
  if (L.C > 1 && L.inner == 1) {
    for_each_sample(L, [&](int64_t first, int64_t last, int64_t tid) {
      std::vector<T> part(slab, T(0));
      T* pp = part.data();
      for (int64_t n = first; n < last; ++n) {
#pragma omp simd
        for (int64_t ch = 0; ch < L.C; ++ch) {
          T c[R], d[R];
          column(par, L.C, ch, c);
          dx[n * L.C + ch] = F::backward(x[n * L.C + ch], c, g[n * L.C + ch], d);
          for (int r = 0; r < R; ++r) pp[r * L.C + ch] += d[r];
        }
      }
      add_part(part, sums + tid * slab);
    });
    return;
  }
  auto part = block_partials<R>(L);
  for_each_block(L, [&](int64_t start, int64_t stop, int64_t ch, int64_t b) {
    T c[R];
    column(par, L.C, ch, c);
    T lane[R][W] = {};
    lanes_block(start, stop, L, x, g, dx, [&](int64_t i, int l) {
      T d[R];
      dx[i] = F::backward(x[i], c, g[i], d);
      for (int r = 0; r < R; ++r) lane[r][l] += d[r];
    });
    store_lanes<R>(lane, part.get() + b * R);
  });
  add_blocks<R>(part.get(), L, sums);  // into thread 0's slab
}

// The degrees compiled as their own loops: (5, 4), the default of PAU and KAT, in both versions (version 0 =
// A, 1 = B). Others run the eager path.
template <typename F>
bool rational_dispatch(int64_t m, int64_t n, int64_t version, F&& f) {
  if (m == 5 && n == 4 && version == 0) {
    f(std::integral_constant<int, 5>{}, std::integral_constant<int, 4>{}, std::true_type{});
    return true;
  }
  if (m == 5 && n == 4 && version == 1) {
    f(std::integral_constant<int, 5>{}, std::integral_constant<int, 4>{}, std::false_type{});
    return true;
  }
  return false;
}

}  // namespace mixact
