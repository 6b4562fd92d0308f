"""Two effects that single-kernel timings miss, measured with PyTorch on real kernels:

  graph   per-call time of real kernels launched back to back eagerly, and replayed from a
          CUDA graph of the same calls: how much closer a graph packs them;
  sustain bf16 GEMM throughput over the first 0.2 s and the last second of 4 s of
          continuous work: the clock a busy GPU settles at, against a burst.

    python3 sustained.py --out sustained.csv
"""

import argparse
import datetime
import subprocess
import time

import torch
import torch.nn.functional as F


def events_ms(fn, calls):
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    fn()
    torch.cuda.synchronize()
    s.record()
    for _ in range(calls):
        fn()
    e.record()
    e.synchronize()
    return s.elapsed_time(e)


def per_call(fn, calls=200, reps=5):
    eager = min(events_ms(fn, calls) for _ in range(reps)) / calls
    g = torch.cuda.CUDAGraph()
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        fn()
    torch.cuda.current_stream().wait_stream(side)
    with torch.cuda.graph(g):
        for _ in range(calls):
            fn()
    graph = min(events_ms(g.replay, 1) for _ in range(reps)) / calls
    return eager * 1e3, graph * 1e3


def smi(field):
    try:
        return subprocess.run(["nvidia-smi", f"--query-gpu={field}", "--format=csv,noheader,nounits",
                               "-i", "0"], capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:  # noqa: BLE001
        return ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="sustained.csv")
    args = ap.parse_args()
    dev = torch.cuda.get_device_name(0)
    date = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    rows = []
    bf = torch.bfloat16
    x1 = torch.randn(1, 4096, device="cuda", dtype=bf)
    w1 = torch.randn(6144, 4096, device="cuda", dtype=bf)
    x64 = torch.randn(64, 4096, device="cuda", dtype=bf)
    w2 = torch.randn(28672, 4096, device="cuda", dtype=bf)
    a = torch.randn(64, 4096, device="cuda", dtype=bf)
    b = torch.randn(64, 4096, device="cuda", dtype=bf)
    nw = torch.randn(4096, device="cuda", dtype=bf)
    kernels = {
        "gemm_m1_4096x6144": lambda: F.linear(x1, w1),
        "gemm_m64_4096x28672": lambda: F.linear(x64, w2),
        "add_64x4096": lambda: torch.add(a, b),
        "rms_norm_64x4096": lambda: F.rms_norm(a, (4096,), nw, 1e-5),
    }
    with torch.inference_mode():
        for name, fn in kernels.items():
            eager, graph = per_call(fn)
            print(f"graph {name}: eager {eager:.2f} us, graph {graph:.2f} us per call")
            rows.append(("graph", name, "eager_us", eager))
            rows.append(("graph", name, "graph_us", graph))
        n = 8192
        A = torch.randn(n, n, device="cuda", dtype=bf)
        B = torch.randn(n, n, device="cuda", dtype=bf)
        flops = 2.0 * n ** 3
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        marks = []
        while time.perf_counter() - t0 < 4.0:
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record()
            for _ in range(5):
                torch.mm(A, B)
            e.record()
            e.synchronize()
            marks.append((time.perf_counter() - t0, s.elapsed_time(e) / 5))
        clock_end = smi("clocks.sm")
        burst = [ms for t, ms in marks if t < 0.2]
        tail = [ms for t, ms in marks if t > 3.0]
        for label, xs in (("burst_tflops", burst), ("sustained_tflops", tail)):
            tf = flops / (sum(xs) / len(xs) * 1e-3) / 1e12
            print(f"sustain gemm_8192: {label} {tf:.1f}")
            rows.append(("sustain", "gemm_8192", label, tf))
        rows.append(("sustain", "gemm_8192", "sm_clock_mhz_end", float(clock_end or 0)))
    with open(args.out, "w") as f:
        f.write("gpu,date_utc,torch,test,kernel,metric,value\n")
        for test, kernel, metric, value in rows:
            f.write(f"{dev},{date},{torch.__version__},{test},{kernel},{metric},{value:.4f}\n")


if __name__ == "__main__":
    main()
