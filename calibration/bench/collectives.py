#!/usr/bin/env python3
"""NCCL collectives through torch.distributed, timed as nccl-tests times them.

Launch one process per GPU:

    torchrun --nproc-per-node N calibration/bench/collectives.py --out collectives.csv

Collectives (bf16): all_reduce (in place, S bytes), all_gather_into_tensor (S bytes out,
S/N in per rank), reduce_scatter_tensor (S bytes in, S/N out), and send/recv as a ping-pong
of S bytes between ranks 0 and 1 (the other ranks wait). S runs over powers of 2 (or 4)
from 1 KiB to 1 GiB. Each size is timed

  eager  a loop of `iters` collectives launched from Python between two CUDA events;
  graph  the same `iters` collectives captured once in a CUDA graph and replayed.

time_us is one collective's time: per repetition the slowest rank's (event time / iters),
then the median over repetitions (p10/p90 beside it). Bandwidths follow nccl-tests
(doc/PERFORMANCE.md): algbw = S / time, busbw = algbw * 2(N-1)/N for all-reduce,
* (N-1)/N for all-gather and reduce-scatter, * 1 for send/recv. For send/recv the time is
half a round trip.

NVLink SHARP (multicast) is switched off (NCCL_NVLS_ENABLE=0 unless the environment says
otherwise, before NCCL starts); the value used is in every row.

`--dry-run` prints the plan (sizes, iterations, expected bus factors) without a GPU or
PyTorch; `--self-test` checks the bandwidth maths and the CSV writer offline.
"""

import argparse
import io
import os
import statistics
import sys
import time

COLLECTIVES = ("all_reduce", "all_gather", "reduce_scatter", "send_recv")
MODES = ("eager", "graph")
DTYPE_BYTES = 2  # bf16
KIB = 1024
GIB = 1024 ** 3

COLUMNS = ["n", "collective", "bytes", "dtype", "mode", "iters", "reps", "time_us", "p10_us",
           "p90_us", "algbw_gbs", "busbw_gbs", "torch", "nccl", "nvls", "status"]


# ------------------------------------------------------------ pure maths --
# No torch here: these run under --dry-run and --self-test on any machine.

def message_sizes(min_bytes=KIB, max_bytes=GIB, step=2):
    """Powers of `step` from min_bytes to max_bytes inclusive (bytes)."""
    if step not in (2, 4) or min_bytes <= 0 or max_bytes < min_bytes:
        raise ValueError("sizes: step must be 2 or 4 and 0 < min <= max")
    out, s = [], min_bytes
    while s <= max_bytes:
        out.append(s)
        s *= step
    return out


def bus_factor(collective, n):
    """Bytes each GPU's link carries per byte of message (nccl-tests doc/PERFORMANCE.md)."""
    if collective == "all_reduce":
        return 2.0 * (n - 1) / n
    if collective in ("all_gather", "reduce_scatter"):
        return (n - 1) / n
    if collective == "send_recv":
        return 1.0
    raise ValueError(f"unknown collective {collective!r}; valid: {', '.join(COLLECTIVES)}")


def bandwidths(collective, n, nbytes, seconds):
    """(algbw, busbw) in GB/s (1e9 bytes/s, as nccl-tests prints them)."""
    algbw = nbytes / seconds / 1e9
    return algbw, algbw * bus_factor(collective, n)


