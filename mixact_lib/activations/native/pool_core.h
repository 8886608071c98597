// 2x2 max-pooling with stride 2 (no padding, no dilation, floor mode) on contiguous (planes, H, W) data, free of
// torch (mix_cpu.cpp binds it). It returns exactly what torch's CPU max_pool2d returns, bit for bit:
//
//   forward   y[oh, ow] = the max of the window x[2oh..2oh+1, 2ow..2ow+1], scanned in torch's order (row by row,
//             left to right) with torch's rule "take v when v > max or v is NaN", starting from -inf. So the
//             first of equal maxima wins, and the last NaN of a window wins. Instead of torch's int64 flat index
//             it stores which of the four (0..3, in scan order) won, as an int32: the width of a float, so that
//             the selects vectorise in the same lanes (a one-byte code kept the loop scalar and 4x slower).
//   backward  dx = 0 everywhere except at each window's winner, where dx = 0 + dy (torch zero-fills dx and adds
//             dy at the winner's index; 0 + (-0) is +0, so the addition is kept, not just a copy). The windows
//             do not overlap, so no element receives two contributions and no sum order arises. Zeroing a plane
//             and then storing each winner beat writing all four elements of every window by select, 4x.
//
// Rows and columns past 2*floor(H/2), 2*floor(W/2) (odd H or W) belong to no window: never read forward, dx = 0.
// The forward is branch-free selects over one output row; `simdlen(8)` asks for 8 lanes, because paper C's rows
// are short (14, 7, 3 and 1 outputs) and 16-lane AVX-512 vectors left a 14-output row entirely to the scalar tail.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "mix_core.h"  // for_each_item

namespace mixact {

struct PoolShape {
  int64_t planes, H, W;  // input (planes, H, W); output (planes, H / 2, W / 2)
  int64_t Ho() const { return H / 2; }
  int64_t Wo() const { return W / 2; }
};

// body(p) for every plane p, handed out by for_each_item (mix_core.h); each plane is written by one task alone.
template <typename F>
inline void for_each_plane(PoolShape S, F&& body) {
  for_each_item(S.planes, S.H * S.W, body);
}

// torch's update rule for one candidate v against the running max m (NaN wins; equal values do not)
template <typename T>
inline bool takes(T v, T m) {
  return (v > m) | (v != v);
}

// y (planes, Ho, Wo); code (planes, Ho, Wo) when STORE_CODE (training), else not touched (evaluation)
template <bool STORE_CODE, typename T>
void maxpool2_forward_kernel(const T* x, T* y, int32_t* code, PoolShape S) {
  const int64_t H = S.H, W = S.W, Ho = S.Ho(), Wo = S.Wo();
  for_each_plane(S, [&](int64_t p) {
    const T* xp = x + p * H * W;
    T* yp = y + p * Ho * Wo;
    int32_t* cp = STORE_CODE ? code + p * Ho * Wo : nullptr;
    for (int64_t oh = 0; oh < Ho; ++oh) {
      const T* r0 = xp + 2 * oh * W;
      const T* r1 = r0 + W;
      T* yr = yp + oh * Wo;
#pragma omp simd simdlen(8)
      for (int64_t ow = 0; ow < Wo; ++ow) {
        // the first candidate against -inf: taken unless it is -inf itself, and then the max is -inf with
        // winner 0 either way, so starting from it is the same
        T m = r0[2 * ow];
        int32_t k = 0;
        const T b = r0[2 * ow + 1], c = r1[2 * ow], d = r1[2 * ow + 1];
        bool t = takes(b, m);
        m = t ? b : m;
        k = t ? 1 : k;
        t = takes(c, m);
        m = t ? c : m;
        k = t ? 2 : k;
        t = takes(d, m);
        m = t ? d : m;
        k = t ? 3 : k;
        yr[ow] = m;
        if constexpr (STORE_CODE) cp[oh * Wo + ow] = k;
      }
    }
  });
}

// dx (planes, H, W) from dy (planes, Ho, Wo) and the forward's code; every element of dx is written
template <typename T>
void maxpool2_backward_kernel(const T* dy, const int32_t* code, T* dx, PoolShape S) {
  const int64_t H = S.H, W = S.W, Ho = S.Ho(), Wo = S.Wo();
  for_each_plane(S, [&](int64_t p) {
    const T* gp = dy + p * Ho * Wo;
    const int32_t* cp = code + p * Ho * Wo;
    T* dp = dx + p * H * W;
    std::fill(dp, dp + H * W, T(0));  // the odd last row and column, in no window, stay 0
    for (int64_t oh = 0; oh < Ho; ++oh)
      for (int64_t ow = 0; ow < Wo; ++ow) {
        const int32_t k = cp[oh * Wo + ow];
        dp[(2 * oh + (k >> 1)) * W + 2 * ow + (k & 1)] = T(0) + gp[oh * Wo + ow];  // as torch: 0 + dy
      }
  });
}

}  // namespace mixact
