// The mixture kernel's arithmetic and loops, free of torch (mix_cpu.cpp binds them; benchmarks can compile
// this header alone). See mix_cpu.cpp for the maths.
#pragma once
#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <type_traits>
#include <vector>

#ifndef MIXACT_PARALLEL_FOR
#include <ATen/Parallel.h>
#define MIXACT_PARALLEL_FOR at::parallel_for
#define MIXACT_THREAD_NUM at::get_thread_num
#endif

namespace mixact {

enum Feature { POS = 0, NEG, ZERO, EM1, SILU, MISH, SIGMOID, TANH, SIN, NOISE, NF };
constexpr int bit(Feature f) { return 1 << f; }
constexpr int SMOOTH = bit(EM1) | bit(SILU) | bit(MISH) | bit(SIGMOID) | bit(TANH);

// e^{-a} for a >= 0 (float): Cody-Waite reduction by ln 2 and a degree-6 polynomial, branch-free so that the
// loops around it vectorise. Relative error about 1.2e-7 (the polynomial's truncation r^7/7!, |r| <= ln2/2).
inline float exp_neg(float a) {
  float z = -a;
  z = z < -87.0f ? -87.0f : z;                        // e^{-87} ~ 1.6e-38: the smallest normal range, not 0
  const float shifter = 12582912.0f;                  // 1.5 * 2^23: adding it rounds to an integer
  float n = (z * 1.44269504088896341f + shifter) - shifter;
  float r = z - n * 0.693145751953125f;               // ln 2, high part (exact in float)
  r = r - n * 1.428606765330187045e-06f;              // ln 2, low part
  float p = 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  int32_t bits = (static_cast<int32_t>(n) + 127) << 23;  // 2^n, n in [-126, 0]
  return p * std::bit_cast<float>(bits);
}
inline double exp_neg(double a) { return std::exp(-a); }

// sin and cos of x (float): reduction by pi/2 in three parts and Cephes' minimax polynomials on [-pi/4, pi/4].
// Accurate to a few ulp for |x| < 2^13; the error grows with |x| beyond that (documented in fast_native.py).
inline void sincos_(float x, float& s, float& c) {
  float n = (x * 0.636619772367581343f + 12582912.0f) - 12582912.0f;
  float r = x - n * 1.5703125f;
  r = r - n * 4.837512969970703125e-4f;
  r = r - n * 7.54978995489188216e-8f;
  float r2 = r * r;
  float ps = ((-1.9515295891e-4f * r2 + 8.3321608736e-3f) * r2 - 1.6666654611e-1f) * r2 * r + r;
  float pc = ((2.443315711809948e-5f * r2 - 1.388731625493765e-3f) * r2 + 4.166664568298827e-2f) * r2 * r2
             - 0.5f * r2 + 1.0f;
  int32_t q = static_cast<int32_t>(n) & 3;
  float s0 = (q & 1) ? pc : ps;
  float c0 = (q & 1) ? ps : pc;
  s = (q & 2) ? -s0 : s0;
  c = ((q + 1) & 2) ? -c0 : c0;
}
inline void sincos_(double x, double& s, double& c) { s = std::sin(x); c = std::cos(x); }

// RReLU's 16-bit code for element idx: the top half of lowbias32(idx ^ key), as a signed integer in
// [-2^15, 2^15 - 1] (fast_core.RandomSlopes.codes computes the same numbers in numpy).
inline uint32_t lowbias32(uint32_t h) {
  h ^= h >> 16; h *= 0x7feb352dU; h ^= h >> 15; h *= 0x846ca68bU; h ^= h >> 16;
  return h;
}
inline uint32_t key_of(int64_t seed) {
  uint64_t s = static_cast<uint64_t>(seed);
  return lowbias32(static_cast<uint32_t>(s) ^ lowbias32(static_cast<uint32_t>(s >> 32)));
}
template <typename T>
inline T code_of(uint32_t idx, uint32_t key) {
  // the signed top half by an arithmetic shift (C++20): no 16-bit type in the loop, so the vectoriser keeps
  // 32-bit lanes in full-width registers (an int16 there made GCC pick half-width float vectors)
  return static_cast<T>(static_cast<int32_t>(lowbias32(idx ^ key)) >> 16);
}

// Everything the forward and backward need about one element.
template <int M, typename T>
struct Point {
  T pos, neg, em1 = 0, s = 0, q = 0, tsp = 0, th = 0, sn = 0, cs = 0;
  inline Point(T x) {
    pos = x <= T(0) ? T(0) : x;  // written so that NaN passes through (as torch's relu)
    neg = x >= T(0) ? T(0) : x;
    if constexpr ((M & SMOOTH) != 0) {
      T t = exp_neg(std::abs(x));
      T inv = T(1) / (T(1) + t);
      bool up = x >= T(0);
      if constexpr ((M & (bit(SILU) | bit(MISH) | bit(SIGMOID))) != 0) {
        s = up ? inv : t * inv;
        q = up ? t * inv : inv;
      }
      if constexpr ((M & bit(EM1)) != 0) em1 = up ? T(0) : t - T(1);
      if constexpr ((M & bit(MISH)) != 0) {
        T n = t * (t + T(2));
        T tt = T(2) * t;
        // numerator and denominator chosen before the one division (the same quotient as dividing on each side)
        T num = up ? T(1) + tt : n;
        T den = up ? T(1) + tt + tt * t : n + T(2);
        tsp = num / den;
      }
      if constexpr ((M & bit(TANH)) != 0) {
        T t2 = t * t;
        T a = (T(1) - t2) / (T(1) + t2);
        th = up ? a : -a;
      }
    }
    if constexpr ((M & bit(SIN)) != 0) sincos_(x, sn, cs);
  }
};

template <int M, typename T>
inline T forward_one(T x, const T* c, T k) {
  Point<M, T> p(x);
  T y = 0;
  if constexpr ((M & bit(POS)) != 0) y += c[POS] * p.pos;
  if constexpr ((M & bit(NEG)) != 0) y += c[NEG] * p.neg;
  if constexpr ((M & bit(EM1)) != 0) y += c[EM1] * p.em1;
  if constexpr ((M & bit(SILU)) != 0) y += c[SILU] * x * p.s;
  if constexpr ((M & bit(MISH)) != 0) y += c[MISH] * x * p.tsp;
  if constexpr ((M & bit(SIGMOID)) != 0) y += c[SIGMOID] * p.s;
  if constexpr ((M & bit(TANH)) != 0) y += c[TANH] * p.th;
  if constexpr ((M & bit(SIN)) != 0) y += c[SIN] * p.sn;
  if constexpr ((M & bit(NOISE)) != 0) y += c[NOISE] * k * p.neg;
  return y;
}

// The features whose coefficient gradients backward sums (zero has none: it is a detached constant).
template <typename T>
struct Feats {
  T pos = 0, neg = 0, em1 = 0, silu = 0, mish = 0, sig = 0, th = 0, sn = 0, noise = 0;
};

// dMix/dx at x; the summed features are written to f.
template <int M, typename T>
inline T backward_one(T x, const T* c, T k, Feats<T>& f) {
  Point<M, T> p(x);
  // piecewise-linear part: c_pos for x > 0; c_neg + c_em1 for x < 0 (ELU's e^x = 1 + em1 adds below);
  // at x = 0 the left slope plus prelu's c_zero (torch's prelu takes slope 1 there)
  T left = c[NEG] + c[EM1] + (x == T(0) ? c[ZERO] : T(0));
  T D = x > T(0) ? c[POS] : left;
  f.pos = p.pos;
  f.neg = p.neg;
  if constexpr ((M & bit(EM1)) != 0) { D += c[EM1] * p.em1; f.em1 = p.em1; }
  if constexpr ((M & bit(SILU)) != 0) { D += c[SILU] * (p.s + x * p.s * p.q); f.silu = x * p.s; }
  if constexpr ((M & bit(MISH)) != 0) {
    D += c[MISH] * (p.tsp + x * p.s * (T(1) - p.tsp * p.tsp));
    f.mish = x * p.tsp;
  }
  if constexpr ((M & bit(SIGMOID)) != 0) { D += c[SIGMOID] * p.s * p.q; f.sig = p.s; }
  if constexpr ((M & bit(TANH)) != 0) { D += c[TANH] * (T(1) - p.th * p.th); f.th = p.th; }
  if constexpr ((M & bit(SIN)) != 0) { D += c[SIN] * p.cs; f.sn = p.sn; }
  if constexpr ((M & bit(NOISE)) != 0) {  // torch's rrelu: the random slope applies wherever x <= 0
    T kn = x > T(0) ? T(0) : k;
    D += c[NOISE] * kn;
    f.noise = kn * x;
  }
  return D;
}

struct Layout {
  int64_t rows, C, inner;  // x viewed as (rows, inner) with channel (row % C); C = 1: flat in chunks
};

constexpr int64_t CHUNK = 4096;
// Elements below which a kernel stays on one thread (torch's own elementwise grain, at::internal::GRAIN_SIZE):
// waking a second thread costs microseconds, and on a shared machine it may wait for a busy core.
constexpr int64_t GRAIN = 32768;
constexpr int W = 16;  // lanes of the backward's partial sums (a multiple of every vector width)

inline int64_t block_length(Layout L) { return L.C == 1 ? CHUNK : L.inner; }
inline int64_t block_count(Layout L) {
  return L.C == 1 ? (L.rows * L.inner + CHUNK - 1) / CHUNK : L.rows;
}

// Calls body(i) for every item i in [0, count), an item being `item_size` elements: items go out in tasks of at
// least GRAIN elements to whichever thread asks next (an atomic counter), not split evenly in advance: on a machine
// whose other core is busy, the thread that has a core takes most tasks instead of waiting for the one that has
// not. Each item is handled by one task alone. The activations' blocks (for_each_block) and the pool's planes
// (pool_core.h) are handed out this way.
template <typename F>
inline void for_each_item(int64_t count, int64_t item_size, F&& body) {
  const int64_t per_task = std::max<int64_t>(1, GRAIN / std::max<int64_t>(1, item_size));
  const int64_t tasks = (count + per_task - 1) / per_task;
  std::atomic<int64_t> next{0};
  MIXACT_PARALLEL_FOR(0, tasks, 1, [&](int64_t, int64_t) {
    for (int64_t t = next.fetch_add(1); t < tasks; t = next.fetch_add(1)) {
      const int64_t last = std::min(count, (t + 1) * per_task);
      for (int64_t i = t * per_task; i < last; ++i) body(i);
    }
  });
}

// Calls body(start, stop, ch, b) for every block b of x: a row of `inner` elements, all of channel
// ch = row % C; or, when C == 1, a flat chunk of CHUNK elements (ch = 0), through for_each_item. Which thread ran
// a block never reaches a result: reductions go through per-block partials (store_lanes, add_blocks), added in
// block order.
template <typename F>
inline void for_each_block(Layout L, F&& body) {
  const int64_t len = block_length(L);
  const int64_t total = L.rows * L.inner;
  for_each_item(block_count(L), len, [&](int64_t r) {
    body(r * len, std::min(r * len + len, total), L.C == 1 ? 0 : r % L.C, r);
  });
}

// Software prefetch. The mixture loops do ~100 vector operations per 16 elements: their loads come too slowly
// for the hardware prefetchers to run far enough ahead, and on a tensor that is not in L2 about a cycle per
// element went to waiting for memory (benchmarks/breakdown.py: in-cache against tensor cycles/element).
// in_sub_blocks walks [start, stop) in sub-blocks of SUB elements and, before each, calls prefetch(i) for one
// element i per 64-byte line AHEAD elements on (never past the tensor's end); prefetch_read/prefetch_write ask for
// a line.
// SUB is a multiple of W, so the backward's lanes (in_lanes per sub-block) get the same elements as over the
// whole block: the same sums, bit for bit.
constexpr int64_t SUB = 256;
constexpr int64_t AHEAD = 2048;
static_assert(SUB % W == 0, "sub-blocks must keep the lanes' assignment");

template <typename T>
inline void prefetch_read(const T* p) { __builtin_prefetch(p, 0, 3); }
template <typename T>
inline void prefetch_write(T* p) { __builtin_prefetch(p, 1, 3); }

template <typename T, typename P, typename F>
inline void in_sub_blocks(int64_t start, int64_t stop, Layout L, P&& prefetch, F&& body) {
  constexpr int64_t line = 64 / static_cast<int64_t>(sizeof(T));
  const int64_t total = L.rows * L.inner;
  for (int64_t s0 = start; s0 < stop; s0 += SUB) {
    const int64_t s1 = std::min(s0 + SUB, stop);
    const int64_t end = std::min(s1 + AHEAD, total);
    for (int64_t i = s0 + AHEAD; i < end; i += line) prefetch(i);
    body(s0, s1);
  }
}

// Runs body(i, l) for i in [start, stop), l = (i - start) % W the lane whose partial sums it adds to:
// W independent lanes vectorise as element-wise adds, where one running sum would need reassociation
// (which compilers do only slowly under omp simd).
template <typename F>
inline void in_lanes(int64_t start, int64_t stop, F&& body) {
  int64_t i = start;
  for (; i + W <= stop; i += W) {
#pragma omp simd
    for (int l = 0; l < W; ++l) body(i + l, l);
  }
  for (int l = 0; i < stop; ++i, ++l) body(i, l);
}

// A forward block: y[i] = f(i) for i in [start, stop), vectorised, x and y prefetched ahead
template <typename T, typename F>
inline void map_block(int64_t start, int64_t stop, Layout L, const T* x, T* y, F&& f) {
  in_sub_blocks<T>(start, stop, L, [&](int64_t i) { prefetch_read(x + i); prefetch_write(y + i); },
                   [&](int64_t s0, int64_t s1) {
#pragma omp simd
    for (int64_t i = s0; i < s1; ++i) y[i] = f(i);
  });
}

// A backward block: in_lanes(start, stop, body) in sub-blocks, x, g and dx prefetched ahead
template <typename T, typename F>
inline void lanes_block(int64_t start, int64_t stop, Layout L, const T* x, const T* g, T* dx, F&& body) {
  in_sub_blocks<T>(start, stop, L,
                   [&](int64_t i) { prefetch_read(x + i); prefetch_read(g + i); prefetch_write(dx + i); },
                   [&](int64_t s0, int64_t s1) { in_lanes(s0, s1, body); });
}

// out[j] = the sum of lane[j]'s W partial sums (in T, lanes in order), for j < R: one block's partials
template <int R, typename T>
inline void store_lanes(const T (&lane)[R][W], double* out) {
  for (int j = 0; j < R; ++j) {
    T s = 0;
    for (int l = 0; l < W; ++l) s += lane[j][l];
    out[j] = static_cast<double>(s);
  }
}

// acc[j * C + ch(b)] += part[b * R + j] for every block b in order (in double): the blocks' partials from
// store_lanes, added in the same order whatever thread computed them
template <int R>
inline void add_blocks(const double* part, Layout L, double* acc) {
  const int64_t blocks = block_count(L);
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t ch = L.C == 1 ? 0 : b % L.C;
    for (int j = 0; j < R; ++j) acc[j * L.C + ch] += part[b * R + j];
  }
}

