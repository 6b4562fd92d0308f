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
    The mean context is exact for the KV bytes but drops the contexts' spread, which the step
    model's decode attention prices (a CV^2 term). --decode-ctx max puts one decode at the
    longest context (max_ctx - 1) and the rest at their mean; --decode-ctx moments uses two
    groups with the exact count, sum and sum of squares of the replayed contexts (below),
    which is all the step model's attention depends on.
  * prefill (mixed iterations): prefill_seqs chunks, each `--seq Q@C`. With a trace of the
    run (arrival_s,prompt_tokens,output_tokens; `--trace`, or found beside the iterations
    file as trace_<suffix>.csv) the run is replayed through the scheduler's order: the
    partly prefilled prompt first (its Q new tokens after the C it already has), then
    waiting prompts in arrival order, the last one cut to what is left of the iteration's
    prefill tokens; every prefilled request then decodes once per iteration until it has
    its output. The replay is checked against prefill_seqs, prefill_tokens, decode_seqs,
    decode_ctx_sum and max_ctx. Without a trace (or with --no-trace, or if the replay fails)
    each chunk is APPROXIMATED as prefill_tokens / prefill_seqs new tokens after C = 0
    cached, which misses the attention of continued chunks over their earlier part.
  * shapes are deduplicated: decode-only contexts rounded to --ctx-round tokens (16), doubled
    up to 256 until at most --max-calls (600) distinct shapes remain; in mixed iterations
    contexts are rounded to --mixed-ctx-round (64) and prefill chunks to a power-of-two step
    of at most 1/--q-rel (1/32) of their length (coarsened further only if still too many).
    Mixed iterations are nearly all distinct (~400 here), so they set the floor.
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
    """(prompt_tokens, output_tokens) of each request, in arrival order."""
    with open(path, newline="") as f:
        recs = [(float(r["arrival_s"]), i, int(r["prompt_tokens"]), int(r["output_tokens"]))
                for i, r in enumerate(csv.DictReader(f))]
    recs.sort()
    return [(p, o) for _, _, p, o in recs]


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


def replay(rows, reqs):
    """Replays the scheduler over the trace's requests (arrival order, no preemption):
    every running request whose prompt is done decodes each iteration (output_tokens - 1
    decodes; the first token comes with the prompt's last chunk); the partly prefilled prompt
    goes first, then waiting prompts in arrival order, the last one cut to what is left of
    the iteration's prefill tokens.
    Returns (chunks, decode contexts, message): chunks[i] = [(Q, C), ...] per iteration and
    contexts[i] = the cached tokens of each decode, each None when the replay disagrees with
    the CSV (prefill_seqs, prefill tokens, max_ctx; decode_seqs, decode_ctx_sum)."""
    chunks, ctxs = [], []
    done = [0] * len(reqs)     # prompt tokens prefilled
    decoded = [0] * len(reqs)  # decode steps run
    running = []               # prompt done, decodes left
    nxt, partial = 0, None
    dec_ok, msg = True, None
    for i, r in enumerate(rows):
        c = [reqs[k][0] + decoded[k] for k in running]
        if dec_ok and (len(c) != r["decode_seqs"] or sum(c) != r["decode_ctx_sum"]):
            dec_ok, msg = False, (f"iteration {i}: replayed decodes {len(c)} / ctx {sum(c)}, "
                                  f"CSV {r['decode_seqs']} / {r['decode_ctx_sum']}")
        ctxs.append(c)
        for k in running:
            decoded[k] += 1
        running = [k for k in running if decoded[k] < reqs[k][1] - 1]
        left, n = r["prefill_tokens"], r["prefill_seqs"]
        ch, finished = [], []
        if n and partial is not None:
            k = partial
            q = min(left, reqs[k][0] - done[k])
            ch.append((q, done[k]))
            done[k] += q
            left -= q
            if done[k] == reqs[k][0]:
                partial = None
                finished.append(k)
        while len(ch) < n:
            if nxt >= len(reqs) or left <= 0:
                return None, None, f"iteration {i}: the trace's prompts do not fill {n} prefill sequences"
            k, nxt = nxt, nxt + 1
            q = min(left, reqs[k][0])
            ch.append((q, 0))
            done[k] += q
            left -= q
            if done[k] == reqs[k][0]:
                finished.append(k)
            elif partial is not None:
                return None, None, f"iteration {i}: two prompts cut in one iteration"
            else:
                partial = k
        if left != 0:
            return None, None, f"iteration {i}: {left} prefill tokens left after {n} sequences"
        if n == 0 and partial is not None:
            return None, None, f"iteration {i}: no prefill although a prompt is partly prefilled"
        pre_end = max([q + cc for q, cc in ch], default=0)
        if pre_end > r["max_ctx"]:
            return None, None, f"iteration {i}: a replayed chunk ends at {pre_end}, past max_ctx {r['max_ctx']}"
        if dec_ok and max(pre_end, max(c, default=-1) + 1) != r["max_ctx"]:
            dec_ok, msg = False, f"iteration {i}: replayed longest context differs from max_ctx {r['max_ctx']}"
        running += [k for k in finished if reqs[k][1] > 1]
        chunks.append(ch)
    return chunks, (ctxs if dec_ok else None), msg


