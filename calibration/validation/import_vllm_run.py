"""Turns a vLLM benchmark's per-request records (requests.jsonl with queued_ts,
first_token_ts, last_token_ts, input_toks, output_toks) into a servesim trace (CSV with
arrival_s, prompt_tokens, output_tokens) and prints the run's measured latency figures.

    python3 import_vllm_run.py requests.jsonl trace.csv
"""

import json
import statistics
import sys


def pct(xs, p):
    xs = sorted(xs)
    pos = p / 100 * (len(xs) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def main():
    src, dst = sys.argv[1], sys.argv[2]
    rows = [json.loads(line) for line in open(src) if line.strip()]
    t0 = min(r["queued_ts"] for r in rows)
    rows.sort(key=lambda r: r["queued_ts"])
    with open(dst, "w") as f:
        f.write("arrival_s,prompt_tokens,output_tokens\n")
        for r in rows:
            f.write(f"{r['queued_ts'] - t0:.6f},{r['input_toks']},{r['output_toks']}\n")
    ttft = [(r["first_token_ts"] - r["queued_ts"]) * 1e3 for r in rows]
    tpot = [(r["last_token_ts"] - r["first_token_ts"]) * 1e3 / (r["output_toks"] - 1)
            for r in rows if r["output_toks"] > 1]
    e2e = [(r["last_token_ts"] - r["queued_ts"]) * 1e3 for r in rows]
    for name, xs in (("ttft", ttft), ("tpot", tpot), ("e2e", e2e)):
        print(f"{name}_ms mean {statistics.mean(xs):.1f} p50 {pct(xs, 50):.1f} "
              f"p90 {pct(xs, 90):.1f} p99 {pct(xs, 99):.1f}")
    span = max(r["last_token_ts"] for r in rows) - t0
    print(f"requests {len(rows)} span_s {span:.1f} "
          f"output_tokens_per_s {sum(r['output_toks'] for r in rows) / span:.1f}")


if __name__ == "__main__":
    main()
