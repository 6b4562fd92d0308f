// cuBLASLt GEMM timings for the linear layers of common decoder models.
//
// Computes Y[M,N] = X[M,K] * W[N,K]^T (a Linear layer, W stored row-major
// [N,K] as in PyTorch), i.e. a column-major "TN" GEMM D[N,M] = W^T(op T) * X.
// bf16 inputs/outputs with fp32 accumulation; optionally fp8 e4m3 inputs with
// bf16 output (sm_89+).  Algorithm: the first result of
// cublasLtMatmulAlgoGetHeuristic (what PyTorch uses) unless --algos N>1, in
// which case the fastest of the first N heuristic results is reported.
// Workspace 32 MiB.  W, X and Y rotate through pools so that W is never
// L2-resident between repetitions (as in a real forward pass).
#include "common.cuh"

#include <cublasLt.h>

#include <map>
#include <set>

#define CUBLAS_CHECK(expr)                                                        \
  do {                                                                            \
    cublasStatus_t st__ = (expr);                                                 \
    if (st__ != CUBLAS_STATUS_SUCCESS) {                                          \
      std::fprintf(stderr, "cuBLAS error %d at %s:%d: %s\n", static_cast<int>(st__), \
                   __FILE__, __LINE__, #expr);                                    \
      std::exit(2);                                                               \
    }                                                                             \
  } while (0)

namespace {

struct Model {
  const char* name;
  int64_t hidden, heads, kv_heads, head_dim, inter, vocab;
};

const Model kModels[] = {
    {"llama-2-7b", 4096, 32, 32, 128, 11008, 32000},
    {"llama-2-70b", 8192, 64, 8, 128, 28672, 32000},
    {"llama-3-8b", 4096, 32, 8, 128, 14336, 128256},
    {"llama-3-70b", 8192, 64, 8, 128, 28672, 128256},
    {"mistral-7b", 4096, 32, 8, 128, 14336, 32000},
    {"qwen2.5-7b", 3584, 28, 4, 128, 18944, 152064},
    {"mixtral-8x7b", 4096, 32, 8, 128, 14336, 32000},  // per-expert MLP
};

struct ShapeKey {
  int64_t K, N;
  bool operator<(const ShapeKey& o) const { return K != o.K ? K < o.K : N < o.N; }
};

// (K,N) -> list of "model/tpT/op" labels, in first-seen order.
std::vector<std::pair<ShapeKey, std::vector<std::string>>> build_shapes(
    const std::set<std::string>& models, const std::vector<int>& tps) {
  std::map<ShapeKey, size_t> index;
  std::vector<std::pair<ShapeKey, std::vector<std::string>>> out;
  for (const Model& m : kModels) {
    if (!models.empty() && !models.count(m.name)) continue;
    for (int tp : tps) {
      // Attention heads must split evenly; KV heads are replicated when
      // tp > kv_heads (vLLM's behaviour).
      if (m.heads % tp != 0) continue;
      if (m.kv_heads >= tp ? (m.kv_heads % tp != 0) : (tp % m.kv_heads != 0)) continue;
      if (m.inter % tp != 0 || m.vocab % tp != 0) continue;
      int64_t kv_t = std::max<int64_t>(1, m.kv_heads / tp);
      struct Op {
        const char* name;
        int64_t K, N;
      } ops[] = {
          {"qkv", m.hidden, (m.heads / tp + 2 * kv_t) * m.head_dim},  // column-parallel
          {"o", m.heads * m.head_dim / tp, m.hidden},                 // row-parallel
          {"gate_up", m.hidden, 2 * m.inter / tp},                    // column-parallel
          {"down", m.inter / tp, m.hidden},                           // row-parallel
          {"lm_head", m.hidden, m.vocab / tp},                        // vocab-parallel
      };
      for (const Op& op : ops) {
        ShapeKey k{op.K, op.N};
        std::string label = std::string(m.name) + "/tp" + std::to_string(tp) + "/" + op.name;
        auto it = index.find(k);
        if (it == index.end()) {
          index[k] = out.size();
          out.push_back({k, {label}});
        } else {
          out[it->second].second.push_back(label);
        }
      }
    }
  }
  return out;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> v;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      if (!cur.empty()) v.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) v.push_back(cur);
  return v;
}

// Reference D[n + m*N] = sum_k W[n*K + k] * X[m*K + k] in fp32.
template <class T>
__global__ void ref_gemm_kernel(const T* W, const T* X, float* D, int64_t M, int64_t N, int64_t K) {
  int64_t n = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  int64_t m = blockIdx.y;
  if (n >= N || m >= M) return;
  float acc = 0.f;
  for (int64_t k = 0; k < K; ++k) acc += float(W[n * K + k]) * float(X[m * K + k]);
  D[n + m * N] = acc;
}

struct LtGemm {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulPreference_t pref = nullptr;
  std::vector<cublasLtMatmulHeuristicResult_t> heur;
  int n_heur = 0;
  cublasStatus_t status = CUBLAS_STATUS_SUCCESS;

  LtGemm(cublasLtHandle_t lt, cudaDataType_t in_t, int64_t M, int64_t N, int64_t K,
         size_t workspace, int request) {
    cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    CUBLAS_CHECK(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&a, in_t, K, N, K));        // W  (op T -> N x K)
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&b, in_t, K, M, K));        // X^T
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&c, CUDA_R_16BF, N, M, N));  // Y^T
    CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
        pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace, sizeof workspace));
    heur.resize(std::max(request, 1));
    status = cublasLtMatmulAlgoGetHeuristic(lt, op, a, b, c, c, pref, request, heur.data(), &n_heur);
    if (status != CUBLAS_STATUS_SUCCESS) n_heur = 0;
  }
  ~LtGemm() {
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
    if (c) cublasLtMatrixLayoutDestroy(c);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (op) cublasLtMatmulDescDestroy(op);
  }
};

