// Launch, graph-replay and host/device synchronisation costs.
//
// Tests (time_us is per launch / per replay / per call, median of trials):
//   launch_host_enqueue        host wall time of one async launch of an empty
//                              kernel (10000 back-to-back launches / 10000)
//   launch_gpu_back_to_back    device time per empty kernel when the queue is
//                              full (events around `nodes` launches after a spin)
//   launch_gpu_back_to_back_grid  same, grid of 4*SMs blocks x 256 threads
//   launch_sync_roundtrip      wall time of launch + cudaDeviceSynchronize
//   graph_gpu_replay           device time per replay of a graph of `nodes`
//                              empty kernels, replays queued back to back
//   graph_launch_sync          wall time of cudaGraphLaunch + cudaStreamSynchronize
//   graph_host_launch          host wall time of one cudaGraphLaunch call
//   stream_sync_idle           cudaStreamSynchronize on an idle stream
//   device_sync_idle           cudaDeviceSynchronize on an idle device
//   memcpy_{d2h,h2d}_{pinned,pageable}  synchronous cudaMemcpy of `bytes`
//   memcpy_async_d2h_pinned    cudaMemcpyAsync + cudaStreamSynchronize
#include "common.cuh"

namespace {

__global__ void empty_kernel() {}

}  // namespace

