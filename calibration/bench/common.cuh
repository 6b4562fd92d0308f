// Shared helpers for the calibration microbenchmarks.
//
// Every benchmark writes a CSV whose first columns are the run metadata
// (see meta_header()), repeated on every row, so files can be concatenated
// and filtered without a side channel.  See calibration/README.md.
#pragma once

#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <cuda_fp8.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#define CUDA_CHECK(expr)                                                           \
  do {                                                                             \
    cudaError_t err__ = (expr);                                                    \
    if (err__ != cudaSuccess) {                                                    \
      std::fprintf(stderr, "CUDA error %s (%d) at %s:%d: %s\n",                    \
                   cudaGetErrorName(err__), static_cast<int>(err__), __FILE__,     \
                   __LINE__, #expr);                                               \
      std::exit(2);                                                                \
    }                                                                              \
  } while (0)

// Check the launch itself and (cheaply) any asynchronous error seen so far.
#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())

namespace bench {

// ---------------------------------------------------------------- metadata --

inline std::string sanitize(std::string s) {
  for (char& c : s) {
    if (c == ',' || c == '\n' || c == '\r' || c == '"') c = ' ';
  }
  while (!s.empty() && s.back() == ' ') s.pop_back();
  while (!s.empty() && s.front() == ' ') s.erase(s.begin());
  return s;
}

inline std::string utc_now_iso() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// NVIDIA driver version string ("580.159.04").  Preference: BENCH_DRIVER
// (run_all.sh exports it from nvidia-smi), then /proc/driver/nvidia/version,
// then the CUDA driver API version.
inline std::string driver_version_string() {
  if (const char* e = std::getenv("BENCH_DRIVER"); e && *e) return sanitize(e);
  std::ifstream f("/proc/driver/nvidia/version");
  std::string line;
  if (f && std::getline(f, line)) {
    // "NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.159.04  ..."
    auto pos = line.find("Kernel Module");
    if (pos != std::string::npos) {
      std::istringstream is(line.substr(pos + 13));
      std::string v;
      if (is >> v) return sanitize(v);
    }
  }
  int dv = 0;
  cudaDriverGetVersion(&dv);
  return "cuda-driver-api-" + std::to_string(dv);
}

inline std::string cuda_version_string(int v) {
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}

struct DeviceMeta {
  int device = 0;
  std::string gpu;
  std::string cc;
  int sms = 0;
  long long l2_bytes = 0;
  long long mem_bytes = 0;
  std::string driver;
  std::string cuda_runtime;
  std::string cuda_driver_api;
  int sm_clock_mhz = 0;   // peak SM clock as reported by the CUDA runtime
  int mem_clock_mhz = 0;  // peak memory clock as reported by the CUDA runtime
  int mem_bus_bits = 0;
  std::string date_utc;
  cudaDeviceProp prop{};
};

inline DeviceMeta query_device(int device = 0) {
  DeviceMeta m;
  m.device = device;
  CUDA_CHECK(cudaSetDevice(device));
  CUDA_CHECK(cudaGetDeviceProperties(&m.prop, device));
  m.gpu = sanitize(m.prop.name);
  m.cc = std::to_string(m.prop.major) + "." + std::to_string(m.prop.minor);
  m.sms = m.prop.multiProcessorCount;
  m.l2_bytes = m.prop.l2CacheSize;
  m.mem_bytes = static_cast<long long>(m.prop.totalGlobalMem);
  int v = 0;
  CUDA_CHECK(cudaRuntimeGetVersion(&v));
  m.cuda_runtime = cuda_version_string(v);
  CUDA_CHECK(cudaDriverGetVersion(&v));
  m.cuda_driver_api = cuda_version_string(v);
  m.driver = driver_version_string();
  int khz = 0;
  if (cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, device) == cudaSuccess)
    m.sm_clock_mhz = khz / 1000;
  khz = 0;
  if (cudaDeviceGetAttribute(&khz, cudaDevAttrMemoryClockRate, device) == cudaSuccess)
    m.mem_clock_mhz = khz / 1000;
  int bits = 0;
  if (cudaDeviceGetAttribute(&bits, cudaDevAttrGlobalMemoryBusWidth, device) == cudaSuccess)
    m.mem_bus_bits = bits;
  cudaGetLastError();  // clear any attribute-query error
  m.date_utc = utc_now_iso();
  return m;
}

inline const char* meta_header() {
  return "gpu,cc,sms,l2_bytes,mem_bytes,driver,cuda_runtime,cuda_driver_api,"
         "sm_clock_mhz,mem_clock_mhz,date_utc";
}

inline std::string meta_values(const DeviceMeta& m) {
  std::ostringstream os;
  os << m.gpu << ',' << m.cc << ',' << m.sms << ',' << m.l2_bytes << ','
     << m.mem_bytes << ',' << m.driver << ',' << m.cuda_runtime << ','
     << m.cuda_driver_api << ',' << m.sm_clock_mhz << ',' << m.mem_clock_mhz
     << ',' << m.date_utc;
  return os.str();
}

// CSV writer: header once, one flushed line per row (a killed run keeps
// everything measured so far).
class Csv {
 public:
  Csv(const std::string& path, const DeviceMeta& m, const std::string& cols)
      : meta_(meta_values(m)) {
    f_ = std::fopen(path.c_str(), "w");
    if (!f_) {
      std::fprintf(stderr, "cannot open %s for writing\n", path.c_str());
      std::exit(2);
    }
    std::fprintf(f_, "%s,%s\n", meta_header(), cols.c_str());
    std::fflush(f_);
  }
  ~Csv() {
    if (f_) std::fclose(f_);
  }
  Csv(const Csv&) = delete;
  Csv& operator=(const Csv&) = delete;
  void row(const std::string& values) {
    std::fprintf(f_, "%s,%s\n", meta_.c_str(), values.c_str());
    std::fflush(f_);
  }

 private:
  std::FILE* f_ = nullptr;
  std::string meta_;
};

// ------------------------------------------------------------ random fill --

__host__ __device__ inline uint32_t hash32(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return static_cast<uint32_t>(x);
}

// Uniform in [-scale, scale), never exactly representing a constant buffer.
__device__ inline float rand_uniform(uint64_t seed, uint64_t i, float scale) {
  uint32_t h = hash32(seed * 0x9E3779B97F4A7C15ULL + i);
  return scale * (static_cast<float>(h) * (2.0f / 4294967296.0f) - 1.0f);
}

__global__ void fill_bf16_kernel(__nv_bfloat16* p, size_t n, uint64_t seed, float scale) {
  size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n; i += stride)
    p[i] = __float2bfloat16(rand_uniform(seed, i, scale));
}

