// Prints the device metadata that every CSV of the suite carries, as
// key=value lines (run_all.sh stores it and exports it to the Python
// benchmarks so that all files of one run agree).
#include "common.cuh"

int main(int argc, char** argv) {
  bench::Args args(argc, argv);
  int dev = std::stoi(args.get("--device", "0"));
  bench::DeviceMeta m = bench::query_device(dev);
  std::printf("gpu=%s\n", m.gpu.c_str());
  std::printf("cc=%s\n", m.cc.c_str());
  std::printf("sms=%d\n", m.sms);
  std::printf("l2_bytes=%lld\n", m.l2_bytes);
  std::printf("mem_bytes=%lld\n", m.mem_bytes);
  std::printf("driver=%s\n", m.driver.c_str());
  std::printf("cuda_runtime=%s\n", m.cuda_runtime.c_str());
  std::printf("cuda_driver_api=%s\n", m.cuda_driver_api.c_str());
  std::printf("sm_clock_mhz=%d\n", m.sm_clock_mhz);
  std::printf("mem_clock_mhz=%d\n", m.mem_clock_mhz);
  std::printf("mem_bus_bits=%d\n", m.mem_bus_bits);
  std::printf("date_utc=%s\n", m.date_utc.c_str());
  return 0;
}
