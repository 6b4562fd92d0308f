"""Host cost of launching one op eagerly from Python through PyTorch, per kind of op that a
forward step issues: a bf16 F.linear (cuBLAS), ATen elementwise ops, Triton kernels (those of
calibration/validation/fused_ops.py when importable, else a trivial one) and the
FlashAttention call of the validation step (SDPA's flash backend with GQA); and, with no kernel,
the Python view work one layer of the fused step does around those calls (`layer_glue`); then
whole eager decode steps of the fused reference at tiny widths, 4 and 12 layers, where the
ops run in a layer's order instead of one op repeated (`fused_step_4_layers`, `..._12_layers`).

Inputs are tiny, so each kernel's GPU time is far below its host cost and the launch queue
never fills: N calls back to back, one synchronisation at the end, wall time / N. The figure
is the median over repeats. `enqueue_us` is the same loop's time before the synchronisation;
when it equals `time_us` the GPU never held the host back (the check that the number is the
host's, not the GPU's).

    python3 framework_launch.py --out framework_launch.csv

The calibrate stage reads `time_us` per op (docs/calibration.md, framework launch).
"""

import argparse
import math
import os
import platform
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_meta import Csv, device_meta  # noqa: E402

try:
    import triton
    import triton.language as tl

    @triton.jit
    def _trivial(p, n, BLOCK: tl.constexpr):
        offs = tl.arange(0, BLOCK)
        m = offs < n
        tl.store(p + offs, tl.load(p + offs, mask=m) + 1.0, mask=m)
