// mixact's native CPU kernel: the fused mixture Mix(x) = sum_j c_j * phi_j(x) of fast_mix.py, one pass each way.
//
// Features phi_j, in FEATURES order (fast_mix.py): pos = max(x, 0), neg = min(x, 0), zero (value 0, slope 1 at
// x = 0), em1 = e^x - 1 for x <= 0, silu = x*sigma(x), mish = x*tanh(softplus(x)), sigmoid, tanh, sin,
// noise = k*min(x, 0) with k a random 16-bit code drawn from (seed, element index) by a counter-based hash.
//
// Every smooth feature comes from ONE exponential, t = e^{-|x|} (never overflows):
//   sigma(x)            = 1/(1 + t)              (x >= 0),   t/(1 + t)        (x < 0)
//   tanh(x)             = sign(x) (1 - t^2)/(1 + t^2)
//   tanh(softplus(x))   = (1 + 2t)/(1 + 2t + 2t^2) (x > 0),  n/(n + 2), n = t(t + 2)   (x <= 0)
//   e^x - 1             = t - 1                  (x <= 0)
// Backward recomputes the features from x, returns dx = grad * dMix/dx and, fused into the same pass, the sums
// sum grad * phi_j per channel (the gradients of the coefficients), accumulated per row in T and across rows in
// double. Coefficients are (NF, C): C = 1 (all scalar) or the channels of dim 1 of a contiguous (N, C, inner) x.
#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <vector>

#include "mix_core.h"
#include "single_core.h"
#include "rational_core.h"
#include "pool_core.h"

namespace {
using namespace mixact;

Layout layout_of(const torch::Tensor& x, const torch::Tensor& coef) {
  TORCH_CHECK(x.is_contiguous() && coef.is_contiguous(), "mixact native: x and coef must be contiguous");
  TORCH_CHECK(coef.dim() == 2 && coef.size(0) == NF, "mixact native: coef must be (", NF, ", C)");
  TORCH_CHECK(coef.scalar_type() == x.scalar_type(), "mixact native: coef and x must share a dtype");
  TORCH_CHECK(x.numel() < (int64_t(1) << 32), "mixact native: at most 2^32 elements");
  int64_t C = coef.size(1);
  if (C == 1) return {1, 1, x.numel()};
  TORCH_CHECK(x.dim() >= 2 && x.size(1) == C, "mixact native: per-channel coef needs x of shape (N, C, ...)");
  int64_t inner = x.numel() / (x.size(0) * C);
  return {x.size(0) * C, C, inner};
}

torch::Tensor mix_forward(torch::Tensor x, torch::Tensor coef, int64_t mask, int64_t seed) {
  Layout L = layout_of(x, coef);
  auto y = torch::empty_like(x);
  uint32_t key = key_of(seed);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "mix_forward", [&] {
    dispatch(mask, [&](auto m) {
      forward_kernel<decltype(m)::value, scalar_t>(x.data_ptr<scalar_t>(), y.data_ptr<scalar_t>(),
                                                   coef.data_ptr<scalar_t>(), L, key);
    });
  });
  return y;
}

std::vector<torch::Tensor> mix_backward(torch::Tensor x, torch::Tensor grad, torch::Tensor coef, int64_t mask,
                                        int64_t seed) {
  Layout L = layout_of(x, coef);
  TORCH_CHECK(grad.sizes() == x.sizes() && grad.is_contiguous() && grad.scalar_type() == x.scalar_type(),
              "mixact native: grad must be contiguous and like x");
  auto dx = torch::empty_like(x);  // written even when not wanted: a conditional store would not vectorise
  int64_t threads = at::get_num_threads();
  auto sums = torch::zeros({threads, NF, L.C}, x.options().dtype(torch::kFloat64));
  uint32_t key = key_of(seed);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "mix_backward", [&] {
    dispatch(mask, [&](auto m) {
      backward_kernel<decltype(m)::value, scalar_t>(x.data_ptr<scalar_t>(), grad.data_ptr<scalar_t>(),
                                                    dx.data_ptr<scalar_t>(),
                                                    coef.data_ptr<scalar_t>(), L, key, sums.data_ptr<double>());
    });
  });
  return {dx, sums.sum(0)};
}

Layout single_layout(const torch::Tensor& x, const torch::Tensor& par) {
  TORCH_CHECK(par.dim() == 2 && par.size(0) == 4, "mixact native: single-activation parameters must be (4, C)");
  TORCH_CHECK(x.is_contiguous() && par.is_contiguous() && par.scalar_type() == x.scalar_type(),
              "mixact native: x and parameters must be contiguous and share a dtype");
  int64_t C = par.size(1);
  if (C == 1) return {1, 1, x.numel()};
  TORCH_CHECK(x.dim() >= 2 && x.size(1) == C, "mixact native: per-channel parameters need x of shape (N, C, ...)");
  return {x.size(0) * C, C, x.numel() / (x.size(0) * C)};
}

