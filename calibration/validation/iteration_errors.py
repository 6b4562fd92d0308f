#!/usr/bin/env python3
"""Compares `servesim step` predictions with every iteration of a measured
continuous-batching run (an iterations CSV:
start_s,end_s,tokens,seqs,prefill_tokens,prefill_seqs,decode_seqs,decode_ctx_sum,max_ctx,graph
with graph `d` = decode-only, `m` = mixed), and reports the host gap between iterations.

    python3 iteration_errors.py iterations.csv [--host-ms X] [--scale S] [--out per_iter.csv]

How each iteration becomes a `servesim step` batch (the approximations):
  * decodes: decode_seqs sequences at the mean context, `--decode BxC` with
    C = decode_ctx_sum / decode_seqs. servesim's C is the cached tokens (it attends C+1 keys).
    The CSV's decode contexts are checked against max_ctx on one-sequence decode iterations:
    when max_ctx = ctx + 1 the column already counts cached tokens and C = ctx; when
    max_ctx = ctx it counts the new token too and C = ctx - 1 (--ctx-convention overrides).
    Using the mean context for every decode is exact for work linear in context (KV reads),
    not for per-sequence effects (KV split choices, tile rounding).
  * prefill (mixed iterations): prefill_seqs chunks, each `--seq Q@C`. With a trace of the
    run (arrival_s,prompt_tokens,...; `--trace`, or found beside the iterations file as
    trace_<suffix>.csv) the chunks are rebuilt exactly by replaying the scheduler's order:
    the running, partly prefilled prompt first (its Q new tokens after the C it already has),
    then waiting prompts in arrival order, the last one cut to what is left of the
    iteration's prefill tokens. The rebuild is checked against prefill_seqs and max_ctx;
    if it fails, or with --no-trace, each chunk gets prefill_tokens / prefill_seqs new tokens
    after C = 0 cached (this overstates nothing in GEMMs but understates the attention of
    continued chunks).
  * contexts (and prefill chunk lengths) are rounded to --ctx-round / --q-round tokens so
    that identical shapes are costed once; both are doubled until at most --max-calls
    distinct shapes remain.
  * CUDA graphs: the measured engine replays a graph for every iteration, mixed ones
    included. `servesim step --cuda-graphs on` replays graphs only for decode-only batches;
    mixed batches are costed eagerly (step_eager + max(GPU, kernels x launch)). The
    prediction uses what step prints; --mixed-graphs reprices mixed batches as graph replays
    (step_graphs + GPU + kernels x graph_node, from the calibration file) to show the effect.

Prediction = scale x gpu_ms + overhead_ms + host_ms, where gpu_ms (sum of the op times) and
overhead_ms (graph launch, or eager launch/CPU time not hidden under the GPU; negative
under graphs when graph replay is cheaper per kernel than the fitted kernel latency) are
the step JSON's keys, and host_ms stands for the engine's own host work per iteration
(servesim's engine.cpu_overhead_ms). Under eager pricing the overhead is recomputed as
step_eager + max(0, kernels x launch - scale x gpu) when the calibration is known.
Measured = end_s - start_s of the iteration.
"""

import argparse
import csv
import json
import math
import os
import re
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

