#!/usr/bin/env python3
"""Full forward-step timings of a Llama-shaped decoder, for validating the
step-time model.  These numbers are NOT used to fit the model.

The model is a plain PyTorch Llama (random bf16 weights): token embedding,
per layer RMSNorm -> fused QKV projection -> NeoX rotary embedding -> K/V
written into a preallocated cache -> causal attention (SDPA, FlashAttention
backend, native GQA) -> O projection -> residual add + RMSNorm -> fused
gate/up projection -> SiLU(gate) * up -> down projection -> residual add;
final RMSNorm and the LM head applied to the last token of each sequence only.

Phases:
  prefill  B sequences of S new tokens each (empty cache), eager, and the
           whole step captured in one CUDA graph and replayed.
  decode   B sequences, one new token each, attending to C cached tokens plus
           itself (C+1 keys); eager, and the whole step captured in one CUDA
           graph (torch.cuda.CUDAGraph) and replayed.

time_ms is the CUDA-event time around one step (median over repetitions);
wall_ms is the host wall time around the same step including the final
synchronisation.  Points whose KV cache does not fit in free GPU memory are
skipped and listed in <out>_skipped.csv.
"""

import argparse
import math
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

DTYPE = torch.bfloat16

MODELS = {
    "llama-3-8b": dict(layers=32, hidden=4096, heads=32, kv_heads=8, head_dim=128,
                       inter=14336, vocab=128256, rope_theta=500000.0),
    "llama-3-70b": dict(layers=80, hidden=8192, heads=64, kv_heads=8, head_dim=128,
                        inter=28672, vocab=128256, rope_theta=500000.0),
}

GRIDS = {
    "full": dict(
        prefill=[(b, s) for s in (128, 256, 512, 1024, 2048, 4096, 8192)
                 for b in (1, 2, 4, 8, 16, 32, 64) if b * s <= 16384],
        decode=[(b, c) for b in (1, 2, 4, 8, 16, 32, 64, 128, 256)
                for c in (128, 512, 1024, 2048, 4096)]),
    "small": dict(
        prefill=[(1, 128), (1, 512), (1, 2048), (1, 8192), (2, 8192), (4, 1024), (8, 2048),
                 (16, 512), (64, 256)],
        decode=[(b, c) for b in (1, 4, 16, 64, 256) for c in (512, 2048, 4096)]),
}


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
from bench_meta import Csv, device_meta  # noqa: E402


# -------------------------------------------------------------------- model --