def two_groups(c):
    """Two (count, context) groups with the same count, sum and sum of squares as contexts c:
    the step model's decode attention sees only those (bytes, and the CV^2 spread term)."""
    n = len(c)
    mu = sum(c) / n
    var = max(0.0, sum(x * x for x in c) / n - mu * mu)
    if n == 1 or var == 0.0:
        return [(n, mu)]
    n1 = n // 2
    while True:
        n2 = n - n1
        a = mu - math.sqrt(var * n2 / n1)
        if a >= 0 or n1 == n - 1:
            b = mu + math.sqrt(var * n1 / n2)
            return [(n1, max(0.0, a)), (n2, b)]
        n1 += 1


def equal_split(tokens, n):
    base, extra = divmod(tokens, n)
    return [(base + (1 if k < extra else 0), 0) for k in range(n)]


def rnd(x, g):
    return int(round(x / g)) * g if g > 1 else int(round(x))


def rnd_rel(q, rel):
    """q rounded to a power-of-two step of at most q / rel (q itself when q <= rel)."""
    if q <= rel:
        return q
    g = 2 ** int(math.log2(q / rel))
    return int(round(q / g)) * g


def shape_key(chunks, groups, ctx_g, mix_g, q_rel):
    g = mix_g if chunks else ctx_g
    pre = tuple(sorted((rnd_rel(q, q_rel), rnd(c, g)) for q, c in chunks))
    dec = {}
    for cnt, ctx in groups:
        k = max(0, rnd(ctx, g))
        dec[k] = dec.get(k, 0) + cnt
    return (pre, tuple(sorted((cnt, k) for k, cnt in dec.items())))


def step_args(key):
    pre, dec = key
    a = []
    for q, c in pre:
        a += ["--seq", f"{q}@{c}"]
    for cnt, c in dec:
        a += ["--decode", f"{cnt}x{c}"]
    return a