template <typename F>
void kind_dispatch(int64_t kind, F&& f) {
  switch (kind) {
    case ARELU: f(std::integral_constant<int, ARELU>{}); break;
    case ASIGMOID: f(std::integral_constant<int, ASIGMOID>{}); break;
    case ATANH: f(std::integral_constant<int, ATANH>{}); break;
    case PELU: f(std::integral_constant<int, PELU>{}); break;
    case FRELU: f(std::integral_constant<int, FRELU>{}); break;
    case SWISH: f(std::integral_constant<int, SWISH>{}); break;
    case PRELU: f(std::integral_constant<int, PRELU>{}); break;
    case ACONC: f(std::integral_constant<int, ACONC>{}); break;
    default: TORCH_CHECK(false, "mixact native: unknown single-activation kind ", kind);
  }
}

torch::Tensor single_forward_op(torch::Tensor x, torch::Tensor par, int64_t kind) {
  Layout L = single_layout(x, par);
  auto y = torch::empty_like(x);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "single_forward", [&] {
    kind_dispatch(kind, [&](auto k) {
      single_forward_kernel<decltype(k)::value, scalar_t>(x.data_ptr<scalar_t>(), y.data_ptr<scalar_t>(),
                                                          par.data_ptr<scalar_t>(), L);
    });
  });
  return y;
}

std::vector<torch::Tensor> single_backward_op(torch::Tensor x, torch::Tensor grad, torch::Tensor par, int64_t kind) {
  Layout L = single_layout(x, par);
  TORCH_CHECK(grad.sizes() == x.sizes() && grad.is_contiguous() && grad.scalar_type() == x.scalar_type(),
              "mixact native: grad must be contiguous and like x");
  auto dx = torch::empty_like(x);
  auto sums = torch::zeros({at::get_num_threads(), 4, L.C}, x.options().dtype(torch::kFloat64));
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "single_backward", [&] {
    kind_dispatch(kind, [&](auto k) {
      single_backward_kernel<decltype(k)::value, scalar_t>(x.data_ptr<scalar_t>(), grad.data_ptr<scalar_t>(),
                                                           dx.data_ptr<scalar_t>(), par.data_ptr<scalar_t>(), L,
                                                           sums.data_ptr<double>());
    });
  });
  return {dx, sums.sum(0)};
}

Layout rational_layout(const torch::Tensor& x, const torch::Tensor& par, int64_t m, int64_t n) {
  TORCH_CHECK(par.dim() == 2 && par.size(0) == m + 1 + n, "mixact native: rational coefficients must be (m + 1 + n, C)");
  TORCH_CHECK(x.is_contiguous() && par.is_contiguous() && par.scalar_type() == x.scalar_type(),
              "mixact native: x and coefficients must be contiguous and share a dtype");
  TORCH_CHECK(x.numel() < (int64_t(1) << 32), "mixact native: at most 2^32 elements");
  int64_t C = par.size(1);
  if (C == 1) return {1, 1, x.numel()};
  TORCH_CHECK(x.dim() >= 2 && x.size(1) == C, "mixact native: per-channel coefficients need x of shape (N, C, ...)");
  return {x.size(0) * C, C, x.numel() / (x.size(0) * C)};
}

// y = P(x)/Q(x) in version A (0) or B (1) (rational_core.h); an undefined tensor for degrees without a kernel
torch::Tensor rational_forward_op(torch::Tensor x, torch::Tensor par, int64_t m, int64_t n, int64_t version) {
  Layout L = rational_layout(x, par, m, n);
  auto y = torch::empty_like(x);
  bool done = false;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "rational_forward", [&] {
    done = rational_dispatch(m, n, version, [&](auto M, auto N, auto V) {
      rational_forward_kernel<decltype(M)::value, decltype(N)::value, decltype(V)::value, scalar_t>(
          x.data_ptr<scalar_t>(), y.data_ptr<scalar_t>(), par.data_ptr<scalar_t>(), L);
    });
  });
  return done ? y : torch::Tensor();
}

std::vector<torch::Tensor> rational_backward_op(torch::Tensor x, torch::Tensor grad, torch::Tensor par, int64_t m,
                                                int64_t n, int64_t version) {
  Layout L = rational_layout(x, par, m, n);
  TORCH_CHECK(grad.sizes() == x.sizes() && grad.is_contiguous() && grad.scalar_type() == x.scalar_type(),
              "mixact native: grad must be contiguous and like x");
  auto dx = torch::empty_like(x);
  auto sums = torch::zeros({at::get_num_threads(), m + 1 + n, L.C}, x.options().dtype(torch::kFloat64));
  bool done = false;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "rational_backward", [&] {
    done = rational_dispatch(m, n, version, [&](auto M, auto N, auto V) {
      rational_backward_kernel<decltype(M)::value, decltype(N)::value, decltype(V)::value, scalar_t>(
          x.data_ptr<scalar_t>(), grad.data_ptr<scalar_t>(), dx.data_ptr<scalar_t>(), par.data_ptr<scalar_t>(), L,
          sums.data_ptr<double>());
    });
  });
  if (!done) return {};
  return {dx, sums.sum(0)};
}