class Llama:
    def __init__(self, cfg, layers):
        self.c = dict(cfg, layers=layers)
        c = self.c
        H, hd, I = c["hidden"], c["head_dim"], c["inter"]
        qkv_n = (c["heads"] + 2 * c["kv_heads"]) * hd

        def w(n, k):  # Linear weight [out, in], std 1/sqrt(in)
            return torch.empty(n, k, device="cuda", dtype=DTYPE).normal_(0.0, 1.0 / math.sqrt(k))

        def norm_w():
            return torch.empty(H, device="cuda", dtype=DTYPE).uniform_(0.8, 1.2)

        self.embed = torch.empty(c["vocab"], H, device="cuda", dtype=DTYPE).normal_(0.0, 1.0)
        self.layers = []
        for _ in range(layers):
            self.layers.append(dict(ln1=norm_w(), wqkv=w(qkv_n, H), wo=w(H, c["heads"] * hd),
                                    ln2=norm_w(), wgu=w(2 * I, H), wd=w(H, I)))
        self.lnf = norm_w()
        self.lm_head = w(c["vocab"], H)
        max_pos = 16384 + 8
        inv = 1.0 / (c["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
        ang = torch.arange(max_pos, dtype=torch.float64)[:, None] * inv[None, :]
        self.cos = ang.cos().to(device="cuda", dtype=DTYPE)
        self.sin = ang.sin().to(device="cuda", dtype=DTYPE)
        self.attn_impl = "sdpa_flash"
        self.cos_half = self.cos.contiguous()  # [max_pos, hd/2], for fused_ops.rotary_
        self.sin_half = self.sin.contiguous()

    def n_params(self):
        n = self.embed.numel() + self.lnf.numel() + self.lm_head.numel()
        for lw in self.layers:
            n += sum(t.numel() for t in lw.values())
        return n

    def kv_bytes(self, batch, length):
        c = self.c
        return 2 * c["layers"] * batch * length * c["kv_heads"] * c["head_dim"] * 2

    def alloc_cache(self, batch, length):
        c = self.c
        shape = (c["layers"], batch, length, c["kv_heads"], c["head_dim"])
        k = torch.empty(shape, device="cuda", dtype=DTYPE)
        v = torch.empty(shape, device="cuda", dtype=DTYPE)
        for t in (k, v):  # random contents, layer by layer to bound temporaries
            for layer in range(c["layers"]):
                t[layer].normal_(0.0, 1.0)
        return k, v

    @staticmethod
    def _rms(x, w):
        if hasattr(F, "rms_norm"):
            return F.rms_norm(x, (x.shape[-1],), w, 1e-5)
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + 1e-5)).to(x.dtype) * w

    @staticmethod
    def _rope(x, cos, sin):  # x [T, h, hd]; cos/sin [T, 1, hd/2]
        half = x.shape[-1] // 2
        x1, x2 = x[..., :half], x[..., half:]
        return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)

    def _attend(self, q, k, v, causal):
        """q [B, Sq, h, hd]; k, v [B, Sk, kv, hd] -> [B, Sq, h, hd] (bottom-right causal)."""
        if self.attn_impl == "sdpa_flash":
            from torch.nn.attention import SDPBackend, sdpa_kernel
            with sdpa_kernel([SDPBackend.FLASH_ATTENTION]):
                o = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2),
                                                   v.transpose(1, 2), is_causal=causal,
                                                   enable_gqa=True)
            return o.transpose(1, 2)
        out = torch.ops.aten._flash_attention_forward(
            q, k, v, None, None, q.shape[1], k.shape[1], 0.0, causal, False,
            scale=1.0 / math.sqrt(q.shape[-1]))
        return out[0]

    # Where a tensor-parallel shard (llama_step_tp.py) differs from one GPU: the embedding, the
    # sum of the row-parallel projections' partial outputs over the ranks, the LM head.
    def _embed(self, tokens):
        return F.embedding(tokens, self.embed)

    def _reduce(self, x):
        return x

    def _logits(self, last):
        return F.linear(self._rms(last, self.lnf), self.lm_head)

    def _attend_cached(self, q, k, v, kc, vc, batch, q_len, start):
        """Attention of the step once its K/V are in kc/vc[:, start:start+q_len]; prefill
        (start == 0) attends causally over the new tokens, decode and chunks over the cache up
        to them."""
        h, kvh, hd = self.c["heads"], self.c["kv_heads"], self.c["head_dim"]
        if start == 0:
            return self._attend(q.view(batch, q_len, h, hd), k.view(batch, q_len, kvh, hd),
                                v.view(batch, q_len, kvh, hd), True)
        return self._attend(q.view(batch, q_len, h, hd), kc[:, :start + q_len],
                            vc[:, :start + q_len], q_len > 1)

    def _cache_and_attend(self, q, k, v, kc, vc, batch, q_len, start):
        """Writes the new K/V at kc/vc[:, start:start+q_len] (one slice copy each), then
        attends."""
        kvh, hd = self.c["kv_heads"], self.c["head_dim"]
        kc[:, start:start + q_len].copy_(k.view(batch, q_len, kvh, hd))
        vc[:, start:start + q_len].copy_(v.view(batch, q_len, kvh, hd))
        return self._attend_cached(q, k, v, kc, vc, batch, q_len, start)

    def _slots(self, batch, q_len, start, length, device):
        """The cache row of each new token (sequence b, position start + i -> b * length +
        start + i): the slot mapping an engine builds with its inputs, once per step shape."""
        key = (batch, q_len, start, length)
        cache = self.__dict__.setdefault("_slot_cache", {})
        if key not in cache:
            cache[key] = (torch.arange(batch, device=device, dtype=torch.long)[:, None] * length
                          + start + torch.arange(q_len, device=device, dtype=torch.long)).reshape(-1)
        return cache[key]

    def _fused_attention(self, qkv, positions, kc, vc, batch, q_len, start):
        """The attention block of the fused step as engines run it: rotary in place on q and
        k (one kernel), K and V into the cache (one kernel), attention. Returns [T, h * hd]."""
        import fused_ops
        h, kvh, hd = self.c["heads"], self.c["kv_heads"], self.c["head_dim"]
        T = qkv.shape[0]
        fused_ops.rotary_(qkv, positions, self.cos_half, self.sin_half, h + kvh, hd)
        slots = self._slots(batch, q_len, start, kc.shape[1], qkv.device)
        fused_ops.kv_write_(qkv, slots, kc, vc, h, kvh, hd)
        q, k, v = qkv.split([h * hd, kvh * hd, kvh * hd], dim=-1)
        o = self._attend_cached(q.view(T, h, hd), k.view(T, kvh, hd), v.view(T, kvh, hd), kc, vc,
                                batch, q_len, start)
        return o.reshape(T, h * hd)

    def forward_fused(self, tokens, positions, batch, q_len, kcache, vcache, start):
        """forward() with the elementwise work fused as serving engines fuse it
        (fused_ops.py): one residual-add + RMSNorm pass per norm, rotary in place, one
        cache-write kernel for K and V, one SiLU-multiply pass."""
        import fused_ops
        x = self._embed(tokens)
        residual = torch.empty_like(x)
        hs = torch.empty_like(x)
        for li, lw in enumerate(self.layers):
            fused_ops.add_rmsnorm(x, residual, lw["ln1"], hs, li > 0)
            qkv = F.linear(hs, lw["wqkv"])
            o = self._fused_attention(qkv, positions, kcache[li], vcache[li], batch, q_len, start)
            x = self._reduce(F.linear(o, lw["wo"]))
            fused_ops.add_rmsnorm(x, residual, lw["ln2"], hs, True)
            x = self._reduce(F.linear(fused_ops.silu_and_mul(F.linear(hs, lw["wgu"])), lw["wd"]))
        residual = x + residual
        return self._logits(residual.view(batch, q_len, -1)[:, -1])

    def forward(self, tokens, positions, batch, q_len, kcache, vcache, start):
        """tokens/positions [batch*q_len]; writes K/V at cache[:, :, start:start+q_len];
        prefill (start == 0): causal attention over the new tokens;
        decode (q_len == 1): attention over cache[:, :, :start+1].
        Returns logits [batch, vocab] of each sequence's last token."""
        c = self.c
        h, kvh, hd, I = c["heads"], c["kv_heads"], c["head_dim"], c["inter"]
        T = tokens.shape[0]
        x = self._embed(tokens)
        cos = self.cos[positions].unsqueeze(1)
        sin = self.sin[positions].unsqueeze(1)
        residual = None
        for li, lw in enumerate(self.layers):
            residual = x if residual is None else x + residual
            hs = self._rms(residual, lw["ln1"])
            qkv = F.linear(hs, lw["wqkv"])
            q, k, v = qkv.split([h * hd, kvh * hd, kvh * hd], dim=-1)
            q = self._rope(q.view(T, h, hd), cos, sin)
            k = self._rope(k.reshape(T, kvh, hd), cos, sin)
            v = v.view(T, kvh, hd)
            o = self._cache_and_attend(q, k, v, kcache[li], vcache[li], batch, q_len, start)
            x = self._reduce(F.linear(o.reshape(T, h * hd), lw["wo"]))
            residual = x + residual
            hs = self._rms(residual, lw["ln2"])
            gu = F.linear(hs, lw["wgu"])
            x = self._reduce(F.linear(F.silu(gu[:, :I]) * gu[:, I:], lw["wd"]))
        residual = x + residual
        return self._logits(residual.view(batch, q_len, -1)[:, -1])