__global__ void fill_fp8e4m3_kernel(__nv_fp8_storage_t* p, size_t n, uint64_t seed, float scale) {
  size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n; i += stride)
    p[i] = __nv_cvt_float_to_fp8(rand_uniform(seed, i, scale), __NV_SATFINITE, __NV_E4M3);
}

__global__ void fill_u32_kernel(uint32_t* p, size_t n, uint64_t seed) {
  size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n; i += stride)
    p[i] = hash32(seed * 0x9E3779B97F4A7C15ULL + i) | 1u;
}

inline int fill_grid(size_t n) {
  size_t blocks = (n + 255) / 256;
  return static_cast<int>(std::min<size_t>(blocks, 65536));
}

inline void fill_bf16(void* p, size_t n, uint64_t seed, float scale = 1.0f) {
  if (n == 0) return;
  fill_bf16_kernel<<<fill_grid(n), 256>>>(static_cast<__nv_bfloat16*>(p), n, seed, scale);
  CUDA_CHECK_LAUNCH();
}
inline void fill_fp8(void* p, size_t n, uint64_t seed, float scale = 1.0f) {
  if (n == 0) return;
  fill_fp8e4m3_kernel<<<fill_grid(n), 256>>>(static_cast<__nv_fp8_storage_t*>(p), n, seed, scale);
  CUDA_CHECK_LAUNCH();
}
inline void fill_bytes_random(void* p, size_t bytes, uint64_t seed) {
  size_t n = bytes / 4;
  if (n == 0) return;
  fill_u32_kernel<<<fill_grid(n), 256>>>(static_cast<uint32_t*>(p), n, seed);
  CUDA_CHECK_LAUNCH();
}

// ----------------------------------------------------------------- timing --

