// In-cache cost of the mixture kernel (mixact_lib/activations/native/mix_core.h), free of torch and Python:
// benchmarks/breakdown.py compiles this with the flags fast_native.py uses and runs it. Each feature set's
// forward and backward run on a buffer of N float32 elements (default 2^16: 256 KiB per array, resident in L2),
// on one thread; the best of R repetitions is printed as nanoseconds per element, one line per pass:
//     <name> <pass> <ns per element>
// Compared with the same passes on a tensor that does not fit in cache, it separates the arithmetic's cost from
// the memory's. A third argument S > 1 rotates through S sets of buffers, one set per repetition, so that each
// pass finds its data out of cache (e.g. `cycles 1605632 60 12`: 64x32x28x28 elements, 12 sets of 6.4 MB arrays).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#define MIXACT_PARALLEL_FOR(begin, end, grain, body) body(begin, end)
#define MIXACT_THREAD_NUM() 0
#include "mix_core.h"

using namespace mixact;

template <int M>
void passes(const char* name, int64_t n, int reps, int sets) {
  std::vector<std::vector<float>> x(sets, std::vector<float>(n)), g(sets, std::vector<float>(n)),
      y(sets, std::vector<float>(n)), dx(sets, std::vector<float>(n));
  std::vector<float> coef(NF, 0.1f);
  std::vector<double> sums(NF, 0.0);
  uint32_t state = 12345;
  for (int s = 0; s < sets; ++s) {
    for (int64_t i = 0; i < n; ++i) {  // inputs spread over [-4, 4), upstream gradients over [-1, 1)
      state = state * 1664525u + 1013904223u;
      x[s][i] = static_cast<float>(state >> 8) / 16777216.0f * 8.0f - 4.0f;
      g[s][i] = x[s][i] / 4.0f;
    }
  }
  const Layout L{1, 1, n};
  double fwd = 1e30, bwd = 1e30;
  for (int r = 0; r < reps; ++r) {
    const int a = r % sets, b = (r + sets / 2) % sets;  // the backward reads another set than the forward wrote
    auto t0 = std::chrono::steady_clock::now();
    forward_kernel<M, float>(x[a].data(), y[a].data(), coef.data(), L, 7u);
    auto t1 = std::chrono::steady_clock::now();
    backward_kernel<M, float>(x[b].data(), g[b].data(), dx[b].data(), coef.data(), L, 7u, sums.data());
    auto t2 = std::chrono::steady_clock::now();
    fwd = std::min(fwd, std::chrono::duration<double>(t1 - t0).count());
    bwd = std::min(bwd, std::chrono::duration<double>(t2 - t1).count());
  }
  std::printf("%s forward %.4f\n%s backward %.4f\n", name, fwd / n * 1e9, name, bwd / n * 1e9);
  if (y[0][1] + dx[0][1] + sums[0] == 12345.678) std::printf("\n");  // keep the results alive
}

int main(int argc, char** argv) {
  const int64_t n = argc > 1 ? std::atoll(argv[1]) : (int64_t(1) << 16);
  const int reps = argc > 2 ? std::atoi(argv[2]) : 200;
  const int sets = argc > 3 ? std::max(1, std::atoi(argv[3])) : 1;
  passes<ADACT_TRAIN>("adact", n, reps, sets);
  passes<ADACT_EVAL>("adact-eval", n, reps, sets);
  passes<RELU_TANH_SIN>("mix", n, reps, sets);
  passes<bit(POS) | bit(NEG)>("piecewise-linear", n, reps, sets);
  return 0;
}