// uninitialised room for every block's R partials (each block writes all of its own)
template <int R>
inline std::unique_ptr<double[]> block_partials(Layout L) {
  return std::unique_ptr<double[]>(new double[block_count(L) * R]);
}

// column ch of an (R, C) row-major matrix: coefficient or parameter j of channel ch is out[j]
template <int R, typename T>
inline void column(const T* m, int64_t C, int64_t ch, T (&out)[R]) {
  for (int j = 0; j < R; ++j) out[j] = m[j * C + ch];
}

// RReLU's random code for element i when the feature set has noise, else 0
template <int M, typename T>
inline T noise_code(int64_t i, uint32_t key) {
  if constexpr ((M & bit(NOISE)) != 0) return code_of<T>(static_cast<uint32_t>(i), key);
  return T(0);
}

// acc[j * stride] += g * feature j, for the features the set M sums (zero has no gradient)
template <int M, typename T>
inline void add_feats(T* acc, int64_t stride, T g, const Feats<T>& f) {
  acc[POS * stride] += g * f.pos;
  acc[NEG * stride] += g * f.neg;
  if constexpr ((M & bit(EM1)) != 0) acc[EM1 * stride] += g * f.em1;
  if constexpr ((M & bit(SILU)) != 0) acc[SILU * stride] += g * f.silu;
  if constexpr ((M & bit(MISH)) != 0) acc[MISH * stride] += g * f.mish;
  if constexpr ((M & bit(SIGMOID)) != 0) acc[SIGMOID * stride] += g * f.sig;
  if constexpr ((M & bit(TANH)) != 0) acc[TANH * stride] += g * f.th;
  if constexpr ((M & bit(SIN)) != 0) acc[SIN * stride] += g * f.sn;
  if constexpr ((M & bit(NOISE)) != 0) acc[NOISE * stride] += g * f.noise;
}