BUCKETS = [(1, 1, "1"), (2, 8, "2-8"), (9, 32, "9-32"), (33, 64, "33-64"), (65, 10**9, "65+")]
PREFILL_BUCKETS = [(1, 255, "1-255"), (256, 1023, "256-1023"), (1024, 2047, "1024-2047"),
                   (2048, 10**9, "2048+")]


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    pos = p / 100 * (len(xs) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def load_iterations(path):
    rows = []
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            rows.append({
                "start_s": float(r["start_s"]), "end_s": float(r["end_s"]),
                "tokens": int(r["tokens"]), "seqs": int(r["seqs"]),
                "prefill_tokens": int(r["prefill_tokens"]), "prefill_seqs": int(r["prefill_seqs"]),
                "decode_seqs": int(r["decode_seqs"]), "decode_ctx_sum": int(r["decode_ctx_sum"]),
                "max_ctx": int(r["max_ctx"]), "graph": r["graph"].strip(),
            })
    if not rows:
        sys.exit(f"{path}: no iterations")
    return rows


def load_trace(path):
    with open(path, newline="") as f:
        recs = [(float(r["arrival_s"]), i, int(r["prompt_tokens"]))
                for i, r in enumerate(csv.DictReader(f))]
    recs.sort()
    return [p for _, _, p in recs]


def find_trace(iterations_path):
    d, base = os.path.split(os.path.abspath(iterations_path))
    m = re.match(r"iterations(.*)\.csv$", base)
    if not m:
        return None
    cand = os.path.join(d, f"trace{m.group(1)}.csv")
    return cand if os.path.exists(cand) else None


def ctx_convention(rows):
    """'cached' when the CSV's decode contexts exclude the token being decoded."""
    cached = total = 0
    for r in rows:
        if r["graph"] == "d" and r["decode_seqs"] == 1:
            if r["max_ctx"] == r["decode_ctx_sum"] + 1:
                cached += 1
            elif r["max_ctx"] == r["decode_ctx_sum"]:
                total += 1
    return ("cached" if cached >= total else "total"), cached, total


def rebuild_prefill(rows, prompts):
    """Exact (Q, C) chunks per iteration by replaying the scheduler's prefill order.
    Returns (chunks per row or None, error message or None)."""
    out = [None] * len(rows)
    nxt = 0
    partial = None  # [prompt_len, done]
    for i, r in enumerate(rows):
        left, n = r["prefill_tokens"], r["prefill_seqs"]
        if n == 0:
            if left:
                return None, f"iteration {i}: prefill tokens without prefill sequences"
            if partial is not None:
                return None, f"iteration {i}: no prefill although a prompt is partly prefilled"
            out[i] = []
            continue
        chunks = []
        if partial is not None:
            q = min(left, partial[0] - partial[1])
            chunks.append((q, partial[1]))
            partial[1] += q
            left -= q
            if partial[1] == partial[0]:
                partial = None
        while len(chunks) < n:
            if nxt >= len(prompts) or left <= 0:
                return None, f"iteration {i}: the trace's prompts do not fill {n} prefill sequences"
            p = prompts[nxt]
            nxt += 1
            q = min(left, p)
            chunks.append((q, 0))
            left -= q
            if q < p:
                if partial is not None:
                    return None, f"iteration {i}: two prompts cut in one iteration"
                partial = [p, q]
        if left != 0:
            return None, f"iteration {i}: {left} prefill tokens left over after {n} sequences"
        if max(q + c for q, c in chunks) > r["max_ctx"]:
            return None, f"iteration {i}: a rebuilt chunk ends past max_ctx {r['max_ctx']}"
        out[i] = chunks
    return out, None


def equal_split(tokens, n):
    base, extra = divmod(tokens, n)
    return [(base + (1 if k < extra else 0), 0) for k in range(n)]


def rnd(x, g):
    return int(round(x / g)) * g if g > 1 else int(round(x))


def shape_key(r, chunks, dec_ctx, ctx_g, q_g):
    pre = []
    for q, c in chunks:
        qr = q if q <= q_g else rnd(q, q_g)
        pre.append((qr, rnd(c, ctx_g)))
    b = r["decode_seqs"]
    c = max(0, rnd(dec_ctx, ctx_g)) if b else 0
    return (tuple(sorted(pre)), b, c)


def step_args(key):
    pre, b, c = key
    a = []
    for q, cc in pre:
        a += ["--seq", f"{q}@{cc}"]
    if b:
        a += ["--decode", f"{b}x{c}"]
    return a


def shape_text(key):
    pre, b, c = key
    parts = [f"{q}@{cc}" for q, cc in pre]
    if b:
        parts.append(f"{b}x{c}")
    return " ".join(parts)


def read_calibration(path):
    """step_eager, step_graphs, launch, graph_node (ms) from a calibration TOML's [params]."""
    want = {"step_eager", "step_graphs", "launch", "graph_node"}
    scale = {"s": 1e3, "ms": 1.0, "us": 1e-3, "ns": 1e-6}
    got, section = {}, None
    try:
        with open(path) as f:
            for line in f:
                line = line.split("#", 1)[0].strip()
                m = re.match(r"\[(.+)\]$", line)
                if m:
                    section = m.group(1).strip()
                    continue
                m = re.match(r'(\w+)\s*=\s*"\s*([-+0-9.eE]+)\s*(s|ms|us|ns)\s*"$', line)
                if section == "params" and m and m.group(1) in want:
                    got[m.group(1)] = float(m.group(2)) * scale[m.group(3)]
    except OSError:
        return None
    return got if want <= set(got) else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("iterations", help="iterations CSV of a measured run")
    ap.add_argument("--servesim", default=os.path.join(ROOT, "build", "servesim"))
    ap.add_argument("--model", default="llama-3-8b")
    ap.add_argument("--gpu", default="h200")
    ap.add_argument("--calibration", default=None,
                    help="passed to step --calibration (default: the GPU's own file)")
    ap.add_argument("--cuda-graphs", default="on", choices=["on", "off"])
    ap.add_argument("--host-ms", type=float, default=0.0, help="added to every prediction")
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies the GPU part (gpu_ms)")
    ap.add_argument("--mixed-graphs", action="store_true",
                    help="reprice mixed batches as CUDA-graph replays (as the engine ran them)")
    ap.add_argument("--trace", default=None, help="the run's trace CSV, to rebuild prefill chunks")
    ap.add_argument("--no-trace", action="store_true", help="equal chunks after 0 cached tokens")
    ap.add_argument("--ctx-convention", default="auto", choices=["auto", "cached", "total"],
                    help="whether decode_ctx_sum counts cached tokens or cached + the new one")
    ap.add_argument("--ctx-round", type=int, default=16)
    ap.add_argument("--q-round", type=int, default=16)
    ap.add_argument("--max-calls", type=int, default=500)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 4)
    ap.add_argument("--out", default=None, help="per-iteration CSV")
    args = ap.parse_args()

    rows = load_iterations(args.iterations)
    n = len(rows)
    print(f"iterations: {args.iterations} ({n} rows, "
          f"{sum(r['graph'] == 'd' for r in rows)} decode-only, "
          f"{sum(r['graph'] != 'd' for r in rows)} mixed)")

    # Decode context convention.
    conv, n_cached, n_total = ctx_convention(rows)
    if args.ctx_convention != "auto":
        conv = args.ctx_convention
    minus = 1 if conv == "total" else 0
    print(f"decode contexts: decode_ctx_sum read as {conv} tokens "
          f"(one-sequence decodes: {n_cached} with max_ctx = ctx+1, {n_total} with max_ctx = ctx); "
          f"--decode BxC uses C = mean ctx{' - 1' if minus else ''} (step attends C+1 keys)")

    # Prefill chunks.
    chunks, how = None, None
    trace = None if args.no_trace else (args.trace or find_trace(args.iterations))
    if trace:
        chunks, err = rebuild_prefill(rows, load_trace(trace))
        if chunks is None:
            print(f"prefill chunks: rebuild from {trace} failed ({err}); falling back")
        else:
            how = f"rebuilt exactly from {trace} (scheduler order, checked against prefill_seqs/max_ctx)"
    if chunks is None:
        chunks = [equal_split(r["prefill_tokens"], r["prefill_seqs"]) if r["prefill_seqs"] else []
                  for r in rows]
        how = "APPROXIMATION: prefill_tokens/prefill_seqs new tokens per chunk, C = 0 cached"
    print(f"prefill chunks: {how}")
    cont = sum(1 for ch in chunks for q, c in ch if c > 0)
    print(f"  {sum(len(ch) for ch in chunks)} chunks, {cont} of them continue a partly prefilled prompt")

    dec_ctx = [(r["decode_ctx_sum"] / r["decode_seqs"] - minus) if r["decode_seqs"] else 0.0
               for r in rows]

    # Distinct shapes, coarsening the rounding until few enough.
    ctx_g, q_g = max(1, args.ctx_round), max(1, args.q_round)
    while True:
        keys = [shape_key(r, chunks[i], dec_ctx[i], ctx_g, q_g) for i, r in enumerate(rows)]
        distinct = sorted(set(keys))
        if len(distinct) <= args.max_calls or ctx_g >= 4096:
            break
        ctx_g, q_g = ctx_g * 2, q_g * 2
    n_dec = len({k for k, r in zip(keys, rows) if r["graph"] == "d"})
    print(f"shapes: {len(distinct)} distinct ({n_dec} decode-only) with contexts rounded to "
          f"{ctx_g} tokens, prefill chunks longer than {q_g} rounded to {q_g}")

    base = [args.servesim, "step", "--model", args.model, "--gpu", args.gpu,
            "--cuda-graphs", args.cuda_graphs, "--json"]
    if args.calibration:
        args.calibration = os.path.abspath(args.calibration)
        base += ["--calibration", args.calibration]

    def run(key):
        p = subprocess.run(base + step_args(key), capture_output=True, text=True, cwd=ROOT)
        if p.returncode != 0:
            raise RuntimeError(f"servesim step {' '.join(step_args(key))}: {p.stderr.strip()}")
        j = json.loads(p.stdout)
        return {"total_ms": j["total_ms"], "gpu_ms": j["gpu_ms"], "overhead_ms": j["overhead_ms"],
                "kernels": j["kernels"], "graphs": bool(j["cuda_graphs"]),
                "calibration": j.get("calibration", "")}

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = dict(zip(distinct, pool.map(run, distinct)))
    cal_desc = next(iter(results.values()))["calibration"]
    print(f"servesim step: {len(distinct)} calls, calibration {cal_desc}")

    # Calibration constants, to reprice eager batches under --scale and mixed ones as graphs.
    cal_path = args.calibration or os.path.join(ROOT, "calibration", "results", f"{args.gpu}.toml")
    cal = read_calibration(cal_path)
    if cal:
        bad = 0
        for res in results.values():
            if res["graphs"]:
                o = cal["step_graphs"] + res["kernels"] * cal["graph_node"]
            else:
                o = cal["step_eager"] + max(0.0, res["kernels"] * cal["launch"] - res["gpu_ms"])
            bad += abs(o - res["overhead_ms"]) > 1e-3
        if bad:
            print(f"calibration {cal_path}: its constants do not reproduce {bad} overheads; not used")
            cal = None
    if args.mixed_graphs and not cal:
        sys.exit("--mixed-graphs needs the calibration's step_graphs and graph_node "
                 f"(could not read them from {cal_path})")
    eager_launch_bound = sum(1 for r in results.values()
                             if not r["graphs"] and cal and r["kernels"] * cal["launch"] > r["gpu_ms"])
    g_mixed = sum(1 for k, r in zip(keys, rows) if r["graph"] != "d" and results[k]["graphs"])
    print(f"CUDA graphs in step: decode-only {'on' if args.cuda_graphs == 'on' else 'off'}; mixed "
          f"batches costed {'as graph replays (--mixed-graphs)' if args.mixed_graphs else 'eagerly'}"
          f" ({g_mixed} mixed shapes graphed by step itself; {eager_launch_bound} eager shapes launch-bound)")
    print(f"prediction = {args.scale:g} x gpu_ms + overhead_ms + {args.host_ms:g} ms host")

    def predict(key, graph):
        res = results[key]
        gpu = args.scale * res["gpu_ms"]
        over = res["overhead_ms"]
        graphed = res["graphs"]
        if cal and args.mixed_graphs and graph != "d" and not graphed:
            over, graphed = cal["step_graphs"] + res["kernels"] * cal["graph_node"], True
        elif cal and not graphed:
            over = cal["step_eager"] + max(0.0, res["kernels"] * cal["launch"] - gpu)
        return gpu + over + args.host_ms, gpu, over, graphed

    recs = []
    for i, (r, k) in enumerate(zip(rows, keys)):
        meas = (r["end_s"] - r["start_s"]) * 1e3
        pred, gpu, over, graphed = predict(k, r["graph"])
        recs.append({"i": i, "r": r, "key": k, "meas": meas, "pred": pred, "gpu": gpu,
                     "over": over, "graphed": graphed, "err": 100.0 * (pred - meas) / meas})

    hdr = (f"{'group':<22}{'n':>6}{'med err%':>10}{'med |err|%':>12}{'P90 |err|%':>12}"
           f"{'meas ms':>10}{'pred ms':>10}")

    def line(name, sel):
        if not sel:
            return f"{name:<22}{0:>6}"
        e = [x["err"] for x in sel]
        a = [abs(v) for v in e]
        return (f"{name:<22}{len(sel):>6}{statistics.median(e):>+10.1f}{statistics.median(a):>12.1f}"
                f"{pct(a, 90):>12.1f}{statistics.mean(x['meas'] for x in sel):>10.3f}"
                f"{statistics.mean(x['pred'] for x in sel):>10.3f}")

    dec = [x for x in recs if x["r"]["graph"] == "d"]
    mix = [x for x in recs if x["r"]["graph"] != "d"]
    print("\nerror = (predicted - measured) / measured")
    print(hdr)
    print(line("decode-only", dec))
    print(line("mixed", mix))
    print(line("all", recs))
    print("\ndecode-only by decode batch")
    print(hdr)
    for lo, hi, name in BUCKETS:
        print(line(f"batch {name}", [x for x in dec if lo <= x["r"]["decode_seqs"] <= hi]))
    print("\nmixed by prefill tokens")
    print(hdr)
    for lo, hi, name in PREFILL_BUCKETS:
        print(line(f"prefill {name}", [x for x in mix if lo <= x["r"]["prefill_tokens"] <= hi]))

    gaps = [(rows[i + 1]["start_s"] - rows[i]["end_s"]) * 1e3 for i in range(n - 1)]
    busy = sum(x["meas"] for x in recs)
    span = (rows[-1]["end_s"] - rows[0]["start_s"]) * 1e3
    if gaps:
        loop = [x["meas"] + g for x, g in zip(recs, gaps)]
        big = sum(g > 1.0 for g in gaps)
        print(f"\nhost gap (next start - end), ms: median {statistics.median(gaps):.3f}  "
              f"P90 {pct(gaps, 90):.3f}  mean {statistics.mean(gaps):.3f}  max {max(gaps):.3f}  "
              f"({big} gaps over 1 ms: idle engine)")
        ng = [g for g in gaps if g <= 1.0]
        if ng and big:
            print(f"host gap without idle gaps (<= 1 ms): median {statistics.median(ng):.3f}  "
                  f"P90 {pct(ng, 90):.3f}  mean {statistics.mean(ng):.3f}")
        print(f"engine loop (iteration + gap), ms: median {statistics.median(loop):.3f}; "
              f"iterations cover {busy:.0f} of the {span:.0f} ms span ({100 * busy / span:.1f}%)")

    if args.out:
        with open(args.out, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["iteration", "graph", "tokens", "seqs", "prefill_tokens", "prefill_seqs",
                        "decode_seqs", "decode_ctx_mean", "step_batch", "step_graphs",
                        "measured_ms", "predicted_ms", "gpu_ms", "overhead_ms", "host_ms",
                        "error_pct", "gap_after_ms"])
            for x in recs:
                r = x["r"]
                gap = gaps[x["i"]] if x["i"] < len(gaps) else ""
                w.writerow([x["i"], r["graph"], r["tokens"], r["seqs"], r["prefill_tokens"],
                            r["prefill_seqs"], r["decode_seqs"],
                            f"{dec_ctx[x['i']]:.1f}", shape_text(x["key"]), int(x["graphed"]),
                            f"{x['meas']:.4f}", f"{x['pred']:.4f}", f"{x['gpu']:.4f}",
                            f"{x['over']:.4f}", f"{args.host_ms:g}", f"{x['err']:.2f}",
                            f"{gap:.4f}" if gap != "" else ""])
        print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