int algo_id(const cublasLtMatmulAlgo_t& algo) {
  int id = -1;
  size_t written = 0;
  if (cublasLtMatmulAlgoConfigGetAttribute(&algo, CUBLASLT_ALGO_CONFIG_ID, &id, sizeof id,
                                           &written) != CUBLAS_STATUS_SUCCESS)
    return -1;
  return id;
}

}  // namespace

int main(int argc, char** argv) {
  bench::Args args(argc, argv);
  std::string out = args.get("--out", "gemm.csv");
  bench::DeviceMeta meta = bench::query_device(std::stoi(args.get("--device", "0")));
  int n_algos = std::stoi(args.get("--algos", "1"));
  double target_ms = std::stod(args.get("--target-ms", "20"));
  std::vector<int64_t> Ms;
  for (auto& s : split(args.get("--m", "1,2,4,8,16,32,64,128,256,512,1024,2048,4096,8192,16384"), ','))
    Ms.push_back(std::stoll(s));
  std::vector<int> tps;
  for (auto& s : split(args.get("--tp", "1,2,4,8"), ',')) tps.push_back(std::stoi(s));
  std::set<std::string> models;
  for (auto& s : split(args.get("--models", ""), ',')) models.insert(s);
  std::string fp8_arg = args.get("--fp8", "auto");  // auto|on|off
  bool fp8_ok = meta.prop.major > 8 || (meta.prop.major == 8 && meta.prop.minor >= 9);
  bool do_fp8 = fp8_arg == "on" || (fp8_arg == "auto" && fp8_ok);
  std::set<std::string> fp8_models = {"llama-3-8b", "llama-3-70b"};

  auto shapes = build_shapes(models, tps);
  auto fp8_shapes = build_shapes(fp8_models, {1});
  int64_t maxM = *std::max_element(Ms.begin(), Ms.end());

  size_t maxW = 0, maxX = 0, maxY = 0;
  for (auto* lst : {&shapes, &fp8_shapes}) {
    for (auto& [k, labels] : *lst) {
      maxW = std::max<size_t>(maxW, k.K * k.N * 2);
      maxX = std::max<size_t>(maxX, maxM * k.K * 2);
      maxY = std::max<size_t>(maxY, maxM * k.N * 2);
    }
  }
  const size_t MiB = size_t(1) << 20;
  size_t poolW = std::max(maxW, 512 * MiB), poolX = std::max(maxX, 512 * MiB),
         poolY = std::max(maxY, 512 * MiB);
  const size_t workspace = 32 * MiB;
  void *W = nullptr, *X = nullptr, *Y = nullptr, *ws = nullptr;
  CUDA_CHECK(cudaMalloc(&W, poolW));
  CUDA_CHECK(cudaMalloc(&X, poolX));
  CUDA_CHECK(cudaMalloc(&Y, poolY));
  CUDA_CHECK(cudaMalloc(&ws, workspace));
  std::printf("pools: W %.0f MiB, X %.0f MiB, Y %.0f MiB; %zu bf16 shapes, %zu fp8 shapes\n",
              poolW / double(MiB), poolX / double(MiB), poolY / double(MiB), shapes.size(),
              do_fp8 ? fp8_shapes.size() : size_t(0));

  cublasLtHandle_t lt;
  CUBLAS_CHECK(cublasLtCreate(&lt));
  cudaStream_t s;
  CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));

  bench::Csv csv(out, meta,
                 "dtype,model_shapes,M,N,K,algo_id,n_heuristics,nbuf,reps,time_us,p10_us,p90_us,"
                 "tflops,bytes,gbps,status");

  for (int pass = 0; pass < 2; ++pass) {
    bool fp8 = pass == 1;
    if (fp8 && !do_fp8) {
      std::printf("fp8: skipped (compute capability %s)\n", meta.cc.c_str());
      continue;
    }
    const cudaDataType_t in_t = fp8 ? CUDA_R_8F_E4M3 : CUDA_R_16BF;
    const size_t in_elem = fp8 ? 1 : 2;
    const char* dtype = fp8 ? "fp8e4m3" : "bf16";
    // Random, finite inputs of the right type.
    if (fp8) {
      bench::fill_fp8(W, poolW, 11, 1.0f);
      bench::fill_fp8(X, poolX, 12, 1.0f);
    } else {
      bench::fill_bf16(W, poolW / 2, 11, 1.0f);
      bench::fill_bf16(X, poolX / 2, 12, 1.0f);
    }
    bench::fill_bf16(Y, poolY / 2, 13, 1.0f);
    CUDA_CHECK(cudaDeviceSynchronize());

    // Correctness check against a naive fp32 kernel (M=48, N=1024, K=4096).
    {
      int64_t M = 48, N = 1024, K = 4096;
      LtGemm g(lt, in_t, M, N, K, workspace, 1);
      if (g.n_heur < 1) {
        std::fprintf(stderr, "%s self-check: no cuBLASLt algorithm\n", dtype);
      } else {
        float alpha = 1.f, beta = 0.f;
        CUBLAS_CHECK(cublasLtMatmul(lt, g.op, &alpha, W, g.a, X, g.b, &beta, Y, g.c, Y, g.c,
                                    &g.heur[0].algo, ws, workspace, s));
        float* ref = nullptr;
        CUDA_CHECK(cudaMalloc(&ref, M * N * sizeof(float)));
        dim3 grid((N + 127) / 128, M);
        if (fp8)
          ref_gemm_kernel<__nv_fp8_e4m3><<<grid, 128, 0, s>>>(
              static_cast<const __nv_fp8_e4m3*>(W), static_cast<const __nv_fp8_e4m3*>(X), ref, M, N, K);
        else
          ref_gemm_kernel<__nv_bfloat16><<<grid, 128, 0, s>>>(
              static_cast<const __nv_bfloat16*>(W), static_cast<const __nv_bfloat16*>(X), ref, M, N, K);
        CUDA_CHECK_LAUNCH();
        CUDA_CHECK(cudaStreamSynchronize(s));
        std::vector<float> r(M * N);
        std::vector<__nv_bfloat16> y(M * N);
        CUDA_CHECK(cudaMemcpy(r.data(), ref, r.size() * 4, cudaMemcpyDeviceToHost));
        CUDA_CHECK(cudaMemcpy(y.data(), Y, y.size() * 2, cudaMemcpyDeviceToHost));
        double num = 0, den = 0;
        for (size_t i = 0; i < r.size(); ++i) {
          double d = double(__bfloat162float(y[i])) - r[i];
          num += d * d;
          den += double(r[i]) * r[i];
        }
        double rel = std::sqrt(num / std::max(den, 1e-30));
        std::printf("%s self-check: relative error %.2e %s\n", dtype, rel,
                    (rel < 2e-2 && std::isfinite(rel)) ? "ok" : "FAILED");
        CUDA_CHECK(cudaFree(ref));
        if (!(rel < 2e-2)) return 3;
      }
    }

    auto& list = fp8 ? fp8_shapes : shapes;
    for (auto& [key, labels] : list) {
      std::string label;
      for (size_t i = 0; i < labels.size(); ++i) label += (i ? ";" : "") + labels[i];
      const int64_t K = key.K, N = key.N;
      for (int64_t M : Ms) {
        size_t wb = K * N * in_elem, xb = M * K * in_elem, yb = M * N * 2;
        auto align = [](size_t b) { return (b + 255) / 256 * 256; };
        size_t nbuf = std::min({size_t(32), poolW / align(wb), poolX / align(xb), poolY / align(yb)});
        nbuf = std::max<size_t>(nbuf, 1);
        double flops = 2.0 * M * N * K;
        double bytes = double(wb + xb + yb);
        char prefix[256];
        std::snprintf(prefix, sizeof prefix, "%s,%s,%lld,%lld,%lld", dtype, label.c_str(),
                      (long long)M, (long long)N, (long long)K);

        LtGemm g(lt, in_t, M, N, K, workspace, std::max(n_algos, 1));
        if (g.n_heur < 1) {
          csv.row(std::string(prefix) + ",-1,0," + std::to_string(nbuf) + ",0,,,,,," +
                  bench::fmt(bytes, 0) + ",,no_algorithm_" + std::to_string(int(g.status)));
          std::printf("%s M=%lld: no algorithm (status %d)\n", label.c_str(), (long long)M,
                      int(g.status));
          continue;
        }
        float alpha = 1.f, beta = 0.f;
        double peak = fp8 ? 1.4e15 : 0.7e15;  // only for choosing repetition counts
        double est_us = std::max(flops / peak, bytes / 3.0e12) * 1e6 + 6.0;
        int reps = bench::reps_for(est_us, target_ms, 5, 200);
        bench::Stats best;
        int best_i = -1;
        bool failed = false;
        for (int ai = 0; ai < std::min(g.n_heur, std::max(n_algos, 1)); ++ai) {
          const cublasLtMatmulAlgo_t* algo = &g.heur[ai].algo;
          cublasStatus_t st0 = CUBLAS_STATUS_SUCCESS;
          auto launch = [&](int r) {
            size_t i = static_cast<size_t>(r) % nbuf;
            const char* w = static_cast<const char*>(W) + i * align(wb);
            const char* x = static_cast<const char*>(X) + i * align(xb);
            char* y = static_cast<char*>(Y) + i * align(yb);
            cublasStatus_t st = cublasLtMatmul(lt, g.op, &alpha, w, g.a, x, g.b, &beta, y, g.c, y,
                                               g.c, algo, ws, workspace, s);
            if (st != CUBLAS_STATUS_SUCCESS) st0 = st;
          };
          bench::Stats st = bench::time_events(s, launch, 2, reps, 1500.0);
          CUDA_CHECK(cudaGetLastError());
          if (st0 != CUBLAS_STATUS_SUCCESS) {
            std::printf("%s M=%lld algo %d: cublasLtMatmul status %d\n", label.c_str(),
                        (long long)M, ai, int(st0));
            failed = true;
            continue;
          }
          if (best_i < 0 || st.median_us < best.median_us) {
            best = st;
            best_i = ai;
          }
        }
        if (best_i < 0) {
          csv.row(std::string(prefix) + ",-1," + std::to_string(g.n_heur) + "," +
                  std::to_string(nbuf) + ",0,,,,,," + bench::fmt(bytes, 0) + ",,matmul_failed");
          continue;
        }
        double tflops = flops / (best.median_us * 1e-6) / 1e12;
        double gbps = bytes / (best.median_us * 1e3);
        csv.row(std::string(prefix) + "," + std::to_string(algo_id(g.heur[best_i].algo)) + "," +
                std::to_string(g.n_heur) + "," + std::to_string(nbuf) + "," +
                std::to_string(best.reps) + "," + bench::fmt(best.median_us) + "," +
                bench::fmt(best.p10_us) + "," + bench::fmt(best.p90_us) + "," +
                bench::fmt(tflops, 2) + "," + bench::fmt(bytes, 0) + "," + bench::fmt(gbps, 1) +
                (failed ? ",partial" : ",ok"));
      }
      std::printf("%-8s %-40.40s K=%6lld N=%6lld done\n", dtype, label.c_str(), (long long)K,
                  (long long)N);
      std::fflush(stdout);
    }
  }
  CUDA_CHECK(cudaStreamSynchronize(s));
  CUBLAS_CHECK(cublasLtDestroy(lt));
  CUDA_CHECK(cudaFree(W));
  CUDA_CHECK(cudaFree(X));
  CUDA_CHECK(cudaFree(Y));
  CUDA_CHECK(cudaFree(ws));
  return 0;
}