// Calls body(first, last, tid) on ranges of the samples n of an (N, C) input (inner == 1), in parallel;
// the loop over channels inside vectorises, each channel with its own coefficients.
template <typename F>
inline void for_each_sample(Layout L, F&& body) {
  MIXACT_PARALLEL_FOR(0, L.rows / L.C, std::max<int64_t>(16, GRAIN / L.C),
                      [&](int64_t b, int64_t e) { body(b, e, MIXACT_THREAD_NUM()); });
}

// acc[j] += part[j] (T partial sums of one thread's samples into its float64 slab)
template <typename T>
inline void add_part(const std::vector<T>& part, double* acc) {
  for (size_t j = 0; j < part.size(); ++j) acc[j] += static_cast<double>(part[j]);
}

template <int M, typename T>
void forward_kernel(const T* x, T* y, const T* coef, Layout L, uint32_t key) {
  if (L.C > 1 && L.inner == 1) {
    for_each_sample(L, [&](int64_t first, int64_t last, int64_t) {
      for (int64_t n = first; n < last; ++n) {
#pragma omp simd
        for (int64_t ch = 0; ch < L.C; ++ch) {
          T c[NF];
          column(coef, L.C, ch, c);
          int64_t i = n * L.C + ch;
          y[i] = forward_one<M, T>(x[i], c, noise_code<M, T>(i, key));
        }
      }
    });
    return;
  }
  for_each_block(L, [&](int64_t start, int64_t stop, int64_t ch, int64_t) {
    T c[NF];
    column(coef, L.C, ch, c);
    map_block(start, stop, L, x, y, [&](int64_t i) { return forward_one<M, T>(x[i], c, noise_code<M, T>(i, key)); });
  });
}