PoolShape pool_shape(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() >= 2 && x.is_contiguous(), "mixact native: max-pool needs a contiguous (..., H, W) input");
  const int64_t H = x.size(-2), W = x.size(-1);
  TORCH_CHECK(H >= 2 && W >= 2, "mixact native: max-pool 2x2 needs H, W >= 2, got ", H, "x", W);
  return {x.numel() / (H * W), H, W};
}

std::vector<int64_t> pooled_sizes(const torch::Tensor& x) {
  auto sizes = x.sizes().vec();
  sizes[sizes.size() - 2] /= 2;
  sizes[sizes.size() - 1] /= 2;
  return sizes;
}

// y and, when code is wanted (training), which of the four won each window (int32, 0..3 in scan order)
std::vector<torch::Tensor> maxpool2_forward(torch::Tensor x, bool want_code) {
  PoolShape S = pool_shape(x);
  auto y = torch::empty(pooled_sizes(x), x.options());
  auto code = torch::empty(want_code ? pooled_sizes(x) : std::vector<int64_t>{0}, x.options().dtype(torch::kInt32));
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "maxpool2_forward", [&] {
    if (want_code)
      maxpool2_forward_kernel<true, scalar_t>(x.data_ptr<scalar_t>(), y.data_ptr<scalar_t>(),
                                              code.data_ptr<int32_t>(), S);
    else
      maxpool2_forward_kernel<false, scalar_t>(x.data_ptr<scalar_t>(), y.data_ptr<scalar_t>(), nullptr, S);
  });
  return {y, code};
}

torch::Tensor maxpool2_backward(torch::Tensor grad, torch::Tensor code, std::vector<int64_t> input_sizes) {
  auto dx = torch::empty(input_sizes, grad.options());
  PoolShape S = pool_shape(dx);
  TORCH_CHECK(grad.is_contiguous() && code.is_contiguous() && grad.sizes() == code.sizes() &&
                  grad.sizes().vec() == pooled_sizes(dx) && code.scalar_type() == torch::kInt32,
              "mixact native: max-pool backward needs contiguous grad and int32 code of the pooled shape");
  AT_DISPATCH_FLOATING_TYPES(grad.scalar_type(), "maxpool2_backward", [&] {
    maxpool2_backward_kernel<scalar_t>(grad.data_ptr<scalar_t>(), code.data_ptr<int32_t>(), dx.data_ptr<scalar_t>(), S);
  });
  return dx;
}

torch::Tensor rrelu_codes(int64_t n, int64_t seed) {
  auto out = torch::empty({n}, torch::kInt16);
  uint32_t key = key_of(seed);
  int16_t* o = out.data_ptr<int16_t>();
  for (int64_t i = 0; i < n; ++i) o[i] = code_of<int16_t>(static_cast<uint32_t>(i), key);
  return out;
}

// How many threads the kernels' parallel loop (MIXACT_PARALLEL_FOR, as compiled into this library) calls for n
// items (for tests: a build without OpenMP runs every loop on one thread whatever torch.set_num_threads says).
// Each thread records itself on entry; for_each_block then hands out the work, so how much of it a thread takes
// depends on when it gets a core, but whether it takes part does not.
int64_t parallel_threads(int64_t n) {
  std::vector<char> seen(at::get_num_threads(), 0);
  MIXACT_PARALLEL_FOR(0, n, 1, [&](int64_t, int64_t) { seen[at::get_thread_num()] = 1; });
  int64_t used = 0;
  for (char s : seen) used += s;
  return used;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("mix_forward", &mix_forward, "fused mixture forward (x, coef (NF, C), feature mask, seed)");
  m.def("mix_backward", &mix_backward, "fused mixture backward: dx and per-channel coefficient sums (double)");
  m.def("single_forward", &single_forward_op, "a single learnable activation's forward (x, params (4, C), kind)");
  m.def("single_backward", &single_backward_op, "its backward: dx and the parameters' gradients (4, C), double");
  m.def("rational_forward", &rational_forward_op, "safe rational forward (x, coefficients (m+1+n, C), m, n, version 0 = A / 1 = B)");
  m.def("rational_backward", &rational_backward_op,
        "its backward: dx and the coefficients' gradients (m+1+n, C), double; empty for uncompiled degrees");
  m.def("maxpool2_forward", &maxpool2_forward, "2x2 stride-2 max-pool as torch's CPU kernel: y and (want_code) the winners");
  m.def("maxpool2_backward", &maxpool2_backward, "its backward: dx from dy, the winners' code and the input's sizes");
  m.def("parallel_threads", &parallel_threads, "threads the kernels' parallel loop calls for n items");
  m.def("rrelu_codes", &rrelu_codes, "the random codes of elements 0..n-1 for a seed (for tests)");
}
