// Memory-bound per-token kernels of a decoder layer, bf16, 16-byte accesses.
//
//   rmsnorm            y = x * rsqrt(mean(x^2) + eps) * w             (one block per token)
//   fused_add_rmsnorm  r = x + residual; residual = r; x = rmsnorm(r) * w   (vLLM's fused op)
//   rotary             in-place NeoX rotary embedding of q [T, heads*128] and
//                      k [T, 8*128] from a cos/sin cache indexed by position
//                      (heads = width/128; kv heads = 8, as Llama-3 8B/70B)
//   silu_mul           y[t, j] = silu(x[t, j]) * x[t, I + j], x is [T, 2I], width = I
//   add                y = a + b
//
// bytes counts every byte read and written once (including the norm weight,
// cos/sin rows and positions).  mode=cold rotates over a pool of buffer sets
// (>= 2 GiB, up to 8192 sets) so that inputs are not L2-resident; mode=hot
// reuses one set (inputs L2-resident when they fit, as when the previous
// kernel just wrote them).
#include "common.cuh"

namespace {

constexpr int kThreads = 256;
constexpr int kMaxVec = 4;  // 256 threads * 4 vectors * 8 elements = 8192 wide
constexpr float kEps = 1e-5f;
constexpr int kHeadDim = 128;
constexpr int kKvHeads = 8;
constexpr int kMaxPos = 8192;

__device__ inline void unpack(const uint4& v, float (&f)[8]) {
  const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&v);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    float2 t = __bfloat1622float2(h[i]);
    f[2 * i] = t.x;
    f[2 * i + 1] = t.y;
  }
}

__device__ inline uint4 pack(const float (&f)[8]) {
  uint4 v;
  __nv_bfloat162* h = reinterpret_cast<__nv_bfloat162*>(&v);
#pragma unroll
  for (int i = 0; i < 4; ++i) h[i] = __floats2bfloat162_rn(f[2 * i], f[2 * i + 1]);
  return v;
}

__device__ inline float block_sum(float v) {
  __shared__ float warp_sums[32];
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  int nw = (blockDim.x + 31) >> 5;
  float t = (threadIdx.x < nw) ? warp_sums[threadIdx.x] : 0.f;
  if (warp == 0) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) t += __shfl_xor_sync(0xffffffffu, t, o);
    if (lane == 0) warp_sums[0] = t;
  }
  __syncthreads();
  return warp_sums[0];
}

// kFused = false: out = rmsnorm(x) * w
// kFused = true:  r = x + res; res = r; x = rmsnorm(r) * w   (out == x)
template <bool kFused>
__global__ void __launch_bounds__(kThreads) rmsnorm_kernel(uint4* __restrict__ x,
                                                           uint4* __restrict__ res,
                                                           uint4* __restrict__ out,
                                                           const uint4* __restrict__ w,
                                                           int width) {
  const int nvec = width / 8;
  const size_t row = static_cast<size_t>(blockIdx.x) * nvec;
  float f[kMaxVec][8];
  float ss = 0.f;
#pragma unroll
  for (int j = 0; j < kMaxVec; ++j) {
    int v = threadIdx.x + j * kThreads;
    if (v < nvec) {
      unpack(x[row + v], f[j]);
      if (kFused) {
        float r[8];
        unpack(res[row + v], r);
#pragma unroll
        for (int e = 0; e < 8; ++e) f[j][e] += r[e];
        uint4 packed = pack(f[j]);
        res[row + v] = packed;
        unpack(packed, f[j]);  // norm of the bf16-rounded sum, as stored
      }
#pragma unroll
      for (int e = 0; e < 8; ++e) ss += f[j][e] * f[j][e];
    }
  }
  float inv = rsqrtf(block_sum(ss) / width + kEps);
#pragma unroll
  for (int j = 0; j < kMaxVec; ++j) {
    int v = threadIdx.x + j * kThreads;
    if (v < nvec) {
      float wf[8];
      unpack(w[v], wf);
#pragma unroll
      for (int e = 0; e < 8; ++e) f[j][e] = f[j][e] * inv * wf[e];
      (kFused ? x : out)[row + v] = pack(f[j]);
    }
  }
}

