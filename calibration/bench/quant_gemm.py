#!/usr/bin/env python3
"""Quantized GEMM and FP8-KV decode attention timings, for the formats servesim prices
(docs/calibration.md, "Quantized weights and KV cache").

GEMMs, C[M, N] = A[M, K] . W[K, N], over Llama-3-8B (TP1) and Llama-3-70B (TP4) layer shapes:
  bf16       torch.matmul (cuBLAS), the reference every format is compared with in one run;
  fp8        torch._scaled_mm, e4m3 A and W with per-tensor scales, bf16 out (cuBLASLt);
  int8       torch._int_mm, int8 A and W, int32 out (cuBLASLt's IMMA; needs M > 16);
  w8a16      a Triton kernel written here: int8 weights with one bf16 scale per output
             column, bf16 activations, the weight converted in registers;
  w4a16      a Triton kernel written here: 4-bit weights packed eight to an int32 along K,
             one bf16 scale and one bf16 zero per group of 128 input rows per column,
             w = (q - zero) * scale, the dot of A with (q - zero) taken in bf16 and scaled
             per group in fp32.
Each row gives the kernel, the bytes it must read and write (weights with their scales,
A and C once) and the time: triton.testing.do_bench's median, which empties the L2 before
every repetition, so weights that would fit in it are read from memory as in serving.

Decode attention (one query token per sequence, Llama-3-8B's 32 query heads over 8 KV heads,
head dim 128), one Triton kernel written here, run over a bf16 and an fp8 (e4m3, one scale
per tensor) KV cache: one program per (sequence, KV head) computing its four query heads'
online softmax over the sequence's keys in tiles of 64. The two differ only in the bytes
each key and value takes, so their time ratio is what an fp8 cache changes in this kernel.

Every kernel is checked against an fp32 reference on fresh random data first
(||out - ref|| / ||ref||, column `rel_err`); a kernel over 2e-2 is recorded as failed, not
timed.
"""

import argparse
import math
import sys
import time
import traceback

import torch
import triton
import triton.language as tl

from bench_meta import Csv, device_meta

SHAPES = {  # name: (K, N)
    "llama-3-8b/tp1/qkv": (4096, 6144),
    "llama-3-8b/tp1/o": (4096, 4096),
    "llama-3-8b/tp1/gate_up": (4096, 28672),
    "llama-3-8b/tp1/down": (14336, 4096),
    "llama-3-70b/tp4/qkv": (8192, 2560),
    "llama-3-70b/tp4/o": (2048, 8192),
    "llama-3-70b/tp4/gate_up": (8192, 14336),
    "llama-3-70b/tp4/down": (7168, 8192),
}
ROWS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192]
GROUP = 128


# ---------------------------------------------------------------- kernels --

def _configs():
    out = []
    for bm, bn, bk, w, s in [(16, 64, 128, 4, 4), (16, 128, 128, 4, 4), (32, 64, 128, 4, 4),
                             (64, 128, 64, 4, 4), (64, 256, 64, 8, 3), (128, 128, 64, 8, 3),
                             (128, 256, 64, 8, 3)]:
        out.append(triton.Config({"BM": bm, "BN": bn, "BK": bk}, num_warps=w, num_stages=s))
    return out


def _autotune():
    """Autotune over _configs(), keyed on the M bucket and the shape, with short timing runs
    (Triton versions without the do_bench argument fall back to their own defaults)."""
    quick = lambda fn, quantiles=None: triton.testing.do_bench(  # noqa: E731
        fn, warmup=5, rep=20, quantiles=quantiles)
    try:
        return triton.autotune(configs=_configs(), key=["MB", "N", "K"], do_bench=quick)
    except TypeError:
        return triton.autotune(configs=_configs(), key=["MB", "N", "K"])


def _mbucket(m):
    return 1 << max(0, (m - 1).bit_length())