// Busy-wait on the GPU for `ns` nanoseconds.  Enqueued before a batch of
// timed repetitions so that the host runs ahead of the device: the events
// then time back-to-back device work and not host launch gaps.
__global__ void spin_kernel(unsigned long long ns) {
  if (threadIdx.x != 0) return;
  unsigned long long t0, t1;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t0));
  do {
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t1));
  } while (t1 - t0 < ns);
}

inline void gpu_spin(cudaStream_t s, double us) {
  if (us <= 0) return;
  spin_kernel<<<1, 32, 0, s>>>(static_cast<unsigned long long>(us * 1000.0));
  CUDA_CHECK_LAUNCH();
}

struct Stats {
  double median_us = 0, p10_us = 0, p90_us = 0, min_us = 0, mean_us = 0;
  int reps = 0;
};

inline Stats summarize(std::vector<double> v) {
  Stats s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  auto q = [&](double f) {
    double pos = f * (v.size() - 1);
    size_t lo = static_cast<size_t>(pos);
    size_t hi = std::min(lo + 1, v.size() - 1);
    double w = pos - lo;
    return v[lo] * (1 - w) + v[hi] * w;
  };
  s.median_us = q(0.5);
  s.p10_us = q(0.1);
  s.p90_us = q(0.9);
  s.min_us = v.front();
  double sum = 0;
  for (double x : v) sum += x;
  s.mean_us = sum / v.size();
  s.reps = static_cast<int>(v.size());
  return s;
}

// Times `reps` calls of launch(rep_index) individually with CUDA events
// (one event pair per repetition), in batches of at most `batch`, each batch
// preceded by a spin kernel of `spin_us` so that the queue is full.
// `warmup` untimed calls run first.
template <class F>
Stats time_events(cudaStream_t s, F&& launch, int warmup, int reps, double spin_us = 2000.0,
                  int batch = 100) {
  for (int i = 0; i < warmup; ++i) launch(i);
  CUDA_CHECK(cudaStreamSynchronize(s));
  std::vector<cudaEvent_t> ev(2 * static_cast<size_t>(std::min(batch, reps)));
  for (auto& e : ev) CUDA_CHECK(cudaEventCreate(&e));
  std::vector<double> times;
  times.reserve(reps);
  int done = 0;
  while (done < reps) {
    int nb = std::min(batch, reps - done);
    gpu_spin(s, spin_us);
    for (int i = 0; i < nb; ++i) {
      CUDA_CHECK(cudaEventRecord(ev[2 * i], s));
      launch(warmup + done + i);
      CUDA_CHECK(cudaEventRecord(ev[2 * i + 1], s));
    }
    CUDA_CHECK(cudaStreamSynchronize(s));
    for (int i = 0; i < nb; ++i) {
      float ms = 0;
      CUDA_CHECK(cudaEventElapsedTime(&ms, ev[2 * i], ev[2 * i + 1]));
      times.push_back(ms * 1000.0);
    }
    done += nb;
  }
  for (auto& e : ev) CUDA_CHECK(cudaEventDestroy(e));
  return summarize(std::move(times));
}

// Picks a repetition count so that the timed part lasts about target_ms.
inline int reps_for(double est_us, double target_ms, int min_reps, int max_reps) {
  if (est_us <= 0) return max_reps;
  double r = target_ms * 1000.0 / est_us;
  return static_cast<int>(std::clamp(r, static_cast<double>(min_reps), static_cast<double>(max_reps)));
}

inline double host_now_us() {
  using clk = std::chrono::steady_clock;
  return std::chrono::duration<double, std::micro>(clk::now().time_since_epoch()).count();
}

// Simple "--key value" / "--flag" argument access.
struct Args {
  std::vector<std::string> a;
  Args(int argc, char** argv) : a(argv + 1, argv + argc) {}
  std::string get(const std::string& key, const std::string& def) const {
    for (size_t i = 0; i + 1 < a.size(); ++i)
      if (a[i] == key) return a[i + 1];
    return def;
  }
  bool has(const std::string& key) const {
    return std::find(a.begin(), a.end(), key) != a.end();
  }
};

inline std::string fmt(double x, int prec = 3) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", prec, x);
  return buf;
}

}  // namespace bench