// One block per token; thread i handles 8 rotary pairs of one head.
__global__ void rotary_kernel(uint4* __restrict__ q, uint4* __restrict__ k,
                              const int64_t* __restrict__ pos, const uint4* __restrict__ cos_sin,
                              int q_heads, int kv_heads) {
  constexpr int kHalfVec = kHeadDim / 2 / 8;  // 8 vectors per half head
  const int t = blockIdx.x;
  const int head = threadIdx.x / kHalfVec;
  const int c = threadIdx.x % kHalfVec;
  if (head >= q_heads + kv_heads) return;
  const int64_t p = pos[t];
  const uint4* cs = cos_sin + p * (kHeadDim / 8);  // [cos(64) | sin(64)]
  float cf[8], sf[8];
  unpack(cs[c], cf);
  unpack(cs[kHalfVec + c], sf);
  uint4* base = head < q_heads
                    ? q + (static_cast<size_t>(t) * q_heads + head) * (kHeadDim / 8)
                    : k + (static_cast<size_t>(t) * kv_heads + (head - q_heads)) * (kHeadDim / 8);
  float x1[8], x2[8], y1[8], y2[8];
  unpack(base[c], x1);
  unpack(base[kHalfVec + c], x2);
#pragma unroll
  for (int e = 0; e < 8; ++e) {
    y1[e] = x1[e] * cf[e] - x2[e] * sf[e];
    y2[e] = x2[e] * cf[e] + x1[e] * sf[e];
  }
  base[c] = pack(y1);
  base[kHalfVec + c] = pack(y2);
}

// grid.x covers the I/8 vectors of a row, grid.y the tokens (no integer
// division in the kernel; a block-row per token measured faster than
// grid-striding over tokens).
__global__ void silu_mul_kernel(const uint4* __restrict__ in, uint4* __restrict__ out,
                                int64_t tokens, int inter) {
  const int64_t nv = inter / 8;
  const int64_t j = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (j >= nv) return;
  for (int64_t t = blockIdx.y; t < tokens; t += gridDim.y) {
    float a[8], b[8];
    unpack(in[t * 2 * nv + j], a);
    unpack(in[t * 2 * nv + nv + j], b);
#pragma unroll
    for (int e = 0; e < 8; ++e) a[e] = a[e] / (1.f + __expf(-a[e])) * b[e];
    out[t * nv + j] = pack(a);
  }
}

__global__ void add_kernel(const uint4* __restrict__ a, const uint4* __restrict__ b,
                           uint4* __restrict__ out, int64_t nvec) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < nvec;
       i += stride) {
    float x[8], y[8];
    unpack(a[i], x);
    unpack(b[i], y);
#pragma unroll
    for (int e = 0; e < 8; ++e) x[e] += y[e];
    out[i] = pack(x);
  }
}

__global__ void fill_positions_kernel(int64_t* p, size_t n, uint64_t seed) {
  size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n; i += stride)
    p[i] = bench::hash32(seed * 7919 + i) % kMaxPos;
}

// Real cos/sin table (Llama-3 rope theta 500000) so that repeated in-place
// application keeps the values' magnitude.
__global__ void fill_cos_sin_kernel(__nv_bfloat16* cs) {
  int p = blockIdx.x, i = threadIdx.x;  // i < kHeadDim / 2
  float inv_freq = powf(500000.f, -2.f * i / kHeadDim);
  float a = p * inv_freq;
  cs[p * kHeadDim + i] = __float2bfloat16(cosf(a));
  cs[p * kHeadDim + kHeadDim / 2 + i] = __float2bfloat16(sinf(a));
}

enum Op { kRms, kFusedRms, kRotary, kSiluMul, kAdd };
const char* kOpNames[] = {"rmsnorm", "fused_add_rmsnorm", "rotary", "silu_mul", "add"};

// Tensors (bf16 element counts) of one buffer set.
struct Layout {
  std::vector<size_t> elems;  // each tensor, in bf16 elements
  size_t bytes_moved = 0;
};

Layout layout(Op op, int64_t T, int64_t W) {
  Layout l;
  switch (op) {
    case kRms:  // x, out
      l.elems = {size_t(T * W), size_t(T * W)};
      l.bytes_moved = 2 * (2 * T * W + W);
      break;
    case kFusedRms:  // x, residual
      l.elems = {size_t(T * W), size_t(T * W)};
      l.bytes_moved = 2 * (4 * T * W + W);
      break;
    case kRotary: {  // q, k (+ positions: 4 bf16 slots per int64)
      int64_t qh = W / kHeadDim;
      l.elems = {size_t(T * qh * kHeadDim), size_t(T * kKvHeads * kHeadDim), size_t(T * 4)};
      l.bytes_moved = 2 * 2 * T * (qh + kKvHeads) * kHeadDim + 2 * T * kHeadDim + 8 * T;
      break;
    }
    case kSiluMul:  // in [T, 2W], out [T, W]
      l.elems = {size_t(2 * T * W), size_t(T * W)};
      l.bytes_moved = 2 * 3 * T * W;
      break;
    case kAdd:  // a, b, out
      l.elems = {size_t(T * W), size_t(T * W), size_t(T * W)};
      l.bytes_moved = 2 * 3 * T * W;
      break;
  }
  return l;
}