template <int M, typename T>
void backward_kernel(const T* x, const T* g, T* dx, const T* coef, Layout L, uint32_t key, double* sums) {
  // sums: (threads, NF, C) in double, one slab per thread (the (N, C) path), added up by the caller
  const int64_t slab = NF * L.C;
  if (L.C > 1 && L.inner == 1) {
    for_each_sample(L, [&](int64_t first, int64_t last, int64_t tid) {
      std::vector<T> part(slab, T(0));
      for (int64_t n = first; n < last; ++n) {
#pragma omp simd
        for (int64_t ch = 0; ch < L.C; ++ch) {
          T c[NF];
          column(coef, L.C, ch, c);
          int64_t i = n * L.C + ch;
          Feats<T> f;
          dx[i] = g[i] * backward_one<M, T>(x[i], c, noise_code<M, T>(i, key), f);
          add_feats<M>(part.data() + ch, L.C, g[i], f);
        }
      }
      add_part(part, sums + tid * slab);
    });
    return;
  }
  auto part = block_partials<NF>(L);
  for_each_block(L, [&](int64_t start, int64_t stop, int64_t ch, int64_t b) {
    T c[NF];
    column(coef, L.C, ch, c);
    T lane[NF][W] = {};
    lanes_block(start, stop, L, x, g, dx, [&](int64_t i, int l) {
      Feats<T> f;
      dx[i] = g[i] * backward_one<M, T>(x[i], c, noise_code<M, T>(i, key), f);
      add_feats<M>(&lane[0][l], W, g[i], f);
    });
    store_lanes<NF>(lane, part.get() + b * NF);
  });
  add_blocks<NF>(part.get(), L, sums);  // into thread 0's slab
}

// The feature sets compiled as their own loops; any other set runs in the smallest one containing it
// (features outside the set have coefficient 0, so the result is the same, only slower).
constexpr int ADACT_TRAIN = bit(POS) | bit(NEG) | bit(ZERO) | bit(EM1) | bit(SILU) | bit(MISH) | bit(NOISE);
constexpr int ADACT_EVAL = ADACT_TRAIN & ~bit(NOISE);
constexpr int RELU_TANH_SIN = bit(POS) | bit(TANH) | bit(SIN);
constexpr int ALL = (1 << NF) - 1;

template <typename F>
void dispatch(int64_t mask, F&& f) {
  auto fits = [mask](int set) { return (mask & ~static_cast<int64_t>(set)) == 0; };
  if (fits(RELU_TANH_SIN)) f(std::integral_constant<int, RELU_TANH_SIN>{});
  else if (fits(ADACT_EVAL)) f(std::integral_constant<int, ADACT_EVAL>{});
  else if (fits(ADACT_TRAIN)) f(std::integral_constant<int, ADACT_TRAIN>{});
  else f(std::integral_constant<int, ALL>{});
}

}  // namespace mixact