@_autotune()
@triton.jit
def w4a16_kernel(A, B, S, Z, C, M, N, K, MB,
                 s_am, s_ak, s_bk, s_bn, s_sg, s_sn, s_cm, s_cn,
                 GROUP_K: tl.constexpr, BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr):
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    rm = pid_m * BM + tl.arange(0, BM)
    rn = pid_n * BN + tl.arange(0, BN)
    rk = tl.arange(0, BK)
    a_ptr = A + rm[:, None] * s_am + rk[None, :] * s_ak
    b_ptr = B + (rk[:, None] // 8) * s_bk + rn[None, :] * s_bn
    shift = ((rk % 8) * 4)[:, None]
    acc = tl.zeros((BM, BN), dtype=tl.float32)
    for k0 in range(0, K, BK):
        a = tl.load(a_ptr, mask=rm[:, None] < M, other=0.0)
        packed = tl.load(b_ptr)
        q = ((packed >> shift) & 0xF).to(tl.float32)
        g = k0 // GROUP_K
        s = tl.load(S + g * s_sg + rn * s_sn).to(tl.float32)
        z = tl.load(Z + g * s_sg + rn * s_sn).to(tl.float32)
        w = ((q - z[None, :]) * s[None, :]).to(tl.bfloat16)
        acc += tl.dot(a, w)
        a_ptr += BK * s_ak
        b_ptr += (BK // 8) * s_bk
    c_ptr = C + rm[:, None] * s_cm + rn[None, :] * s_cn
    tl.store(c_ptr, acc.to(tl.bfloat16), mask=rm[:, None] < M)


@_autotune()
@triton.jit
def w8a16_kernel(A, B, S, C, M, N, K, MB,
                 s_am, s_ak, s_bk, s_bn, s_cm, s_cn,
                 BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr):
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    rm = pid_m * BM + tl.arange(0, BM)
    rn = pid_n * BN + tl.arange(0, BN)
    rk = tl.arange(0, BK)
    a_ptr = A + rm[:, None] * s_am + rk[None, :] * s_ak
    b_ptr = B + rk[:, None] * s_bk + rn[None, :] * s_bn
    acc = tl.zeros((BM, BN), dtype=tl.float32)
    for k0 in range(0, K, BK):
        a = tl.load(a_ptr, mask=rm[:, None] < M, other=0.0)
        w = tl.load(b_ptr).to(tl.bfloat16)
        acc += tl.dot(a, w)
        a_ptr += BK * s_ak
        b_ptr += BK * s_bk
    s = tl.load(S + rn).to(tl.float32)
    c_ptr = C + rm[:, None] * s_cm + rn[None, :] * s_cn
    tl.store(c_ptr, (acc * s[None, :]).to(tl.bfloat16), mask=rm[:, None] < M)


def w4a16(a, packed, scale, zero, out):
    M, K = a.shape
    N = packed.shape[1]
    grid = lambda meta: (triton.cdiv(M, meta["BM"]), triton.cdiv(N, meta["BN"]))  # noqa: E731
    w4a16_kernel[grid](a, packed, scale, zero, out, M, N, K, _mbucket(M),
                       a.stride(0), a.stride(1), packed.stride(0), packed.stride(1),
                       scale.stride(0), scale.stride(1), out.stride(0), out.stride(1),
                       GROUP_K=GROUP)
    return out


def w8a16(a, w, scale, out):
    M, K = a.shape
    N = w.shape[1]
    grid = lambda meta: (triton.cdiv(M, meta["BM"]), triton.cdiv(N, meta["BN"]))  # noqa: E731
    w8a16_kernel[grid](a, w, scale, out, M, N, K, _mbucket(M),
                       a.stride(0), a.stride(1), w.stride(0), w.stride(1),
                       out.stride(0), out.stride(1))
    return out


@triton.jit
def decode_kernel(Q, Kc, Vc, O, lens, scale_qk, kv_scale,
                  s_qb, s_qh, s_kb, s_kt, s_kh, s_ob, s_oh,
                  GQA: tl.constexpr, GP: tl.constexpr, D: tl.constexpr, BT: tl.constexpr):
    b = tl.program_id(0)
    kvh = tl.program_id(1)
    n = tl.load(lens + b)
    rg = tl.arange(0, GP)
    rd = tl.arange(0, D)
    rt = tl.arange(0, BT)
    qmask = rg < GQA
    q = tl.load(Q + b * s_qb + (kvh * GQA + rg)[:, None] * s_qh + rd[None, :],
                mask=qmask[:, None], other=0.0)
    m_i = tl.full((GP,), -float("inf"), tl.float32)
    l_i = tl.zeros((GP,), tl.float32)
    acc = tl.zeros((GP, D), tl.float32)
    base_k = Kc + b * s_kb + kvh * s_kh
    base_v = Vc + b * s_kb + kvh * s_kh
    for t0 in range(0, n, BT):
        tm = (t0 + rt) < n
        k = tl.load(base_k + (t0 + rt)[None, :] * s_kt + rd[:, None], mask=tm[None, :], other=0.0)
        v = tl.load(base_v + (t0 + rt)[:, None] * s_kt + rd[None, :], mask=tm[:, None], other=0.0)
        k = (k.to(tl.float32) * kv_scale).to(tl.bfloat16)
        v = (v.to(tl.float32) * kv_scale).to(tl.bfloat16)
        s = tl.dot(q, k) * scale_qk
        s = tl.where(tm[None, :], s, -float("inf"))
        m_new = tl.maximum(m_i, tl.max(s, 1))
        p = tl.exp(s - m_new[:, None])
        alpha = tl.exp(m_i - m_new)
        l_i = l_i * alpha + tl.sum(p, 1)
        acc = acc * alpha[:, None] + tl.dot(p.to(tl.bfloat16), v)
        m_i = m_new
    out = acc / l_i[:, None]
    tl.store(O + b * s_ob + (kvh * GQA + rg)[:, None] * s_oh + rd[None, :],
             out.to(tl.bfloat16), mask=qmask[:, None])


# ---------------------------------------------------------------- helpers --

def rel_err(out, ref):
    out = out.float()
    ref = ref.float()
    if not torch.isfinite(out).all():
        return float("nan")
    return (torch.linalg.norm(out - ref) / torch.linalg.norm(ref)).item()


def bench(fn):
    return triton.testing.do_bench(fn, warmup=10, rep=40, return_mode="median") * 1e3  # us


def checked_time(csv, row, run, out, ref):
    """Runs `run` once into the poisoned `out`, compares with `ref`, and times it when it is
    right: its median in microseconds, or None after recording the row as failed."""
    out.fill_(float("nan"))
    result = run()
    torch.cuda.synchronize()
    err = rel_err(out if result is None else result, ref)
    row["rel_err"] = f"{err:.2e}"
    if not (err < 2e-2):
        row["status"] = "failed: rel_err"
        csv.row(**row)
        return None
    return bench(run)


def gemm_rows(csv, only_m, budget_end):
    dev = "cuda"
    fp8 = torch.float8_e4m3fn
    for name, (K, N) in SHAPES.items():
        # Weights in every format, made once per shape.
        w = torch.randn(K, N, device=dev) * 0.05
        w_bf = w.to(torch.bfloat16)
        # fp8: per-tensor scale so the largest weight maps to 448.
        ws = (w.abs().max() / 448.0).float()
        w_fp8 = (w / ws).to(fp8)
        w_fp8_cm = w_fp8.t().contiguous().t()  # column-major, as _scaled_mm wants
        # int8 per tensor for _int_mm, per column for w8a16.
        wi_scale_t = (w.abs().max() / 127.0).float()
        w_i8_t = torch.clamp(torch.round(w / wi_scale_t), -127, 127).to(torch.int8)
        w_i8_t_cm = w_i8_t.t().contiguous().t()
        col = (w.abs().amax(0) / 127.0).clamp_min(1e-8)
        w_i8 = torch.clamp(torch.round(w / col), -127, 127).to(torch.int8)
        col_bf = col.to(torch.bfloat16)
        # int4, asymmetric per group of 128 rows.
        wg = w.view(K // GROUP, GROUP, N)
        lo = wg.amin(1)
        hi = wg.amax(1)
        sc = ((hi - lo) / 15.0).clamp_min(1e-8)
        zr = torch.round(-lo / sc).clamp(0, 15)
        q = torch.clamp(torch.round(wg / sc[:, None, :] + zr[:, None, :]), 0, 15).to(torch.int32)
        q = q.view(K, N)
        packed = torch.zeros(K // 8, N, dtype=torch.int32, device=dev)
        for j in range(8):
            packed |= q[j::8] << (4 * j)
        sc_bf = sc.to(torch.bfloat16).contiguous()
        zr_bf = zr.to(torch.bfloat16).contiguous()
        deq4 = ((q.view(K // GROUP, GROUP, N).float() - zr_bf.float()[:, None, :]) *
                sc_bf.float()[:, None, :]).view(K, N)
        deq8 = w_i8.float() * col_bf.float()[None, :]
        formats = {
            # name: (kernel label, weight bytes incl. scales, runner factory)
            "bf16": ("torch.matmul(cuBLAS)", K * N * 2),
            "fp8": ("torch._scaled_mm(cuBLASLt e4m3)", K * N),
            "int8": ("torch._int_mm(cuBLASLt int8)", K * N),
            "w8a16": ("triton w8a16 (this file)", K * N + N * 2),
            "w4a16": ("triton w4a16 g128 (this file)", K * N // 2 + (K // GROUP) * N * 4),
        }
        for M in ROWS:
            if only_m and M not in only_m:
                continue
            if time.time() > budget_end:
                print("budget reached; stopping GEMMs", flush=True)
                return
            a = torch.randn(M, K, device=dev) * 0.5
            a_bf = a.to(torch.bfloat16)
            as_ = (a.abs().max() / 448.0).float()
            a_fp8 = (a / as_).to(fp8)
            ai_s = (a.abs().max() / 127.0).float()
            a_i8 = torch.clamp(torch.round(a / ai_s), -127, 127).to(torch.int8)
            out = torch.empty(M, N, device=dev, dtype=torch.bfloat16)
            for fmt, (label, wbytes) in formats.items():
                row = dict(format=fmt, kernel=label, shape=name, M=M, N=N, K=K, group_size=(
                    GROUP if fmt == "w4a16" else 0), weight_bytes=wbytes)
                try:
                    if fmt == "bf16":
                        fn = lambda: torch.matmul(a_bf, w_bf)  # noqa: E731
                        ref = a_bf.float() @ w_bf.float()
                        abytes = M * K * 2
                    elif fmt == "fp8":
                        fn = lambda: torch._scaled_mm(a_fp8, w_fp8_cm, scale_a=as_, scale_b=ws,  # noqa: E731
                                                      out_dtype=torch.bfloat16)
                        ref = (a_fp8.float() * as_) @ (w_fp8.float() * ws)
                        abytes = M * K
                    elif fmt == "int8":
                        if M <= 16:
                            row["status"] = "unsupported: _int_mm needs M > 16"
                            csv.row(**row)
                            continue
                        fn = lambda: torch._int_mm(a_i8, w_i8_t_cm)  # noqa: E731
                        ref = a_i8.float() @ w_i8_t.float()
                        abytes = M * K
                    elif fmt == "w8a16":
                        fn = lambda: w8a16(a_bf, w_i8, col_bf, out)  # noqa: E731
                        ref = a_bf.float() @ deq8
                        abytes = M * K * 2
                    else:
                        fn = lambda: w4a16(a_bf, packed, sc_bf, zr_bf, out)  # noqa: E731
                        ref = a_bf.float() @ deq4
                        abytes = M * K * 2
                    us = checked_time(csv, row, fn, out, ref)
                    if us is None:
                        continue
                    cbytes = M * N * (4 if fmt == "int8" else 2)
                    total = wbytes + abytes + cbytes
                    row.update(time_us=f"{us:.3f}", tflops=f"{2 * M * N * K / us / 1e6:.2f}",
                               bytes=total, gbps=f"{total / us / 1e3:.1f}", status="ok")
                except Exception as e:  # noqa: BLE001 - one failing kernel must not stop the rest
                    row["status"] = "error: " + str(e).splitlines()[0][:120].replace(",", ";")
                csv.row(**row)
            print(f"{name} M={M} done", flush=True)
        del w, w_bf, w_fp8, w_fp8_cm, w_i8_t, w_i8_t_cm, w_i8, packed, deq4, deq8
        torch.cuda.empty_cache()


def decode_rows(csv, budget_end):
    dev = "cuda"
    H, KVH, D = 32, 8, 128
    for batch in [1, 8, 32, 64, 128, 256]:
        for ctx in [512, 1024, 2048, 4096, 8192]:
            if batch * ctx > 256 * 4096:
                continue
            if time.time() > budget_end:
                print("budget reached; stopping decode", flush=True)
                return
            q = torch.randn(batch, H, D, device=dev, dtype=torch.bfloat16)
            k = torch.randn(batch, ctx, KVH, D, device=dev) * 0.5
            v = torch.randn(batch, ctx, KVH, D, device=dev) * 0.5
            lens = torch.full((batch,), ctx, device=dev, dtype=torch.int32)
            qh = q.view(batch, KVH, H // KVH, D).float()
            kf = k.permute(0, 2, 1, 3)
            vf = v.permute(0, 2, 1, 3)
            for kvdt in ["bf16", "fp8"]:
                row = dict(format=f"decode-kv-{kvdt}", kernel="triton decode (this file)",
                           shape=f"llama-3-8b/tp1/decode b{batch} ctx{ctx}", M=batch, N=ctx, K=D)
                try:
                    if kvdt == "bf16":
                        kc, vc, s = k.to(torch.bfloat16), v.to(torch.bfloat16), 1.0
                    else:
                        s = max(k.abs().max().item(), v.abs().max().item()) / 448.0
                        kc = (k / s).to(torch.float8_e4m3fn)
                        vc = (v / s).to(torch.float8_e4m3fn)
                    kd = (kc.float() * s).permute(0, 2, 1, 3)
                    vd = (vc.float() * s).permute(0, 2, 1, 3)
                    att = torch.softmax(qh @ kd.transpose(-1, -2) / math.sqrt(D), -1) @ vd
                    ref = att.reshape(batch, H, D)
                    o = torch.full((batch, H, D), float("nan"), device=dev, dtype=torch.bfloat16)

                    def fn():
                        decode_kernel[(batch, KVH)](
                            q, kc, vc, o, lens, 1.0 / math.sqrt(D), s,
                            q.stride(0), q.stride(1), kc.stride(0), kc.stride(1), kc.stride(2),
                            o.stride(0), o.stride(1), GQA=H // KVH, GP=16, D=D, BT=64)
                    us = checked_time(csv, row, fn, o, ref)
                    if us is None:
                        continue
                    kvb = 2 * batch * ctx * KVH * D * (2 if kvdt == "bf16" else 1)
                    total = kvb + 2 * batch * H * D * 2
                    row.update(time_us=f"{us:.3f}", bytes=total, weight_bytes=kvb,
                               gbps=f"{total / us / 1e3:.1f}", status="ok")
                except Exception as e:  # noqa: BLE001
                    row["status"] = "error: " + str(e).splitlines()[0][:120].replace(",", ";")
                csv.row(**row)
            del k, v, kf, vf
            torch.cuda.empty_cache()
        print(f"decode batch {batch} done", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--budget-s", type=float, default=420.0)
    ap.add_argument("--rows", default="", help="comma-separated M values (default: all)")
    ap.add_argument("--skip-gemm", action="store_true")
    ap.add_argument("--skip-decode", action="store_true")
    args = ap.parse_args()
    only_m = [int(x) for x in args.rows.split(",") if x]
    cols = ["format", "kernel", "shape", "M", "N", "K", "group_size", "weight_bytes", "time_us",
            "tflops", "bytes", "gbps", "rel_err", "status"]
    csv = Csv(args.out, dict(device_meta(), torch=torch.__version__, triton=triton.__version__), cols)
    end = time.time() + args.budget_s
    torch.manual_seed(0)
    if not args.skip_decode:
        try:
            decode_rows(csv, time.time() + 0.2 * args.budget_s)
        except Exception:  # noqa: BLE001
            traceback.print_exc()
    if not args.skip_gemm:
        gemm_rows(csv, only_m, end)
    return 0


if __name__ == "__main__":
    sys.exit(main())