size_t align256(size_t b) { return (b + 255) / 256 * 256; }

size_t set_bytes(const Layout& l) {
  size_t s = 0;
  for (size_t e : l.elems) s += align256(e * 2);
  return s;
}

void launch_op(Op op, cudaStream_t s, char* set, const Layout& l, int64_t T, int64_t W,
               const uint4* norm_w, const uint4* cos_sin, int max_blocks) {
  std::vector<char*> p;
  size_t off = 0;
  for (size_t e : l.elems) {
    p.push_back(set + off);
    off += align256(e * 2);
  }
  switch (op) {
    case kRms:
      rmsnorm_kernel<false><<<T, kThreads, 0, s>>>(reinterpret_cast<uint4*>(p[0]), nullptr,
                                                   reinterpret_cast<uint4*>(p[1]), norm_w, W);
      break;
    case kFusedRms:
      rmsnorm_kernel<true><<<T, kThreads, 0, s>>>(reinterpret_cast<uint4*>(p[0]),
                                                  reinterpret_cast<uint4*>(p[1]), nullptr, norm_w, W);
      break;
    case kRotary: {
      int qh = static_cast<int>(W / kHeadDim);
      int threads = (qh + kKvHeads) * (kHeadDim / 16);
      threads = (threads + 31) / 32 * 32;
      rotary_kernel<<<T, threads, 0, s>>>(reinterpret_cast<uint4*>(p[0]), reinterpret_cast<uint4*>(p[1]),
                                          reinterpret_cast<const int64_t*>(p[2]), cos_sin, qh, kKvHeads);
      break;
    }
    case kSiluMul: {
      dim3 grid(static_cast<unsigned>((W / 8 + 127) / 128),
                static_cast<unsigned>(std::min<int64_t>(T, 65535)));
      silu_mul_kernel<<<grid, 128, 0, s>>>(reinterpret_cast<const uint4*>(p[0]),
                                           reinterpret_cast<uint4*>(p[1]), T, static_cast<int>(W));
      break;
    }
    case kAdd: {
      int64_t nvec = T * W / 8;
      int blocks = static_cast<int>(std::min<int64_t>((nvec + 255) / 256, max_blocks));
      add_kernel<<<blocks, 256, 0, s>>>(reinterpret_cast<const uint4*>(p[0]),
                                        reinterpret_cast<const uint4*>(p[1]),
                                        reinterpret_cast<uint4*>(p[2]), nvec);
      break;
    }
  }
  CUDA_CHECK_LAUNCH();
}

// ------------------------------------------------------------ self-check --

