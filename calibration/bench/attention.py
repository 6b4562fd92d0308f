#!/usr/bin/env python3
"""Attention kernel timings (PyTorch route): causal prefill and decode.

Shapes follow Llama-3-8B attention (32 query heads, 8 KV heads, head_dim 128)
and its tensor-parallel shards (TP2/4/8: 16/4, 8/2, 4/1 heads), bf16.

Kernels (the one actually used is recorded per row in `kernel`):
  prefill  torch.nn.functional.scaled_dot_product_attention(is_causal=True,
           enable_gqa=True) restricted to the FLASH_ATTENTION backend
           ("sdpa_flash"); fallback: torch.ops.aten._flash_attention_forward
           on the dense batch ("aten_flash_dense").
  decode   torch.ops.aten._flash_attention_forward with cum_seq_q/cum_seq_k
           (the FlashAttention varlen path; one query token per sequence,
           packed KV of each sequence's own length: "aten_flash_varlen");
           fallback: SDPA on a zero-padded batch with a boolean key mask
           ("sdpa_padded_mask/<backend>").
  chunked  one sequence whose q_len new tokens attend causally (bottom-right
           aligned) to kv_len = prefix + q_len keys, through the varlen path.

flops  = 4 * heads * head_dim * sum over sequences of (q*k - q*(q-1)/2)
         (q = query tokens, k = keys of that sequence, bottom-right causal;
         QK^T and PV, 2 flops per multiply-add); for prefill q = k = seq_len.
kv_bytes = 2 (K and V) * kv_heads * head_dim * 2 bytes * sum_kv.
io_bytes = kv_bytes + 2 * 2 bytes * heads * head_dim * sum_q (read Q, write O).

Timing: per-repetition CUDA events, median; each batch of repetitions is
queued behind torch.cuda._sleep so the events time device work, not Python
launch gaps.  K/V rotate through several copies (>= 256 MiB in total when
small) so that they are not L2-resident between repetitions.
"""

import argparse
import itertools
import math
import statistics
import sys
import time

import torch
import torch.nn.functional as F

DTYPE = torch.bfloat16
HEAD_DIM = 128
BASE_HEADS, BASE_KV = 32, 8


from bench_meta import Csv, device_meta  # noqa: E402


# ------------------------------------------------------------------ timing --

def time_reps(fn, warmup=2, min_reps=5, max_reps=50, target_ms=15.0):
    """fn(i) enqueues one repetition.  Returns (median_us, p10_us, p90_us, reps)."""
    for i in range(warmup):
        fn(i)
    torch.cuda.synchronize()
    # One timed call to size the repetition count.
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    s.record()
    fn(warmup)
    e.record()
    torch.cuda.synchronize()
    est_ms = max(s.elapsed_time(e), 1e-3)
    reps = int(min(max_reps, max(min_reps, target_ms / est_ms)))
    # Host time to enqueue one repetition (with its two events).
    t0 = time.perf_counter()
    for j in range(3):
        s.record()
        fn(warmup + j)
        e.record()
    host_us = (time.perf_counter() - t0) / 3 * 1e6
    torch.cuda.synchronize()
    times = []
    batch = 25
    done = 0
    while done < reps:
        nb = min(batch, reps - done)
        ev = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
              for _ in range(nb)]
        if hasattr(torch.cuda, "_sleep"):
            # Keep the device busy while the host enqueues the whole batch,
            # so that no repetition waits for the host (about 2e9 cycles/s).
            sleep_us = min(200e3, nb * (2.0 * host_us + 20.0))
            torch.cuda._sleep(int(sleep_us * 1e-6 * 2e9))
        for j in range(nb):
            ev[j][0].record()
            fn(warmup + 1 + done + j)
            ev[j][1].record()
        torch.cuda.synchronize()
        times += [a.elapsed_time(b) * 1000.0 for a, b in ev]
        done += nb
    times.sort()
    q = lambda f: times[min(len(times) - 1, int(round(f * (len(times) - 1))))]  # noqa: E731
    return statistics.median(times), q(0.1), q(0.9), len(times)


def n_copies(bytes_per_copy, target=256 << 20, cap=128):
    return max(1, min(cap, math.ceil(target / max(bytes_per_copy, 1))))


def randn(*shape):
    return torch.randn(*shape, device="cuda", dtype=DTYPE)


# ----------------------------------------------------------------- kernels --