# ------------------------------------------------------------------- checks --

def choose_attention(model):
    """Use SDPA's flash backend with native GQA if it runs and matches a
    reference; otherwise call the flash kernel through aten directly."""
    torch.manual_seed(0)
    c = model.c
    B, S, h, kvh, hd = 2, 257, c["heads"], c["kv_heads"], c["head_dim"]
    q = torch.randn(B, S, h, hd, device="cuda", dtype=DTYPE)
    k = torch.randn(B, S, kvh, hd, device="cuda", dtype=DTYPE)
    v = torch.randn(B, S, kvh, hd, device="cuda", dtype=DTYPE)
    kr = k.float().repeat_interleave(h // kvh, dim=2).transpose(1, 2)
    vr = v.float().repeat_interleave(h // kvh, dim=2).transpose(1, 2)
    ref = F.scaled_dot_product_attention(q.float().transpose(1, 2), kr, vr, is_causal=True)
    ref = ref.transpose(1, 2)
    for impl in ("sdpa_flash", "aten_flash_dense"):
        model.attn_impl = impl
        try:
            full = model._attend(q, k, v, True)
            # decode shape: last query against all keys
            dec = model._attend(q[:, -1:], k, v, False)
            e1 = ((full.float() - ref).norm() / ref.norm()).item()
            e2 = ((dec.float() - ref[:, -1:]).norm() / ref[:, -1:].norm()).item()
            print(f"attention {impl}: rel err prefill {e1:.2e}, decode {e2:.2e}")
            if e1 < 2e-2 and e2 < 2e-2:
                return impl
        except Exception as ex:  # noqa: BLE001
            print(f"attention {impl}: unavailable ({type(ex).__name__}: {str(ex)[:200]})")
    raise SystemExit("no working flash attention path")


def consistency_check(model):
    """Decode of token C against the cache of a C-token prefill must give the
    logits of a (C+1)-token prefill's last token."""
    B, C = 2, 40
    V = model.c["vocab"]
    toks = torch.randint(0, V, (B, C + 1), device="cuda")
    pos = torch.arange(C + 1, device="cuda").repeat(B, 1)
    kc, vc = model.alloc_cache(B, C + 1)
    model.forward(toks[:, :C].reshape(-1), pos[:, :C].reshape(-1), B, C, kc, vc, 0)
    dec = model.forward(toks[:, C], pos[:, C], B, 1, kc, vc, C)
    kc2, vc2 = model.alloc_cache(B, C + 1)
    full = model.forward(toks.reshape(-1), pos.reshape(-1), B, C + 1, kc2, vc2, 0)
    err = ((dec.float() - full.float()).norm() / full.float().norm()).item()
    ok = math.isfinite(err) and err < 5e-2
    print(f"consistency decode-vs-prefill logits: rel err {err:.2e} {'ok' if ok else 'WARNING'}")
    del kc, vc, kc2, vc2
    torch.cuda.empty_cache()
    return err


def fused_check(model):
    """The fused step must compute what the plain one does, prefill and decode alike."""
    B, C = 2, 40
    V = model.c["vocab"]
    toks = torch.randint(0, V, (B, C + 1), device="cuda")
    pos = torch.arange(C + 1, device="cuda").repeat(B, 1)
    errs = []
    for fwd in (model.forward, model.forward_fused):
        kc, vc = model.alloc_cache(B, C + 1)
        fwd(toks[:, :C].reshape(-1), pos[:, :C].reshape(-1), B, C, kc, vc, 0)
        errs.append(fwd(toks[:, C], pos[:, C], B, 1, kc, vc, C).float())
    err = ((errs[1] - errs[0]).norm() / errs[0].norm()).item()
    if not (math.isfinite(err) and err < 5e-2):
        raise SystemExit(f"fused step differs from the plain step: rel err {err:.2e}")
    print(f"fused-vs-plain logits: rel err {err:.2e} ok")


# ------------------------------------------------------------------- timing --

def time_step(fn, warmup, budget_s, min_reps, max_reps, before=None, agree=lambda v: v):
    """Median CUDA-event and host wall time of fn() over repetitions, as many as fit in
    budget_s after the first (within min_reps..max_reps). Across GPUs (llama_step_tp.py),
    `before` lines the ranks up ahead of each repetition and `agree` turns each time into the
    slowest rank's, so that every rank counts the same repetitions."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    gpu, wall = [], []
    reps = max_reps
    i = 0
    while i < reps:
        if before is not None:
            before()
        t0 = time.perf_counter()
        s.record()
        fn()
        e.record()
        e.synchronize()
        t1 = time.perf_counter()
        gpu.append(agree(s.elapsed_time(e)))
        wall.append(agree((t1 - t0) * 1e3))
        if i == 0:
            reps = int(min(max_reps, max(min_reps, budget_s * 1e3 / max(wall[0], 1e-3))))
        i += 1
    gs = sorted(gpu)
    q = lambda f: gs[min(len(gs) - 1, int(round(f * (len(gs) - 1))))]  # noqa: E731
    return dict(time_ms=statistics.median(gpu), p10_ms=q(0.1), p90_ms=q(0.9),
                wall_ms=statistics.median(wall), reps=len(gpu))


def capture(fn):
    """Captures fn() (after two warm-up calls on a side stream) in one CUDA graph."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(2):
            fn()
    torch.cuda.current_stream().wait_stream(side)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        out = fn()
    return g, out


def check_finite(out):
    torch.cuda.synchronize()
    if not bool(torch.isfinite(out).all()):
        print("WARNING: non-finite logits in graph replay")


# The columns of a step CSV (llama_step_tp.py adds its own after these).
STEP_COLUMNS = ["model", "layers", "phase", "mode", "batch", "seq_or_ctx", "tokens", "kv_tokens",
                "time_ms", "p10_ms", "p90_ms", "wall_ms", "reps", "attn_kernel", "torch"]


def step_arguments(doc, out, model, grid):
    """The command line of a step script: `out`, `model` and `grid` are its defaults."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--out", default=out)
    ap.add_argument("--model", default=model, choices=sorted(MODELS))
    ap.add_argument("--layers", type=int, default=0, help="number of layers (default: all)")
    ap.add_argument("--grid", default=grid, choices=sorted(GRIDS))
    ap.add_argument("--phases", default="prefill,decode")
    ap.add_argument("--modes", default="eager,graph", help="decode modes")
    ap.add_argument("--prefill-modes", default="eager,graph")
    ap.add_argument("--max-seconds", type=float, default=1e9,
                    help="stop starting new points after this many seconds")
    ap.add_argument("--mem-margin-gib", type=float, default=3.0)
    ap.add_argument("--fused", action="store_true",
                    help="fuse the elementwise work as serving engines do (fused_ops.py, Triton)")
    return ap


def main():
    args = step_arguments(__doc__, "llama_step.csv", "llama-3-8b", "full").parse_args()
    if not torch.cuda.is_available():
        sys.exit("llama_step.py: no CUDA device")
    t_start = time.time()
    deadline = t_start + args.max_seconds
    cfg = MODELS[args.model]
    layers = args.layers or cfg["layers"]
    meta = device_meta()
    torch.manual_seed(0)
    model = Llama(cfg, layers)
    torch.cuda.synchronize()
    print(f"{args.model}: {layers} layers, {model.n_params() / 1e9:.2f} B parameters, "
          f"{torch.cuda.memory_allocated() / 2**30:.1f} GiB allocated")
    model.attn_impl = choose_attention(model)
    with torch.inference_mode():
        consistency_check(model)

    label = args.model if layers == cfg["layers"] else f"{args.model}-{layers}l"
    csv = Csv(args.out, meta, STEP_COLUMNS)
    skipped_path = os.path.splitext(args.out)[0] + "_skipped.csv"
    skipped = Csv(skipped_path, meta, ["model", "layers", "phase", "batch", "seq_or_ctx",
                                       "kv_gib", "free_gib", "reason"])
    grid = GRIDS[args.grid]
    V = cfg["vocab"]
    gib = float(2 ** 30)

    def emit(phase, mode, b, sc, tokens, kv_tokens, r):
        csv.row(model=label, layers=layers, phase=phase, mode=mode, batch=b, seq_or_ctx=sc,
                tokens=tokens, kv_tokens=kv_tokens, time_ms=f"{r['time_ms']:.4f}",
                p10_ms=f"{r['p10_ms']:.4f}", p90_ms=f"{r['p90_ms']:.4f}",
                wall_ms=f"{r['wall_ms']:.4f}", reps=r["reps"], attn_kernel=model.attn_impl,
                torch=torch.__version__)
        print(f"{phase:7s} {mode:5s} B={b:3d} {'S' if phase == 'prefill' else 'C'}={sc:5d} "
              f"{r['time_ms']:9.3f} ms (wall {r['wall_ms']:9.3f})", flush=True)

    def fits(phase, b, sc, length, extra):
        """sc: the point's seq_or_ctx; length: cache length to allocate."""
        torch.cuda.empty_cache()
        free = torch.cuda.mem_get_info()[0]
        need = model.kv_bytes(b, length) + extra + args.mem_margin_gib * gib
        if need > free:
            skipped.row(model=label, layers=layers, phase=phase, batch=b, seq_or_ctx=sc,
                        kv_gib=f"{model.kv_bytes(b, length) / gib:.2f}", free_gib=f"{free / gib:.2f}",
                        reason="kv_cache_does_not_fit")
            print(f"{phase} B={b} seq_or_ctx={sc}: skipped (KV {model.kv_bytes(b, length) / gib:.1f} GiB,"
                  f" free {free / gib:.1f} GiB)")
            return False
        return True

    fwd = model.forward
    if args.fused:
        fwd = model.forward_fused
        label += "+fused"
        with torch.inference_mode():
            fused_check(model)

    with torch.inference_mode():
        if "prefill" in args.phases:
            for b, s in grid["prefill"]:
                if time.time() > deadline:
                    break
                # activations: roughly 12 bytes per token per MLP intermediate element
                act = b * s * cfg["inter"] * 12
                if not fits("prefill", b, s, s, act):
                    continue
                kc, vc = model.alloc_cache(b, s)
                toks = torch.randint(0, V, (b * s,), device="cuda")
                pos = torch.arange(s, device="cuda").repeat(b)
                fn = lambda: fwd(toks, pos, b, s, kc, vc, 0)  # noqa: E731
                if "eager" in args.prefill_modes:
                    r = time_step(fn, warmup=1, budget_s=1.0, min_reps=3, max_reps=10)
                    emit("prefill", "eager", b, s, b * s, b * s, r)
                if "graph" in args.prefill_modes:
                    g, out = capture(fn)
                    r = time_step(g.replay, warmup=1, budget_s=1.0, min_reps=3, max_reps=10)
                    check_finite(out)
                    emit("prefill", "graph", b, s, b * s, b * s, r)
                    del g, out
                del kc, vc, toks, pos

        if "decode" in args.phases:
            for b, c in grid["decode"]:
                if time.time() > deadline:
                    break
                if not fits("decode", b, c, c + 1, 0):
                    continue
                kc, vc = model.alloc_cache(b, c + 1)
                toks = torch.randint(0, V, (b,), device="cuda")
                pos = torch.full((b,), c, device="cuda", dtype=torch.long)
                fn = lambda: fwd(toks, pos, b, 1, kc, vc, c)  # noqa: E731
                if "eager" in args.modes:
                    r = time_step(fn, warmup=3, budget_s=0.6, min_reps=5, max_reps=40)
                    emit("decode", "eager", b, c, b, b * (c + 1), r)
                if "graph" in args.modes:
                    g, out = capture(fn)
                    r = time_step(g.replay, warmup=3, budget_s=0.4, min_reps=5, max_reps=30)
                    check_finite(out)
                    emit("decode", "graph", b, c, b, b * (c + 1), r)
                    del g, out
                del kc, vc, toks, pos
    torch.cuda.synchronize()
    if time.time() > deadline:
        print("llama_step: stopped at the time budget; later points are missing")
    print(f"llama_step: done in {time.time() - t_start:.0f} s; skipped points in {skipped_path}")


if __name__ == "__main__":
    main()