float bf(uint16_t h) {
  uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

std::vector<float> to_host(const char* d, size_t n) {
  std::vector<uint16_t> h(n);
  CUDA_CHECK(cudaMemcpy(h.data(), d, n * 2, cudaMemcpyDeviceToHost));
  std::vector<float> f(n);
  for (size_t i = 0; i < n; ++i) f[i] = bf(h[i]);
  return f;
}

double rel_err(const std::vector<float>& a, const std::vector<double>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    double d = a[i] - ref[i];
    num += d * d;
    den += ref[i] * ref[i];
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

// Runs each op once on fresh random data (T=5) and compares with a double
// reference on the host.  Returns false on mismatch.
bool self_check(char* pool, const uint4* norm_w, const uint4* cos_sin, int max_blocks) {
  const int64_t T = 5;
  bool ok = true;
  cudaStream_t s = nullptr;
  std::vector<float> w = to_host(reinterpret_cast<const char*>(norm_w), 8192);
  std::vector<float> cs = to_host(reinterpret_cast<const char*>(cos_sin), size_t(kMaxPos) * kHeadDim);
  for (int opi = 0; opi < 5; ++opi) {
    Op op = static_cast<Op>(opi);
    int64_t W = op == kSiluMul ? 14336 : 4096;
    Layout l = layout(op, T, W);
    std::vector<char*> p;
    size_t off = 0;
    for (size_t e : l.elems) {
      p.push_back(pool + off);
      off += align256(e * 2);
    }
    bench::fill_bf16(p[0], l.elems[0], 1000 + opi, 2.0f);
    bench::fill_bf16(p[1], l.elems[1], 2000 + opi, 2.0f);
    if (op == kRotary) {
      fill_positions_kernel<<<1, 64>>>(reinterpret_cast<int64_t*>(p[2]), T, 3);
      CUDA_CHECK_LAUNCH();
    }
    CUDA_CHECK(cudaDeviceSynchronize());
    std::vector<std::vector<float>> in;
    for (size_t i = 0; i < l.elems.size(); ++i)
      if (!(op == kRotary && i == 2)) in.push_back(to_host(p[i], l.elems[i]));
    std::vector<int64_t> pos(T);
    if (op == kRotary)
      CUDA_CHECK(cudaMemcpy(pos.data(), p[2], T * 8, cudaMemcpyDeviceToHost));
    launch_op(op, s, pool, l, T, W, norm_w, cos_sin, max_blocks);
    CUDA_CHECK(cudaDeviceSynchronize());
    double err = 0;
    if (op == kRms || op == kFusedRms) {
      std::vector<double> ref(T * W), ref_res(T * W);
      for (int64_t t = 0; t < T; ++t) {
        double ss = 0;
        std::vector<double> r(W);
        for (int64_t j = 0; j < W; ++j) {
          double v = in[0][t * W + j];
          if (op == kFusedRms) v += in[1][t * W + j];
          r[j] = v;
          ref_res[t * W + j] = v;
          ss += v * v;
        }
        double inv = 1.0 / std::sqrt(ss / W + kEps);
        for (int64_t j = 0; j < W; ++j) ref[t * W + j] = r[j] * inv * w[j];
      }
      std::vector<float> y = to_host(op == kRms ? p[1] : p[0], T * W);
      err = rel_err(y, ref);
      if (op == kFusedRms) err = std::max(err, rel_err(to_host(p[1], T * W), ref_res));
    } else if (op == kRotary) {
      int64_t qh = W / kHeadDim;
      std::vector<float> yq = to_host(p[0], l.elems[0]), yk = to_host(p[1], l.elems[1]);
      std::vector<double> rq(l.elems[0]), rk(l.elems[1]);
      for (int src = 0; src < 2; ++src) {
        int64_t nh = src == 0 ? qh : kKvHeads;
        auto& x = in[src];
        auto& r = src == 0 ? rq : rk;
        for (int64_t t = 0; t < T; ++t)
          for (int64_t h = 0; h < nh; ++h)
            for (int e = 0; e < kHeadDim / 2; ++e) {
              size_t b = (t * nh + h) * kHeadDim;
              double c = cs[pos[t] * kHeadDim + e], sn = cs[pos[t] * kHeadDim + kHeadDim / 2 + e];
              double x1 = x[b + e], x2 = x[b + kHeadDim / 2 + e];
              r[b + e] = x1 * c - x2 * sn;
              r[b + kHeadDim / 2 + e] = x2 * c + x1 * sn;
            }
      }
      err = std::max(rel_err(yq, rq), rel_err(yk, rk));
    } else if (op == kSiluMul) {
      std::vector<double> ref(T * W);
      for (int64_t t = 0; t < T; ++t)
        for (int64_t j = 0; j < W; ++j) {
          double a = in[0][t * 2 * W + j], b = in[0][t * 2 * W + W + j];
          ref[t * W + j] = a / (1 + std::exp(-a)) * b;
        }
      err = rel_err(to_host(p[1], T * W), ref);
    } else {
      std::vector<double> ref(T * W);
      for (int64_t i = 0; i < T * W; ++i) ref[i] = double(in[0][i]) + in[1][i];
      err = rel_err(to_host(p[2], T * W), ref);
    }
    bool good = err < 1e-2 && std::isfinite(err);
    std::printf("self-check %-18s relative error %.2e %s\n", kOpNames[op], err, good ? "ok" : "FAILED");
    ok = ok && good;
  }
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  bench::Args args(argc, argv);
  std::string out = args.get("--out", "elementwise.csv");
  bench::DeviceMeta meta = bench::query_device(std::stoi(args.get("--device", "0")));
  const int max_blocks = meta.sms * 8;
  const size_t MiB = size_t(1) << 20;
  const size_t pool_bytes = 2048 * MiB;

  char* pool = nullptr;
  uint4 *norm_w = nullptr, *cos_sin = nullptr;
  CUDA_CHECK(cudaMalloc(&pool, pool_bytes));
  CUDA_CHECK(cudaMalloc(&norm_w, 8192 * 2));
  CUDA_CHECK(cudaMalloc(&cos_sin, size_t(kMaxPos) * kHeadDim * 2));
  bench::fill_bf16(norm_w, 8192, 7, 1.0f);
  fill_cos_sin_kernel<<<kMaxPos, kHeadDim / 2>>>(reinterpret_cast<__nv_bfloat16*>(cos_sin));
  CUDA_CHECK_LAUNCH();
  CUDA_CHECK(cudaDeviceSynchronize());

  if (!self_check(pool, norm_w, cos_sin, max_blocks)) return 3;

  // Random contents everywhere (values in [-2, 2]); positions are written
  // into the rotary sets below.
  bench::fill_bf16(pool, pool_bytes / 2, 9, 2.0f);
  CUDA_CHECK(cudaDeviceSynchronize());

  cudaStream_t s;
  CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  bench::Csv csv(out, meta, "op,mode,tokens,width,bytes,nbuf,reps,time_us,p10_us,p90_us,gbps");
  std::printf("%-18s %-5s %6s %6s %10s %8s\n", "op", "mode", "tokens", "width", "time_us", "GB/s");

  std::vector<int64_t> tokens;
  for (int64_t t = 1; t <= 16384; t *= 2) tokens.push_back(t);
  struct Job {
    Op op;
    int64_t width;
  };
  std::vector<Job> jobs = {{kRms, 4096},      {kRms, 8192},      {kFusedRms, 4096},
                           {kFusedRms, 8192}, {kRotary, 4096},   {kRotary, 8192},
                           {kSiluMul, 14336}, {kSiluMul, 28672}, {kAdd, 4096},
                           {kAdd, 8192}};
  for (const Job& job : jobs) {
    for (int64_t T : tokens) {
      Layout l = layout(job.op, T, job.width);
      size_t sb = set_bytes(l);
      if (sb > pool_bytes) continue;
      size_t max_sets = std::clamp<size_t>(pool_bytes / sb, 1, 8192);
      if (job.op == kRotary) {
        // Valid positions in every set that may be used.
        for (size_t i = 0; i < max_sets; ++i) {
          char* pp = pool + i * sb + align256(l.elems[0] * 2) + align256(l.elems[1] * 2);
          fill_positions_kernel<<<bench::fill_grid(T), 256, 0, s>>>(reinterpret_cast<int64_t*>(pp), T, i);
        }
        CUDA_CHECK_LAUNCH();
        CUDA_CHECK(cudaStreamSynchronize(s));
      }
      for (const char* mode : {"cold", "hot"}) {
        bool hot = mode[0] == 'h';
        if (hot && sb > static_cast<size_t>(2) * meta.l2_bytes) continue;  // same as cold
        size_t nbuf = hot ? 1 : max_sets;
        auto launch = [&](int r) {
          char* set = pool + (static_cast<size_t>(r) % nbuf) * sb;
          launch_op(job.op, s, set, l, T, job.width, norm_w, cos_sin, max_blocks);
        };
        double est_us = l.bytes_moved / 2.0e6 + 3.0;
        int reps = bench::reps_for(est_us, 15.0, 20, 300);
        bench::Stats st = bench::time_events(s, launch, 3, reps, 1000.0);
        double gbps = l.bytes_moved / (st.median_us * 1e3);
        csv.row(std::string(kOpNames[job.op]) + "," + mode + "," + std::to_string(T) + "," +
                std::to_string(job.width) + "," + std::to_string(l.bytes_moved) + "," +
                std::to_string(nbuf) + "," + std::to_string(st.reps) + "," +
                bench::fmt(st.median_us) + "," + bench::fmt(st.p10_us) + "," +
                bench::fmt(st.p90_us) + "," + bench::fmt(gbps, 1));
        if (T == 1 || T == 64 || T == 1024 || T == 16384)
          std::printf("%-18s %-5s %6lld %6lld %10.2f %8.1f\n", kOpNames[job.op], mode,
                      (long long)T, (long long)job.width, st.median_us, gbps);
      }
    }
  }
  CUDA_CHECK(cudaStreamSynchronize(s));
  CUDA_CHECK(cudaGetLastError());
  CUDA_CHECK(cudaFree(pool));
  CUDA_CHECK(cudaFree(norm_w));
  CUDA_CHECK(cudaFree(cos_sin));
  return 0;
}