def sdpa_flash_prefill(q, k, v):
    """q: [B, S, H, D], k/v: [B, S, Hkv, D] -> [B, S, H, D]."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    with sdpa_kernel([SDPBackend.FLASH_ATTENTION]):
        o = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                           is_causal=True, enable_gqa=True)
    return o.transpose(1, 2)


def aten_flash_dense(q, k, v, causal=True):
    """q: [B, Sq, H, D], k/v: [B, Sk, Hkv, D]; bottom-right causal."""
    out = torch.ops.aten._flash_attention_forward(
        q, k, v, None, None, q.shape[1], k.shape[1], 0.0, causal, False,
        scale=1.0 / math.sqrt(q.shape[-1]))
    return out[0]


def aten_flash_varlen(q, k, v, cu_q, cu_k, max_q, max_k, causal):
    """q: [sum_q, H, D], k/v: [sum_k, Hkv, D], cu_*: int32 [B+1]."""
    out = torch.ops.aten._flash_attention_forward(
        q, k, v, cu_q, cu_k, max_q, max_k, 0.0, causal, False,
        scale=1.0 / math.sqrt(q.shape[-1]))
    return out[0]


def sdpa_padded(q, k_pad, v_pad, mask):
    """q: [B, 1, H, D]; k_pad: [B, Lmax, Hkv, D]; mask: [B, 1, 1, Lmax] bool."""
    h, hk = q.shape[2], k_pad.shape[2]
    k = k_pad.transpose(1, 2).repeat_interleave(h // hk, dim=1)
    v = v_pad.transpose(1, 2).repeat_interleave(h // hk, dim=1)
    o = F.scaled_dot_product_attention(q.transpose(1, 2), k, v, attn_mask=mask)
    return o.transpose(1, 2)


def reference(q, k, v, causal):
    """Per-sequence fp32 reference; q [Sq, H, D], k/v [Sk, Hkv, D], bottom-right causal."""
    sq, h, d = q.shape
    sk, hk, _ = k.shape
    qf = q.float().transpose(0, 1)  # [H, Sq, D]
    kf = k.float().transpose(0, 1).repeat_interleave(h // hk, dim=0)
    vf = v.float().transpose(0, 1).repeat_interleave(h // hk, dim=0)
    s = qf @ kf.transpose(1, 2) / math.sqrt(d)
    if causal:
        i = torch.arange(sq, device=q.device)[:, None]
        j = torch.arange(sk, device=q.device)[None, :]
        s = s.masked_fill(j > i + (sk - sq), float("-inf"))
    return (s.softmax(-1) @ vf).transpose(0, 1)


def rel_err(a, b):
    return ((a.float() - b.float()).norm() / b.float().norm()).item()


def probe():
    """Find working kernels and check them against the fp32 reference."""
    torch.manual_seed(0)
    res = {}
    B, S, H, HK = 2, 300, 8, 2
    q, k, v = randn(B, S, H, HEAD_DIM), randn(B, S, HK, HEAD_DIM), randn(B, S, HK, HEAD_DIM)
    ref = torch.stack([reference(q[b], k[b], v[b], True) for b in range(B)])
    for name, fn in (("sdpa_flash", sdpa_flash_prefill),
                     ("aten_flash_dense", lambda a, b_, c: aten_flash_dense(a, b_, c, True))):
        try:
            err = rel_err(fn(q, k, v), ref)
            print(f"probe prefill {name}: rel err {err:.2e}")
            if err < 2e-2:
                res.setdefault("prefill", name)
        except Exception as ex:  # noqa: BLE001
            print(f"probe prefill {name}: unavailable ({type(ex).__name__}: {str(ex)[:200]})")
    # varlen: decode (q=1) and chunked prefill (q < k), uneven lengths
    lens_k = [37, 301, 128]
    for label, lens_q, causal in (("decode", [1, 1, 1], False), ("chunked", [5, 64, 128], True)):
        try:
            qs = [randn(n, H, HEAD_DIM) for n in lens_q]
            ks = [randn(n, HK, HEAD_DIM) for n in lens_k]
            vs = [randn(n, HK, HEAD_DIM) for n in lens_k]
            cu_q = torch.tensor(list(itertools.accumulate(lens_q, initial=0)), dtype=torch.int32, device="cuda")
            cu_k = torch.tensor(list(itertools.accumulate(lens_k, initial=0)), dtype=torch.int32, device="cuda")
            o = aten_flash_varlen(torch.cat(qs), torch.cat(ks), torch.cat(vs), cu_q, cu_k,
                                  max(lens_q), max(lens_k), causal)
            ref = torch.cat([reference(a, b, c, causal) for a, b, c in zip(qs, ks, vs)])
            err = rel_err(o, ref)
            print(f"probe {label} aten_flash_varlen: rel err {err:.2e}")
            if err < 2e-2:
                res[label] = "aten_flash_varlen"
        except Exception as ex:  # noqa: BLE001
            print(f"probe {label} aten_flash_varlen: unavailable ({type(ex).__name__}: {str(ex)[:200]})")
    if "decode" not in res:
        res["decode"] = "sdpa_padded_mask"
    return res


# ------------------------------------------------------------------ points --

def mean_str(total, n):
    return str(total // n) if total % n == 0 else f"{total / n:.2f}"


def causal_pairs(q, k):
    return q * k - q * (q - 1) // 2


def run(args):
    meta = device_meta()
    kernels = probe()
    print("kernels:", kernels)
    csv = Csv(args.out, meta, [
        "phase", "tp", "batch", "q_len", "kv_len", "kv_len_max", "kv_len_nominal", "sum_kv",
        "heads", "kv_heads",
        "head_dim", "uneven", "kernel", "reps", "time_us", "p10_us", "p90_us", "flops", "tflops",
        "kv_bytes", "io_bytes", "torch"])
    torch_version = torch.__version__
    gen = torch.Generator().manual_seed(1234)
    deadline = time.time() + args.max_seconds

    def emit(phase, tp, batch, q_lens, k_lens, heads, kvh, uneven, kernel, t, nominal=None):
        med, p10, p90, reps = t
        sum_q, sum_kv = sum(q_lens), sum(k_lens)
        flops = 4 * heads * HEAD_DIM * sum(causal_pairs(a, b) for a, b in zip(q_lens, k_lens))
        kv_bytes = 2 * kvh * HEAD_DIM * 2 * sum_kv
        io_bytes = kv_bytes + 2 * 2 * heads * HEAD_DIM * sum_q
        csv.row(phase=phase, tp=tp, batch=batch, q_len=mean_str(sum_q, batch),
                kv_len=mean_str(sum_kv, batch), kv_len_max=max(k_lens),
                kv_len_nominal=nominal if nominal is not None else max(k_lens), sum_kv=sum_kv,
                heads=heads, kv_heads=kvh, head_dim=HEAD_DIM, uneven=uneven, kernel=kernel,
                reps=reps, time_us=f"{med:.3f}", p10_us=f"{p10:.3f}", p90_us=f"{p90:.3f}",
                flops=flops, tflops=f"{flops / med / 1e6:.2f}", kv_bytes=kv_bytes,
                io_bytes=io_bytes, torch=torch_version)
        return med

    tps = [int(x) for x in args.tp.split(",")]

    # ---------------------------------------------------------- prefill
    seqs = [128, 256, 512, 1024, 2048, 4096, 8192]
    batches = [1, 2, 4, 8, 16, 32, 64]
    points = [(b, s) for s in seqs for b in batches if b * s <= 16384]
    points += [(32, 1024), (64, 1024), (8, 4096), (16, 4096), (4, 8192), (8, 8192)]
    pre_kernel = kernels.get("prefill")
    if pre_kernel and "prefill" in args.phases:
        for tp in tps:
            h, hk = BASE_HEADS // tp, max(1, BASE_KV // tp)
            for b, s in points:
                if time.time() > deadline:
                    break
                per = (b * s * (h + 2 * hk) * HEAD_DIM) * 2
                nc = n_copies(per)
                qs = [randn(b, s, h, HEAD_DIM) for _ in range(nc)]
                ks = [randn(b, s, hk, HEAD_DIM) for _ in range(nc)]
                vs = [randn(b, s, hk, HEAD_DIM) for _ in range(nc)]
                fn_k = sdpa_flash_prefill if pre_kernel == "sdpa_flash" else aten_flash_dense
                t = time_reps(lambda i: fn_k(qs[i % nc], ks[i % nc], vs[i % nc]))
                med = emit("prefill", tp, b, [s] * b, [s] * b, h, hk, 0, pre_kernel, t)
                print(f"prefill tp{tp} B={b:3d} S={s:5d}: {med:10.1f} us")
                del qs, ks, vs

    # ---------------------------------------------------------- decode
    dec_kernel = kernels["decode"]
    if "decode" in args.phases:
        for tp in tps:
            h, hk = BASE_HEADS // tp, max(1, BASE_KV // tp)
            for b in [1, 2, 4, 8, 16, 32, 64, 128, 256]:
                for c in [128, 256, 512, 1024, 2048, 4096, 8192]:
                    for uneven in (0, 1):
                        if time.time() > deadline:
                            break
                        if uneven and b == 1:
                            continue
                        if uneven:
                            f = torch.rand(b, generator=gen) * 1.5 + 0.25
                            lens = [max(1, int(round(c * float(x)))) for x in f]
                        else:
                            lens = [c] * b
                        sum_kv, max_k = sum(lens), max(lens)
                        per = 2 * sum_kv * hk * HEAD_DIM * 2
                        nc = n_copies(per)
                        qs = [randn(b, h, HEAD_DIM) for _ in range(nc)]
                        if dec_kernel == "aten_flash_varlen":
                            ks = [randn(sum_kv, hk, HEAD_DIM) for _ in range(nc)]
                            vs = [randn(sum_kv, hk, HEAD_DIM) for _ in range(nc)]
                            cu_q = torch.arange(b + 1, dtype=torch.int32, device="cuda")
                            cu_k = torch.tensor(list(itertools.accumulate(lens, initial=0)),
                                                dtype=torch.int32, device="cuda")
                            fn = lambda i: aten_flash_varlen(  # noqa: E731
                                qs[i % nc], ks[i % nc], vs[i % nc], cu_q, cu_k, 1, max_k, False)
                            kname = dec_kernel
                        else:
                            ks = [randn(b, max_k, hk, HEAD_DIM) for _ in range(nc)]
                            vs = [randn(b, max_k, hk, HEAD_DIM) for _ in range(nc)]
                            ar = torch.arange(max_k, device="cuda")[None, :]
                            mask = (ar < torch.tensor(lens, device="cuda")[:, None])[:, None, None, :]
                            fn = lambda i: sdpa_padded(  # noqa: E731
                                qs[i % nc].unsqueeze(1), ks[i % nc], vs[i % nc], mask)
                            kname = "sdpa_padded_mask"
                        t = time_reps(fn)
                        med = emit("decode", tp, b, [1] * b, lens, h, hk, uneven, kname, t, nominal=c)
                        if c in (128, 1024, 8192) and b in (1, 16, 256):
                            print(f"decode tp{tp} B={b:3d} C={c:5d} uneven={uneven}: {med:9.1f} us")
                        del qs, ks, vs

    # ---------------------------------------------------------- chunked prefill
    if kernels.get("chunked") and "chunked" in args.phases:
        for tp in tps:
            h, hk = BASE_HEADS // tp, max(1, BASE_KV // tp)
            for ql in [256, 512, 2048]:
                for prefix in [1024, 4096, 8192]:
                    if time.time() > deadline:
                        break
                    kl = prefix + ql
                    per = (ql * h + 2 * kl * hk) * HEAD_DIM * 2
                    nc = n_copies(per)
                    qs = [randn(ql, h, HEAD_DIM) for _ in range(nc)]
                    ks = [randn(kl, hk, HEAD_DIM) for _ in range(nc)]
                    vs = [randn(kl, hk, HEAD_DIM) for _ in range(nc)]
                    cu_q = torch.tensor([0, ql], dtype=torch.int32, device="cuda")
                    cu_k = torch.tensor([0, kl], dtype=torch.int32, device="cuda")
                    t = time_reps(lambda i: aten_flash_varlen(
                        qs[i % nc], ks[i % nc], vs[i % nc], cu_q, cu_k, ql, kl, True))
                    med = emit("chunked_prefill", tp, 1, [ql], [kl], h, hk, 0, "aten_flash_varlen", t)
                    print(f"chunked tp{tp} q={ql:5d} kv={kl:5d}: {med:9.1f} us")
                    del qs, ks, vs
    if time.time() > deadline:
        print("attention: stopped at the time budget; later points are missing")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="attention.csv")
    ap.add_argument("--tp", default="1,2,4,8")
    ap.add_argument("--phases", default="prefill,decode,chunked")
    ap.add_argument("--max-seconds", type=float, default=1e9,
                    help="stop starting new points after this many seconds")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit("attention.py: no CUDA device")
    run(args)


if __name__ == "__main__":
    main()