int main(int argc, char** argv) {
  bench::Args args(argc, argv);
  std::string out = args.get("--out", "launch.csv");
  bench::DeviceMeta meta = bench::query_device(std::stoi(args.get("--device", "0")));
  bench::Csv csv(out, meta, "test,nodes,bytes,reps,time_us,p10_us,p90_us,min_us");

  cudaStream_t s;
  CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  // Warm up the module and the context.
  for (int i = 0; i < 100; ++i) empty_kernel<<<1, 32, 0, s>>>();
  CUDA_CHECK_LAUNCH();
  CUDA_CHECK(cudaDeviceSynchronize());

  auto emit = [&](const std::string& test, long long nodes, long long bytes,
                  const bench::Stats& st) {
    csv.row(test + "," + std::to_string(nodes) + "," + std::to_string(bytes) + "," +
            std::to_string(st.reps) + "," + bench::fmt(st.median_us) + "," +
            bench::fmt(st.p10_us) + "," + bench::fmt(st.p90_us) + "," + bench::fmt(st.min_us));
    std::printf("%-32s nodes=%5lld bytes=%8lld  %9.3f us (p10 %.3f, p90 %.3f)\n", test.c_str(),
                nodes, bytes, st.median_us, st.p10_us, st.p90_us);
  };

  // --- host enqueue cost of an async launch
  {
    const int n = 10000;
    std::vector<double> t;
    for (int trial = 0; trial < 9; ++trial) {
      double t0 = bench::host_now_us();
      for (int i = 0; i < n; ++i) empty_kernel<<<1, 32, 0, s>>>();
      double t1 = bench::host_now_us();
      CUDA_CHECK_LAUNCH();
      CUDA_CHECK(cudaStreamSynchronize(s));
      t.push_back((t1 - t0) / n);
    }
    emit("launch_host_enqueue", n, 0, bench::summarize(t));
  }

  // --- device time per back-to-back launch (queue filled behind a spin)
  cudaEvent_t e0, e1;
  CUDA_CHECK(cudaEventCreate(&e0));
  CUDA_CHECK(cudaEventCreate(&e1));
  for (int grid_variant = 0; grid_variant < 2; ++grid_variant) {
    const int n = 500;
    int blocks = grid_variant ? 4 * meta.sms : 1;
    int threads = grid_variant ? 256 : 32;
    std::vector<double> t;
    for (int trial = 0; trial < 9; ++trial) {
      bench::gpu_spin(s, 10000.0);
      CUDA_CHECK(cudaEventRecord(e0, s));
      for (int i = 0; i < n; ++i) empty_kernel<<<blocks, threads, 0, s>>>();
      CUDA_CHECK(cudaEventRecord(e1, s));
      CUDA_CHECK_LAUNCH();
      CUDA_CHECK(cudaEventSynchronize(e1));
      float ms = 0;
      CUDA_CHECK(cudaEventElapsedTime(&ms, e0, e1));
      t.push_back(ms * 1000.0 / n);
    }
    emit(grid_variant ? "launch_gpu_back_to_back_grid" : "launch_gpu_back_to_back", n, 0,
         bench::summarize(t));
  }

  // --- launch + device synchronize round trip
  {
    std::vector<double> t;
    for (int i = 0; i < 2000; ++i) {
      double t0 = bench::host_now_us();
      empty_kernel<<<1, 32, 0, s>>>();
      CUDA_CHECK(cudaDeviceSynchronize());
      t.push_back(bench::host_now_us() - t0);
    }
    CUDA_CHECK_LAUNCH();
    emit("launch_sync_roundtrip", 1, 0, bench::summarize(t));
  }

  // --- CUDA graphs of n empty kernels
  for (int nodes : {1, 10, 100, 1000}) {
    cudaGraph_t graph;
    cudaGraphExec_t exec;
    CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
    for (int i = 0; i < nodes; ++i) empty_kernel<<<1, 32, 0, s>>>();
    CUDA_CHECK(cudaStreamEndCapture(s, &graph));
    CUDA_CHECK_LAUNCH();
    CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
    CUDA_CHECK(cudaGraphUpload(exec, s));
    for (int i = 0; i < 10; ++i) CUDA_CHECK(cudaGraphLaunch(exec, s));
    CUDA_CHECK(cudaStreamSynchronize(s));

    // device time per replay, replays queued back to back
    {
      int replays = nodes >= 1000 ? 20 : (nodes >= 100 ? 100 : 200);
      std::vector<double> t, th;
      for (int trial = 0; trial < 9; ++trial) {
        bench::gpu_spin(s, 10000.0);
        CUDA_CHECK(cudaEventRecord(e0, s));
        double h0 = bench::host_now_us();
        for (int i = 0; i < replays; ++i) CUDA_CHECK(cudaGraphLaunch(exec, s));
        double h1 = bench::host_now_us();
        CUDA_CHECK(cudaEventRecord(e1, s));
        CUDA_CHECK(cudaEventSynchronize(e1));
        float ms = 0;
        CUDA_CHECK(cudaEventElapsedTime(&ms, e0, e1));
        t.push_back(ms * 1000.0 / replays);
        th.push_back((h1 - h0) / replays);
      }
      emit("graph_gpu_replay", nodes, 0, bench::summarize(t));
      emit("graph_host_launch", nodes, 0, bench::summarize(th));
    }
    // launch + synchronize round trip
    {
      std::vector<double> t;
      int n = nodes >= 1000 ? 200 : 1000;
      for (int i = 0; i < n; ++i) {
        double t0 = bench::host_now_us();
        CUDA_CHECK(cudaGraphLaunch(exec, s));
        CUDA_CHECK(cudaStreamSynchronize(s));
        t.push_back(bench::host_now_us() - t0);
      }
      emit("graph_launch_sync", nodes, 0, bench::summarize(t));
    }
    CUDA_CHECK(cudaGraphExecDestroy(exec));
    CUDA_CHECK(cudaGraphDestroy(graph));
  }

  // --- synchronisation on idle stream / device
  {
    std::vector<double> t, td;
    for (int i = 0; i < 10000; ++i) {
      double t0 = bench::host_now_us();
      CUDA_CHECK(cudaStreamSynchronize(s));
      t.push_back(bench::host_now_us() - t0);
    }
    for (int i = 0; i < 10000; ++i) {
      double t0 = bench::host_now_us();
      CUDA_CHECK(cudaDeviceSynchronize());
      td.push_back(bench::host_now_us() - t0);
    }
    emit("stream_sync_idle", 0, 0, bench::summarize(t));
    emit("device_sync_idle", 0, 0, bench::summarize(td));
  }

  // --- small synchronous copies
  {
    const size_t maxb = 1 << 20;
    void* d = nullptr;
    void* hp = nullptr;
    CUDA_CHECK(cudaMalloc(&d, maxb));
    CUDA_CHECK(cudaMallocHost(&hp, maxb));
    std::vector<unsigned char> hpage(maxb, 1);
    bench::fill_bytes_random(d, maxb, 5);
    std::memset(hp, 3, maxb);
    CUDA_CHECK(cudaDeviceSynchronize());
    for (size_t bytes : {size_t(4), size_t(1024), size_t(65536), size_t(1) << 20}) {
      int n = bytes >= (1 << 20) ? 300 : 2000;
      struct Case {
        const char* name;
        int kind;
      } cases[] = {{"memcpy_d2h_pinned", 0},   {"memcpy_d2h_pageable", 1},
                   {"memcpy_h2d_pinned", 2},   {"memcpy_h2d_pageable", 3},
                   {"memcpy_async_d2h_pinned", 4}};
      for (const Case& c : cases) {
        std::vector<double> t;
        for (int i = 0; i < n + 20; ++i) {
          double t0 = bench::host_now_us();
          switch (c.kind) {
            case 0: CUDA_CHECK(cudaMemcpy(hp, d, bytes, cudaMemcpyDeviceToHost)); break;
            case 1: CUDA_CHECK(cudaMemcpy(hpage.data(), d, bytes, cudaMemcpyDeviceToHost)); break;
            case 2: CUDA_CHECK(cudaMemcpy(d, hp, bytes, cudaMemcpyHostToDevice)); break;
            case 3: CUDA_CHECK(cudaMemcpy(d, hpage.data(), bytes, cudaMemcpyHostToDevice)); break;
            default:
              CUDA_CHECK(cudaMemcpyAsync(hp, d, bytes, cudaMemcpyDeviceToHost, s));
              CUDA_CHECK(cudaStreamSynchronize(s));
          }
          double dt = bench::host_now_us() - t0;
          if (i >= 20) t.push_back(dt);
        }
        emit(c.name, 0, static_cast<long long>(bytes), bench::summarize(t));
      }
    }
    CUDA_CHECK(cudaFreeHost(hp));
    CUDA_CHECK(cudaFree(d));
  }

  CUDA_CHECK(cudaEventDestroy(e0));
  CUDA_CHECK(cudaEventDestroy(e1));
  CUDA_CHECK(cudaStreamDestroy(s));
  CUDA_CHECK(cudaGetLastError());
  return 0;
}