def iterations(nbytes, budget_bytes=4 * GIB, lo=5, hi=100):
    """Collectives per timed loop: many for small messages (to see the per-call cost, not the
    event resolution), few for large ones. Depends on the size only, so every rank agrees."""
    return int(max(lo, min(hi, budget_bytes // nbytes)))


def shapes(collective, n, nbytes):
    """(input elements, output elements) per rank for a message of nbytes."""
    elems = nbytes // DTYPE_BYTES
    if collective == "all_gather":
        return elems // n, elems
    if collective == "reduce_scatter":
        return elems, elems // n
    return elems, elems


def valid_size(collective, n, nbytes):
    return nbytes % DTYPE_BYTES == 0 and (nbytes // DTYPE_BYTES) % n == 0


def summarize(per_rep_us):
    """Median, p10 and p90 of the per-repetition times (already the slowest rank's)."""
    xs = sorted(per_rep_us)
    q = lambda f: xs[min(len(xs) - 1, int(round(f * (len(xs) - 1))))]  # noqa: E731
    return statistics.median(xs), q(0.1), q(0.9)


def format_row(meta, values):
    """One CSV line: metadata columns first, then COLUMNS (commas in cells become ';')."""
    cells = list(meta.values()) + [str(values.get(c, "")) for c in COLUMNS]
    return ",".join(str(v).replace(",", ";") for v in cells) + "\n"


def header(meta):
    return ",".join(list(meta.keys()) + COLUMNS) + "\n"


def result_row(n, collective, nbytes, mode, iters, per_rep_us, versions):
    """The CSV values of one measured point."""
    med, p10, p90 = summarize(per_rep_us)
    algbw, busbw = bandwidths(collective, n, nbytes, med * 1e-6)
    return dict(n=n, collective=collective, bytes=nbytes, dtype="bf16", mode=mode, iters=iters,
                reps=len(per_rep_us), time_us=f"{med:.3f}", p10_us=f"{p10:.3f}",
                p90_us=f"{p90:.3f}", algbw_gbs=f"{algbw:.3f}", busbw_gbs=f"{busbw:.3f}",
                status="ok", **versions)


def self_test():
    # 8 GPUs, 1 GiB all-reduce in 6 ms: algbw = 2^30 / 6e-3 / 1e9 = 178.957 GB/s,
    # busbw = algbw * 2 * 7 / 8 = 313.175 GB/s.
    a, b = bandwidths("all_reduce", 8, GIB, 6e-3)
    assert abs(a - 178.957) < 1e-3 and abs(b - 313.175) < 1e-3, (a, b)
    # All-gather on 4 GPUs: busbw = algbw * 3/4.
    a, b = bandwidths("all_gather", 4, 4 * 2 ** 20, 40e-6)
    assert abs(b - a * 0.75) < 1e-12
    assert bandwidths("send_recv", 2, KIB, 1e-6)[0] == bandwidths("send_recv", 2, KIB, 1e-6)[1]
    sizes = message_sizes()
    assert sizes[0] == KIB and sizes[-1] == GIB and len(sizes) == 21
    assert message_sizes(step=4) == [KIB * 4 ** k for k in range(11)]
    assert iterations(KIB) == 100 and iterations(GIB) == 5 and iterations(64 * 2 ** 20) == 64
    assert shapes("all_gather", 8, 8 * KIB) == (512, 4096)
    assert shapes("reduce_scatter", 8, 8 * KIB) == (4096, 512)
    assert all(valid_size(c, n, s) for c in COLLECTIVES for n in (2, 4, 8) for s in sizes)
    assert summarize([3.0, 1.0, 2.0, 5.0, 4.0]) == (3.0, 1.0, 5.0)
    meta = {"gpu": "NVIDIA H200", "driver": "580.1"}
    row = result_row(8, "all_reduce", GIB, "graph", 5, [6000.0, 6100.0, 5900.0],
                     dict(torch="2.11", nccl="2.27.3", nvls="0"))
    buf = io.StringIO()
    buf.write(header(meta))
    buf.write(format_row(meta, row))
    lines = buf.getvalue().splitlines()
    cols = lines[0].split(",")
    cells = dict(zip(cols, lines[1].split(",")))
    assert len(cols) == len(lines[1].split(",")) == 2 + len(COLUMNS)
    assert cells["time_us"] == "6000.000" and cells["busbw_gbs"] == "313.175", cells
    assert cells["nvls"] == "0" and cells["mode"] == "graph" and cells["bytes"] == str(GIB)
    print("collectives.py self-test: ok")


def print_plan(args, n):
    sizes = message_sizes(args.min_bytes, args.max_bytes, args.step)
    print(f"plan: {n} GPUs, NCCL_NVLS_ENABLE={os.environ.get('NCCL_NVLS_ENABLE', '0')}, "
          f"modes {','.join(args.modes)}, {args.reps} repetitions per point")
    for c in args.collectives:
        used = 2 if c == "send_recv" else n
        print(f"  {c}: {used} GPUs, bus factor {bus_factor(c, used):.4f}")
        for s in sizes:
            note = "" if valid_size(c, used, s) else "  (skipped: not divisible by the GPUs)"
            print(f"    {s:>11d} B  iters {iterations(s):>3d}  in/out elements per rank "
                  f"{shapes(c, used, s)}{note}")


# --------------------------------------------------------------- on GPUs --

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="collectives.csv")
    ap.add_argument("--collectives", default=",".join(COLLECTIVES))
    ap.add_argument("--modes", default="eager,graph")
    ap.add_argument("--min-bytes", type=int, default=KIB)
    ap.add_argument("--max-bytes", type=int, default=GIB)
    ap.add_argument("--step", type=int, default=2, choices=(2, 4), help="size ratio")
    ap.add_argument("--reps", type=int, default=7, help="timed repetitions per point")
    ap.add_argument("--max-seconds", type=float, default=1e9,
                    help="stop starting new points after this many seconds")
    ap.add_argument("--dry-run", action="store_true", help="print the plan and exit")
    ap.add_argument("--gpus", type=int, default=0, help="GPU count for --dry-run")
    ap.add_argument("--self-test", action="store_true", help="check the maths offline and exit")
    args = ap.parse_args()
    args.collectives = [c for c in args.collectives.split(",") if c]
    args.modes = [m for m in args.modes.split(",") if m]
    for c in args.collectives:
        bus_factor(c, 2)  # raises on an unknown name
    for m in args.modes:
        if m not in MODES:
            sys.exit(f"--modes: unknown mode {m!r}; valid: {', '.join(MODES)}")
    if args.self_test:
        self_test()
        return
    if args.dry_run:
        print_plan(args, args.gpus or int(os.environ.get("WORLD_SIZE", "8")))
        return
    run(args)


def run(args):
    # Multicast (NVLS) off before NCCL initialises; keep what the caller set, and record it.
    os.environ.setdefault("NCCL_NVLS_ENABLE", "0")
    import torch
    import torch.distributed as dist

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_meta import device_meta

    local = int(os.environ.get("LOCAL_RANK", "0"))
    torch.cuda.set_device(local)
    dist.init_process_group("nccl", device_id=torch.device("cuda", local))
    rank, n = dist.get_rank(), dist.get_world_size()
    if n < 2:
        sys.exit("collectives.py: run under torchrun with --nproc-per-node 2 or more")
    nccl = ".".join(str(x) for x in torch.cuda.nccl.version())
    versions = dict(torch=torch.__version__, nccl=nccl, nvls=os.environ["NCCL_NVLS_ENABLE"])
    out = None
    if rank == 0:
        meta = device_meta()
        out = open(args.out, "w")
        out.write(header(meta))
        out.flush()
        print(f"collectives: {n} x {meta['gpu']}, torch {torch.__version__}, NCCL {nccl}, "
              f"NCCL_NVLS_ENABLE={versions['nvls']}", flush=True)
    deadline = time.time() + args.max_seconds
    dev = torch.device("cuda", local)

    def slowest(us):
        """The largest of the ranks' values (every rank gets it)."""
        t = torch.tensor([us], dtype=torch.float64, device=dev)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return t.item()

    def op_for(c, inp, outp):
        if c == "all_reduce":
            return lambda: dist.all_reduce(inp)
        if c == "all_gather":
            return lambda: dist.all_gather_into_tensor(outp, inp)
        if c == "reduce_scatter":
            return lambda: dist.reduce_scatter_tensor(outp, inp)

        # send/recv: a round trip between ranks 0 and 1; time is halved below.
        def ping_pong():
            if rank == 0:
                dist.send(inp, 1)
                dist.recv(outp, 1)
            elif rank == 1:
                dist.recv(outp, 0)
                dist.send(inp, 0)
        return ping_pong

    def timed_loop(fn, iters):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        fn(iters)
        e.record()
        e.synchronize()
        return s.elapsed_time(e) * 1e3 / iters  # us per collective

    def measure(c, nbytes, mode):
        ni, no = shapes(c, n, nbytes)
        inp = torch.ones(ni, dtype=torch.bfloat16, device=dev)
        outp = torch.empty(no, dtype=torch.bfloat16, device=dev)
        one = op_for(c, inp, outp)
        iters = iterations(nbytes)
        for _ in range(3):  # warm-up (and the communicator's first use)
            one()
        torch.cuda.synchronize()
        if mode == "eager":
            def loop(k):
                for _ in range(k):
                    one()
            run_once = loop
        else:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                one()
            torch.cuda.current_stream().wait_stream(side)
            torch.cuda.synchronize()
            dist.barrier()
            g = torch.cuda.CUDAGraph()
            with torch.cuda.graph(g):
                for _ in range(iters):
                    one()
            g.replay()  # warm replay
            torch.cuda.synchronize()
            run_once = lambda k: g.replay()  # noqa: E731
        per_rep = []
        for _ in range(args.reps):
            dist.barrier()
            torch.cuda.synchronize()
            us = timed_loop(run_once, iters)
            if c == "send_recv":
                us /= 2.0  # one round trip = two messages
            per_rep.append(slowest(us))
        del inp, outp
        return iters, per_rep

    torch_sizes = message_sizes(args.min_bytes, args.max_bytes, args.step)
    for c in args.collectives:
        for mode in args.modes:
            for nbytes in torch_sizes:
                if time.time() > deadline:
                    break
                if not valid_size(c, n, nbytes):
                    continue
                status, row = "ok", None
                try:
                    iters, per_rep = measure(c, nbytes, mode)
                    # send/recv involves ranks 0 and 1 only: report it as a 2-GPU point.
                    row = result_row(2 if c == "send_recv" else n, c, nbytes, mode, iters,
                                     per_rep, versions)
                except Exception as ex:  # noqa: BLE001 - record and go on to the next point
                    status = f"failed: {type(ex).__name__}: {str(ex)[:120]}"
                    row = dict(n=n, collective=c, bytes=nbytes, dtype="bf16", mode=mode,
                               status=status, **versions)
                if rank == 0:
                    out.write(format_row(meta, row))
                    out.flush()
                    print(f"{c:14s} {mode:5s} {nbytes:>11d} B  {row.get('time_us', '-'):>10s} us"
                          f"  busbw {row.get('busbw_gbs', '-'):>9s} GB/s  {status}", flush=True)
                if status != "ok" and mode == "graph":
                    break  # capture of this collective fails at every size; go on
            torch.cuda.empty_cache()
    torch.cuda.synchronize()
    dist.barrier()
    if rank == 0:
        out.close()
        print(f"collectives: wrote {args.out}", flush=True)
    # destroy_process_group can hang after NCCL work was captured in CUDA graphs
    # (pytorch/pytorch#115388); the results are written, so leave without it.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
