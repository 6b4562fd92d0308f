"""Kernel-level profile of a Llama-3-8B-shaped step (plain PyTorch, fused, torch.compile'd), to see
where a whole step's time goes beyond the GEMMs and attention that the microbenchmarks
measure.  Writes one CSV row per (variant, point, kernel): calls and total GPU time.

    python3 profile_step.py --out profile.csv
    python3 profile_step.py --variants fused --points decode:256x1024,decode:128x2048
"""

import argparse
import collections
import csv

import torch
from torch.profiler import ProfilerActivity, profile

import llama_step as ls


def kernel_table(fn, reps=3):
    fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(reps):
            fn()
        torch.cuda.synchronize()
    totals = collections.defaultdict(lambda: [0, 0.0])
    for ev in prof.events():
        if ev.device_type == torch.autograd.DeviceType.CUDA:
            t = totals[ev.name]
            t[0] += 1
            t[1] += ev.device_time_total if hasattr(ev, "device_time_total") else ev.cuda_time_total
    return {k: (v[0] / reps, v[1] / reps) for k, v in totals.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="profile.csv")
    ap.add_argument("--compiled", action="store_true", help="also profile torch.compile'd steps")
    ap.add_argument("--variants", default="eager,fused", help="eager (plain PyTorch), fused")
    ap.add_argument("--points", default="prefill:16x256,decode:64x1024",
                    help="PHASE:BxN list; N is the prompt length (prefill) or the cached context")
    args = ap.parse_args()
    points = []
    for item in args.points.split(","):
        phase, shape = item.split(":")
        b, n = shape.split("x")
        if phase not in ("prefill", "decode"):
            raise SystemExit(f"--points: {item}: phase must be prefill or decode")
        points.append((phase, int(b), int(n)))
    torch.manual_seed(0)
    cfg = ls.MODELS["llama-3-8b"]
    model = ls.Llama(cfg, cfg["layers"])
    model.attn_impl = ls.choose_attention(model)
    V = cfg["vocab"]
    rows = []
    with torch.inference_mode():
        known = {"eager": model.forward, "fused": model.forward_fused}
        for v in args.variants.split(","):
            if v not in known:
                raise SystemExit(f"--variants: {v}: must be one of {', '.join(known)}")
        variants = tuple((v, known[v]) for v in args.variants.split(","))
        if args.compiled:
            variants += (("compiled", torch.compile(model.forward, dynamic=True)),)
        for variant, fwd in variants:
            for phase, b, n in points:
                length = n if phase == "prefill" else n + 1
                kc, vc = model.alloc_cache(b, length)
                if phase == "prefill":
                    toks = torch.randint(0, V, (b * n,), device="cuda")
                    pos = torch.arange(n, device="cuda").repeat(b)
                    fn = lambda: fwd(toks, pos, b, n, kc, vc, 0)  # noqa: E731
                else:
                    toks = torch.randint(0, V, (b,), device="cuda")
                    pos = torch.full((b,), n, device="cuda")
                    fn = lambda: fwd(toks, pos, b, 1, kc, vc, n)  # noqa: E731
                table = kernel_table(fn)
                total = sum(t for _, t in table.values())
                print(f"{variant} {phase} {b}x{n}: {len(table)} kernel names, "
                      f"{sum(c for c, _ in table.values()):.0f} launches, {total / 1e3:.2f} ms GPU")
                for name, (calls, us) in sorted(table.items(), key=lambda kv: -kv[1][1]):
                    rows.append(dict(variant=variant, phase=phase, batch=b, length=n,
                                     kernel=name[:160].replace(",", ";"), calls=f"{calls:.0f}",
                                     total_us=f"{us:.1f}"))
                del kc, vc
                torch.cuda.empty_cache()
    with open(args.out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)


if __name__ == "__main__":
    main()