def shape_text(key):
    pre, dec = key
    return " ".join([f"{q}@{c}" for q, c in pre] + [f"{cnt}x{c}" for cnt, c in dec])


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
    ap.add_argument("--seq-us", type=float, default=0.0,
                    help="added per sequence of the iteration (engine.seq_overhead_us)")
    ap.add_argument("--mixed-graphs", action="store_true",
                    help="reprice mixed batches as CUDA-graph replays (as the engine ran them)")
    ap.add_argument("--trace", default=None, help="the run's trace CSV, to rebuild prefill chunks")
    ap.add_argument("--no-trace", action="store_true", help="equal chunks after 0 cached tokens")
    ap.add_argument("--decode-ctx", default="mean", choices=["mean", "max", "moments"],
                    help="decode contexts: all at the mean (default); max: one at max_ctx; "
                         "moments: the replayed contexts' spread (needs the trace)")
    ap.add_argument("--ctx-convention", default="auto", choices=["auto", "cached", "total"],
                    help="whether decode_ctx_sum counts cached tokens or cached + the new one")
    ap.add_argument("--ctx-round", type=int, default=16,
                    help="decode-only contexts rounded to this many tokens (coarsened if needed)")
    ap.add_argument("--mixed-ctx-round", type=int, default=64,
                    help="contexts in mixed iterations rounded to this many tokens")
    ap.add_argument("--q-rel", type=int, default=32,
                    help="prefill chunks rounded to a power-of-two step of at most 1/Q_REL of them")
    ap.add_argument("--max-calls", type=int, default=600,
                    help="distinct shapes allowed; roundings are coarsened until they fit")
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

    # Prefill chunks and (with a trace) every decode's context.
    chunks, exact_ctx, how = None, None, None
    trace = None if args.no_trace else (args.trace or find_trace(args.iterations))
    if trace:
        chunks, exact_ctx, err = replay(rows, load_trace(trace))
        if chunks is None:
            print(f"trace replay of {trace} failed ({err}); falling back to the CSV alone")
        else:
            how = (f"rebuilt exactly by replaying {trace} through the scheduler's order "
                   f"(checked against prefill_seqs, prefill_tokens, max_ctx)")
            print(f"decode contexts: " + ("replayed exactly (decode_seqs, decode_ctx_sum and max_ctx "
                  "match on every iteration)" if exact_ctx else f"replay disagrees ({err})"))
    if chunks is None:
        chunks = [equal_split(r["prefill_tokens"], r["prefill_seqs"]) if r["prefill_seqs"] else []
                  for r in rows]
        how = "APPROXIMATION: prefill_seqs chunks of prefill_tokens/prefill_seqs new tokens after C = 0"
    print(f"prefill chunks: {how}")
    cont = sum(1 for ch in chunks for q, c in ch if c > 0)
    print(f"  {sum(len(ch) for ch in chunks)} chunks, {cont} of them continue a partly prefilled prompt")

    mode = args.decode_ctx
    if mode == "moments" and exact_ctx is None:
        sys.exit("--decode-ctx moments needs a trace whose replay matches the decodes")
    dec_mean, groups = [], []
    for i, r in enumerate(rows):
        b = r["decode_seqs"]
        mean = (r["decode_ctx_sum"] - minus * b) / b if b else 0.0
        dec_mean.append(mean)
        if not b:
            groups.append([])
        elif mode == "moments":
            groups.append(two_groups(exact_ctx[i]))
        elif mode == "max" and r["graph"] == "d" and b > 1:
            longest = r["max_ctx"] - 1  # cached tokens of the longest decode
            groups.append([(1, longest), (b - 1, (mean * b - longest) / (b - 1))])
        else:
            groups.append([(b, mean)])
    print({"mean": "decodes: APPROXIMATION: every decode at the iteration's mean context "
                   "(no context spread; the step model's attention spread term sees CV^2 = 0)",
           "max": "decodes: one at the longest context (max_ctx - 1), the rest at their mean "
                  "(decode-only iterations; mixed ones at the mean)",
           "moments": "decodes: two groups with the replayed contexts' count, sum and sum of "
                      "squares (what the step model's decode attention depends on)"}[mode])

    # Distinct shapes, coarsening the rounding until few enough.
    ctx_g, mix_g, q_rel = max(1, args.ctx_round), max(1, args.mixed_ctx_round), max(1, args.q_rel)
    while True:
        keys = [shape_key(chunks[i], groups[i], ctx_g, mix_g, q_rel) for i in range(n)]
        distinct = sorted(set(keys))
        if len(distinct) <= args.max_calls:
            break
        if ctx_g < 256:
            ctx_g *= 2
        elif q_rel > 4 or mix_g < 1024:
            mix_g, q_rel = min(1024, mix_g * 2), max(4, q_rel // 2)
        else:
            break
    n_dec = len({k for k, r in zip(keys, rows) if r["graph"] == "d"})
    print(f"shapes: {len(distinct)} distinct ({n_dec} decode-only, {len(distinct) - n_dec} mixed); "
          f"contexts rounded to {ctx_g} tokens (decode-only) and {mix_g} (mixed), prefill chunks "
          f"to a power-of-two step of at most 1/{q_rel} of their length")

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
    print(f"prediction = {args.scale:g} x gpu_ms + overhead_ms + {args.host_ms:g} ms host"
          + (f" + {args.seq_us:g} us x sequences" if args.seq_us else ""))

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
        pred += args.seq_us * 1e-3 * r["seqs"]
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

    def cv(i):
        c = exact_ctx[i] if exact_ctx else None
        if not c:
            return ""
        mu = sum(c) / len(c)
        return f"{math.sqrt(max(0.0, sum(v * v for v in c) / len(c) - mu * mu)) / mu:.3f}" if mu else ""

    if args.out:
        with open(args.out, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["iteration", "graph", "tokens", "seqs", "prefill_tokens", "prefill_seqs",
                        "decode_seqs", "decode_ctx_mean", "max_ctx", "decode_ctx_cv", "step_batch", "step_graphs",
                        "measured_ms", "predicted_ms", "gpu_ms", "overhead_ms", "host_ms",
                        "error_pct", "gap_after_ms"])
            for x in recs:
                r = x["r"]
                gap = gaps[x["i"]] if x["i"] < len(gaps) else ""
                w.writerow([x["i"], r["graph"], r["tokens"], r["seqs"], r["prefill_tokens"],
                            r["prefill_seqs"], r["decode_seqs"],
                            f"{dec_mean[x['i']]:.1f}", r["max_ctx"], cv(x["i"]), shape_text(x["key"]), int(x["graphed"]),
                            f"{x['meas']:.4f}", f"{x['pred']:.4f}", f"{x['gpu']:.4f}",
                            f"{x['over']:.4f}", f"{args.host_ms:g}", f"{x['err']:.2f}",
                            f"{gap:.4f}" if gap != "" else ""])
        print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
