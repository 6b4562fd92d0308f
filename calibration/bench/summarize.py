#!/usr/bin/env python3
"""Prints headline numbers from a calibration output directory.

    python3 calibration/bench/summarize.py OUTDIR

Standard library only; missing files are reported and skipped.
"""

import csv
import os
import sys


def load(outdir, name):
    path = os.path.join(outdir, name)
    if not os.path.exists(path):
        return None
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def num(row, key):
    try:
        return float(row[key])
    except (KeyError, TypeError, ValueError):
        return None


def line(label, value, unit=""):
    print(f"  {label:<52s} {value:>12s} {unit}")


def fmt(x, prec=1):
    return "n/a" if x is None else f"{x:.{prec}f}"


def summarize(outdir):
    status = load(outdir, "status.csv")
    if status:
        print("steps:")
        for r in status:
            print(f"  {r['step']:<14s} rc={r['rc']:<8s} {r['seconds']:>5s} s")

    info = load(outdir, "mem_bw.csv") or load(outdir, "gemm.csv") or load(outdir, "launch.csv")
    if info:
        r = info[0]
        print(f"gpu: {r.get('gpu')} (cc {r.get('cc')}, {r.get('sms')} SMs), driver {r.get('driver')}, "
              f"CUDA {r.get('cuda_runtime')}, SM clock {r.get('sm_clock_mhz')} MHz, "
              f"memory clock {r.get('mem_clock_mhz')} MHz, {r.get('date_utc')}")

    rows = load(outdir, "mem_bw.csv")
    print("memory bandwidth (GB/s, bytes read + written):")
    if rows:
        for kind in ("read", "write", "copy"):
            cold = [r for r in rows if r["kind"] == kind and r["mode"] == "cold"]
            big = [num(r, "gbps") for r in cold if int(r["size_bytes"]) >= 1 << 30]
            line(f"{kind}, cold, >= 1 GiB buffers (max)", fmt(max(big) if big else None))
            hot = [num(r, "gbps") for r in rows
                   if r["kind"] == kind and r["mode"] == "hot" and int(r["size_bytes"]) == 8 << 20]
            line(f"{kind}, hot (L2-resident), 8 MiB", fmt(hot[0] if hot else None))
    else:
        print("  (no mem_bw.csv)")

    rows = load(outdir, "gemm.csv")
    print("GEMM (cuBLASLt):")
    if rows:
        for dtype in ("bf16", "fp8e4m3"):
            d = [r for r in rows if r["dtype"] == dtype and r.get("status") in ("ok", "partial")]
            if not d:
                continue
            best = max(d, key=lambda r: num(r, "tflops") or 0)
            line(f"{dtype} max TFLOP/s ({best['M']}x{best['N']}x{best['K']})", fmt(num(best, "tflops")))
            for op in ("llama-3-8b/tp1/gate_up", "llama-3-70b/tp1/down"):
                for m in ("1", "16384"):
                    hit = [r for r in d if op in r["model_shapes"].split(";") and r["M"] == m]
                    if hit:
                        line(f"{dtype} {op} M={m} (us | TFLOP/s)",
                             f"{fmt(num(hit[0], 'time_us'))} | {fmt(num(hit[0], 'tflops'))}")
        bad = [r for r in rows if r.get("status") not in ("ok",)]
        if bad:
            line("points not ok", str(len(bad)))
    else:
        print("  (no gemm.csv)")

    rows = load(outdir, "launch.csv")
    print("launch / synchronisation (us):")
    if rows:
        def get(test, nodes=None, nbytes=None):
            for r in rows:
                if r["test"] == test and (nodes is None or r["nodes"] == str(nodes)) and \
                        (nbytes is None or r["bytes"] == str(nbytes)):
                    return num(r, "time_us")
            return None
        for t in ("launch_host_enqueue", "launch_gpu_back_to_back", "launch_gpu_back_to_back_grid",
                  "launch_sync_roundtrip", "stream_sync_idle"):
            line(t, fmt(get(t), 2))
        pts = [(int(r["nodes"]), num(r, "time_us")) for r in rows if r["test"] == "graph_gpu_replay"]
        if len(pts) >= 2:
            n = len(pts)
            mx = sum(p[0] for p in pts) / n
            my = sum(p[1] for p in pts) / n
            sxx = sum((p[0] - mx) ** 2 for p in pts)
            slope = sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx
            line("graph replay: per node (slope)", fmt(slope, 3))
            line("graph replay: per graph (intercept)", fmt(my - slope * mx, 2))
        line("graph_launch_sync, 1 node", fmt(get("graph_launch_sync", 1), 2))
        line("memcpy D2H pinned, 4 bytes", fmt(get("memcpy_d2h_pinned", nbytes=4), 2))
    else:
        print("  (no launch.csv)")

    rows = load(outdir, "elementwise.csv")
    print("elementwise (cold):")
    if rows:
        ops = []
        for r in rows:
            key = (r["op"], r["width"])
            if key not in ops:
                ops.append(key)
        for op, width in ops:
            d = [r for r in rows if r["op"] == op and r["width"] == width and r["mode"] == "cold"]
            t1 = [num(r, "time_us") for r in d if r["tokens"] == "1"]
            g = [num(r, "gbps") for r in d]
            line(f"{op} w={width}: T=1 us | max GB/s",
                 f"{fmt(t1[0] if t1 else None, 2)} | {fmt(max(g) if g else None)}")
    else:
        print("  (no elementwise.csv)")

    rows = load(outdir, "attention.csv")
    print("attention (PyTorch flash):")
    if rows:
        pre = [r for r in rows if r["phase"] == "prefill" and r["tp"] == "1"]
        if pre:
            best = max(pre, key=lambda r: num(r, "tflops") or 0)
            line(f"prefill tp1 max TFLOP/s (B={best['batch']} S={best['q_len']})", fmt(num(best, "tflops")))
            line("prefill kernel", pre[0]["kernel"])
        dec = [r for r in rows if r["phase"] == "decode" and r["tp"] == "1"]
        if dec:
            bw = [(num(r, "kv_bytes") / num(r, "time_us") / 1e3, r) for r in dec if num(r, "time_us")]
            b, r = max(bw, key=lambda x: x[0])
            line(f"decode tp1 max KV GB/s (B={r['batch']} C={r['kv_len']} uneven={r['uneven']})", fmt(b))
            one = [r for r in dec if r["batch"] == "1" and r["kv_len"] == "128"]
            if one:
                line("decode tp1 B=1 C=128 us", fmt(num(one[0], "time_us"), 2))
            line("decode kernel", dec[0]["kernel"])
    else:
        print("  (no attention.csv)")

    for name in ("llama_step.csv", "llama_step_70b8l.csv"):
        rows = load(outdir, name)
        print(f"validation {name}:")
        if not rows:
            print("  (missing)")
            continue
        for phase, mode, b, sc in (("prefill", "eager", "1", "2048"), ("prefill", "graph", "1", "2048"),
                                   ("prefill", "eager", "8", "2048"), ("prefill", "graph", "8", "2048"),
                                   ("decode", "eager", "1", "512"), ("decode", "graph", "1", "512"),
                                   ("decode", "graph", "64", "2048"), ("decode", "graph", "256", "512")):
            hit = [r for r in rows if r["phase"] == phase and r["mode"] == mode and r["batch"] == b
                   and r["seq_or_ctx"] == sc]
            if hit:
                line(f"{rows[0]['model']} {phase} {mode} B={b} {'S' if phase == 'prefill' else 'C'}={sc} ms",
                     fmt(num(hit[0], "time_ms"), 3))
        line("points", str(len(rows)))
        skipped = load(outdir, name.replace(".csv", "_skipped.csv"))
        if skipped:
            line("skipped (KV does not fit)",
                 " ".join(f"{r['batch']}x{r['seq_or_ctx']}" for r in skipped)[:60])


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    summarize(sys.argv[1])