except Exception as _ex:  # noqa: BLE001
    triton = None
    _triton_error = f"{type(_ex).__name__}: {_ex}"


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def per_call_us(fn, calls, reps):
    """Median (and spread) over `reps` of wall time of `calls` launches / calls, in us."""
    for _ in range(50):
        fn()
    torch.cuda.synchronize()
    wall, enq = [], []
    for _ in range(reps):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        t1 = time.perf_counter()
        torch.cuda.synchronize()
        t2 = time.perf_counter()
        wall.append((t2 - t0) / calls * 1e6)
        enq.append((t1 - t0) / calls * 1e6)
    wall.sort()
    return (statistics.median(wall), wall[len(wall) // 10], wall[(9 * len(wall)) // 10],
            statistics.median(enq))


def gpu_us(fn, calls=200):
    """GPU time per call of the same op replayed from a CUDA graph (no host cost)."""
    try:
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            fn()
        torch.cuda.current_stream().wait_stream(side)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            for _ in range(calls):
                fn()
        g.replay()
        torch.cuda.synchronize()
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        best = math.inf
        for _ in range(5):
            s.record()
            g.replay()
            e.record()
            e.synchronize()
            best = min(best, s.elapsed_time(e) * 1e3 / calls)
        return best
    except Exception as ex:  # noqa: BLE001 - some ops cannot be captured; the column is a check
        print(f"  (no graph timing: {type(ex).__name__}: {str(ex)[:120]})")
        return float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="framework_launch.csv")
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=21)
    args = ap.parse_args()

    bf = torch.bfloat16
    dev = "cuda"
    # Llama-3-8B's attention shape (32 query heads, 8 KV heads, head dim 128), one sequence,
    # one new token over 16 cached keys; all other tensors 1-2 rows of 64 columns.
    h, kvh, hd, ctx = 32, 8, 128, 16
    x = torch.randn(1, 64, device=dev, dtype=bf)
    w = torch.randn(64, 64, device=dev, dtype=bf)
    a = torch.randn(2, 64, device=dev, dtype=bf)
    b = torch.randn(2, 64, device=dev, dtype=bf)
    nw = torch.randn(64, device=dev, dtype=bf)
    kc = torch.randn(1, ctx + 1, kvh, hd, device=dev, dtype=bf)
    knew = torch.randn(1, kvh * hd, device=dev, dtype=bf)
    qkv = torch.randn(1, (h + 2 * kvh) * hd, device=dev, dtype=bf)
    q = torch.randn(1, 1, h, hd, device=dev, dtype=bf)
    kk = torch.randn(1, ctx, kvh, hd, device=dev, dtype=bf)
    vv = torch.randn(1, ctx, kvh, hd, device=dev, dtype=bf)
    tok = torch.zeros(1, device=dev, dtype=torch.long)
    emb = torch.randn(128, 64, device=dev, dtype=bf)

    from torch.nn.attention import SDPBackend, sdpa_kernel

    def sdpa_flash():  # as llama_step.py's _attend (attn_impl sdpa_flash), decode shape
        with sdpa_kernel([SDPBackend.FLASH_ATTENTION]):
            o = F.scaled_dot_product_attention(q.transpose(1, 2), kk.transpose(1, 2),
                                               vv.transpose(1, 2), is_causal=False,
                                               enable_gqa=True)
        return o.transpose(1, 2)

    # op, kind, kernels launched per call, callable
    ops = [
        ("linear", "cublas", 1, lambda: F.linear(x, w)),
        ("aten_add", "aten", 1, lambda: a + b),
        ("aten_copy_slice", "aten", 1,  # the step's KV cache write: slice, view, copy_
         lambda: kc[:, ctx:ctx + 1].copy_(knew.view(1, 1, kvh, hd))),
        ("aten_embedding", "aten", 1, lambda: F.embedding(tok, emb)),
        ("aten_rms_norm", "aten", 1, lambda: F.rms_norm(a, (64,), nw, 1e-5)),
        ("sdpa_flash", "flash", 1, sdpa_flash),
        ("views_no_kernel", "python", 0,  # split + views of the step: host work, no kernel
         lambda: [t.view(1, -1, hd) for t in qkv.split([h * hd, kvh * hd, kvh * hd], dim=-1)]),
    ]

    # The Python work of one layer of the fused step that launches no kernel, as
    # llama_step.py's _fused_attention and forward_fused do it: the slot-mapping lookup, the
    # qkv split and head views, the cache slices attention reads, the output reshape back to
    # rows. An engine's layer does the same kinds of view work around its kernels.
    o_dec = sdpa_flash()
    slot_cache = {(1, 1, ctx, ctx + 1): torch.zeros(1, device=dev, dtype=torch.long)}

    def layer_glue():
        slot_cache[(1, 1, ctx, ctx + 1)]
        qq, kn, vn = qkv.split([h * hd, kvh * hd, kvh * hd], dim=-1)
        qq, kn, vn = qq.view(1, h, hd), kn.view(1, kvh, hd), vn.view(1, kvh, hd)
        qq.view(1, 1, h, hd), kc[:, :ctx + 1], kc[:, :ctx + 1]
        return o_dec.reshape(1, h * hd)

    ops.append(("layer_glue", "python", 0, layer_glue))

    triton_source = "none"
    if triton is None:
        print(f"triton unavailable ({_triton_error})")
    else:
        tt = torch.zeros(64, device=dev, dtype=torch.float32)
        ops.append(("triton_trivial", "triton", 1, lambda: _trivial[(1,)](tt, 64, BLOCK=64)))
        triton_source = f"triton {triton.__version__}"
        here = os.path.dirname(os.path.abspath(__file__))
        for p in (os.path.join(here, "..", "validation"), here):
            sys.path.insert(0, p)
        try:
            import fused_ops
            res = torch.randn(2, 64, device=dev, dtype=bf)
            out = torch.empty(2, 64, device=dev, dtype=bf)
            pos = torch.zeros(1, device=dev, dtype=torch.long)
            cos = torch.randn(8, hd // 2, device=dev, dtype=bf)
            sin = torch.randn(8, hd // 2, device=dev, dtype=bf)
            gu = torch.randn(2, 128, device=dev, dtype=bf)
            slot = torch.full((1,), ctx, device=dev, dtype=torch.long)
            ops += [
                ("triton_add_rmsnorm", "triton", 1,
                 lambda: fused_ops.add_rmsnorm(a, res, nw, out, True)),
                ("triton_rotary", "triton", 1,
                 lambda: fused_ops.rotary_(qkv, pos, cos, sin, h + kvh, hd)),
                ("triton_silu_mul", "triton", 1, lambda: fused_ops.silu_and_mul(gu)),
                ("triton_kv_write", "triton", 1,
                 lambda: fused_ops.kv_write_(qkv, slot, kc, kc, h, kvh, hd)),
            ]
            triton_source += " + fused_ops.py"
        except Exception as ex:  # noqa: BLE001
            print(f"fused_ops.py not importable ({type(ex).__name__}: {ex}); trivial kernel only")

    meta = device_meta()
    meta.update({"torch": torch.__version__, "python": platform.python_version(),
                 "cpu": cpu_model().replace(",", " "), "triton_kernels": triton_source})
    csv = Csv(args.out, meta, ["op", "kind", "kernels", "calls", "reps", "time_us", "p10_us",
                               "p90_us", "enqueue_us", "gpu_us"])
    print(f"{meta['gpu']}, driver {meta['driver']}, torch {meta['torch']}, {meta['cpu']}")
    with torch.inference_mode():
        for name, kind, kernels, fn in ops:
            med, p10, p90, enq = per_call_us(fn, args.calls, args.reps)
            g = gpu_us(fn) if kernels else float("nan")
            print(f"{name:20s} {kind:7s} {med:7.2f} us/call (p10 {p10:.2f}, p90 {p90:.2f}; "
                  f"enqueue {enq:.2f}; GPU {g:.2f})")
            csv.row(op=name, kind=kind, kernels=kernels, calls=args.calls, reps=args.reps,
                    time_us=f"{med:.3f}", p10_us=f"{p10:.3f}", p90_us=f"{p90:.3f}",
                    enqueue_us=f"{enq:.3f}", gpu_us=f"{g:.3f}")
        if triton_source.endswith("fused_ops.py"):
            for name, kernels, fn in tiny_steps(dev, ctx):
                calls = max(10, args.calls // 20)
                med, p10, p90, enq = per_call_us(fn, calls, args.reps)
                g = gpu_us(fn, calls=10)
                print(f"{name:20s} {'python':7s} {med:7.2f} us/call (p10 {p10:.2f}, p90 {p90:.2f}; "
                      f"enqueue {enq:.2f}; GPU {g:.2f})")
                csv.row(op=name, kind="step", kernels=kernels, calls=calls, reps=args.reps,
                        time_us=f"{med:.3f}", p10_us=f"{p10:.3f}", p90_us=f"{p90:.3f}",
                        enqueue_us=f"{enq:.3f}", gpu_us=f"{g:.3f}")


def tiny_steps(dev, ctx):
    """Whole eager decode steps of the fused reference (llama_step.py's forward_fused) with
    4 and 12 layers of Llama-3-8B's attention shape but tiny widths (hidden 256, intermediate
    512, vocabulary 512), one sequence over `ctx` cached tokens. The GPU work is a few us per
    kernel, so the host sets the pace: the ops in the order a layer issues them, each once,
    rather than one op repeated. A check on the per-op figures (their difference over 8 layers
    is the host's cost of a layer as the step issues it); the calibrate stage does not read
    these rows."""
    import llama_step
    cfg = dict(hidden=256, heads=32, kv_heads=8, head_dim=128, inter=512, vocab=512,
               rope_theta=500000.0)
    out = []
    for layers in (4, 12):
        torch.manual_seed(0)
        model = llama_step.Llama(cfg, layers)
        model.attn_impl = "sdpa_flash"
        kc, vc = model.alloc_cache(1, ctx + 1)
        tok = torch.zeros(1, device=dev, dtype=torch.long)
        pos = torch.full((1,), ctx, device=dev, dtype=torch.long)
        fn = (lambda m, t, p, k, v: lambda: m.forward_fused(t, p, 1, 1, k, v, ctx))(
            model, tok, pos, kc, vc)
        # 10 kernels per layer (the step model's count), 4 per step (embedding, final norm, LM
        # head, the last residual add).
        out.append((f"fused_step_{layers}_layers", 10 * layers + 4, fn))
    return out


if __name__ == "__main__":
    main()
