"""Run metadata (GPU, driver, CUDA, clocks, date) and the CSV writer shared by the
calibration suite's Python benchmarks: every row carries the metadata columns first, as the
CUDA benchmarks' rows do (calibration/README.md)."""

import datetime
import os
import subprocess

import torch

def _nvidia_smi(field):
    try:
        out = subprocess.run(
            ["nvidia-smi", f"--query-gpu={field}", "--format=csv,noheader,nounits", "-i", "0"],
            capture_output=True, text=True, timeout=20)
        v = out.stdout.strip().splitlines()
        return v[0].strip() if out.returncode == 0 and v else ""
    except Exception:  # noqa: BLE001 - nvidia-smi is optional
        return ""


def _driver_version():
    if os.environ.get("BENCH_DRIVER"):
        return os.environ["BENCH_DRIVER"]
    v = _nvidia_smi("driver_version")
    if v:
        return v
    try:
        with open("/proc/driver/nvidia/version") as f:
            line = f.readline()
        parts = line.split("Kernel Module")
        if len(parts) > 1:
            return parts[1].split()[0]
    except OSError:
        pass
    return "unknown"


def device_meta():
    p = torch.cuda.get_device_properties(0)
    env = os.environ.get
    meta = {
        "gpu": env("BENCH_GPU") or p.name,
        "cc": f"{p.major}.{p.minor}",
        "sms": p.multi_processor_count,
        "l2_bytes": getattr(p, "L2_cache_size", 0),
        "mem_bytes": p.total_memory,
        "driver": _driver_version(),
        "cuda_runtime": torch.version.cuda or "",
        "cuda_driver_api": env("BENCH_CUDA_DRIVER_API", ""),
        "sm_clock_mhz": env("BENCH_SM_CLOCK_MHZ") or _nvidia_smi("clocks.max.sm"),
        "mem_clock_mhz": env("BENCH_MEM_CLOCK_MHZ") or _nvidia_smi("clocks.max.mem"),
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    return {k: str(v).replace(",", " ") for k, v in meta.items()}


class Csv:
    def __init__(self, path, meta, cols):
        self.f = open(path, "w")
        self.meta = meta
        self.cols = cols
        self.f.write(",".join(list(meta.keys()) + cols) + "\n")
        self.f.flush()

    def row(self, **kv):
        vals = list(self.meta.values()) + [str(kv.get(c, "")) for c in self.cols]
        self.f.write(",".join(v.replace(",", ";") for v in vals) + "\n")
        self.f.flush()
