"""Splits a `vllm bench serve --save-detailed` result into its first and second half by start
time, each a result file of the same format (its summary fields left out, its duration the
half's own span), to check a fit on one half against the other.

    python3 split_vllm_run.py RESULT.json FIRST.json SECOND.json
"""

import json
import sys

LISTS = ["input_lens", "output_lens", "ttfts", "itls", "latencies", "start_times", "errors",
         "generated_texts"]


def main():
    src, first, second = sys.argv[1:4]
    run = json.load(open(src))
    order = sorted(range(len(run["start_times"])), key=lambda i: run["start_times"][i])
    half = len(order) // 2
    for name, part in ((first, order[:half]), (second, order[half:])):
        out = {k: v for k, v in run.items() if k not in LISTS and not k.endswith("_ms")}
        for k in LISTS:
            if k in run:
                out[k] = [run[k][i] for i in part]
        t0 = min(out["start_times"])
        out["duration"] = max(s + l for s, l in zip(out["start_times"], out["latencies"])) - t0
        out["num_prompts"] = len(part)
        json.dump(out, open(name, "w"))


if __name__ == "__main__":
    main()
