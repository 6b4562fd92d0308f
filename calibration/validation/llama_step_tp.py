#!/usr/bin/env python3
"""Tensor-parallel forward steps of a Llama-shaped decoder over N GPUs, for validating the
step-time model's collectives.  These numbers are NOT used to fit the model.

    torchrun --nproc-per-node N calibration/validation/llama_step_tp.py \
        --model llama-3-70b --out llama_step_tp8.csv [--fused]

The step of llama_step.py, sharded as Megatron-LM shards it (random bf16 weights):
  - token embedding split over the vocabulary, masked lookup, all-reduce;
  - per layer: RMSNorm -> QKV projection split by heads (column-parallel: heads/N query
    heads and kv_heads/N KV heads per GPU) -> rotary -> K/V into this GPU's cache -> flash
    attention over the local heads -> O projection split by input (row-parallel) ->
    all-reduce -> residual add + RMSNorm -> gate/up projection column-parallel -> SiLU * up
    -> down projection row-parallel -> all-reduce -> residual add;
  - final RMSNorm and the LM head split over the vocabulary on the last token of each
    sequence, then an all-gather of the logits.
That is 2 all-reduces per layer plus one, and one all-gather, as servesim's step model
counts them (docs/architecture.md).

Every point runs eager and as one captured CUDA graph (collectives included), over the grids
of llama_step.py. Ranks agree on every decision (which points fit, how many repetitions,
the time budget) so that they issue the same collectives. time_ms / wall_ms are the
slowest rank's, per repetition, then the median over repetitions. Points whose KV cache does
not fit on every GPU are skipped and listed in <out>_skipped.csv.

Before timing, a small model is run both sharded and whole on each GPU and the logits are
compared, so the sharding is checked, not assumed. NCCL_NVLS_ENABLE=0 (multicast off) unless
the environment sets it; the value used is in every row.
"""

import math
import os
import sys
import time

os.environ.setdefault("NCCL_NVLS_ENABLE", "0")

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
import torch.nn.functional as F  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from llama_step import (DTYPE, GRIDS, MODELS, STEP_COLUMNS, Llama, capture,  # noqa: E402
                        choose_attention, step_arguments, time_step)

sys.path.insert(0, os.path.join(HERE, "..", "bench"))
from bench_meta import Csv, device_meta  # noqa: E402


def shard_rows(w, rank, tp):
    n = w.shape[0] // tp
    return w[rank * n:(rank + 1) * n]


def shard_cols(w, rank, tp):
    n = w.shape[1] // tp
    return w[:, rank * n:(rank + 1) * n].contiguous()


class TPLlama(Llama):
    """One rank's shard. `full`: a whole Llama to slice (for the check), else random shards."""

    def __init__(self, cfg, layers, rank, tp, full=None):
        c = dict(cfg, layers=layers)
        if c["heads"] % tp or c["kv_heads"] % tp or c["inter"] % tp or c["vocab"] % tp:
            raise SystemExit(f"tp {tp} does not divide heads, KV heads, intermediate and vocab")
        self.rank, self.tp = rank, tp
        self.full_cfg = c
        # The local view: heads and KV heads of this GPU (what _cache_and_attend,
        # _fused_attention and the cache helpers of Llama read), hidden size unchanged.
        self.c = dict(c, heads=c["heads"] // tp, kv_heads=c["kv_heads"] // tp,
                      inter=c["inter"] // tp)
        H, hd = c["hidden"], c["head_dim"]
        h, kvh, I = self.c["heads"], self.c["kv_heads"], c["inter"] // tp
        self.vocab_local = c["vocab"] // tp

        def w(n, k):
            return torch.empty(n, k, device="cuda", dtype=DTYPE).normal_(0.0, 1.0 / math.sqrt(k))

        def norm_w():
            return torch.empty(H, device="cuda", dtype=DTYPE).uniform_(0.8, 1.2)

        if full is None:
            self.embed = torch.empty(self.vocab_local, H, device="cuda", dtype=DTYPE).normal_()
            self.layers = []
            for _ in range(layers):
                # Linear weights [out, in]: input std 1/sqrt(full fan-in), as the whole model.
                self.layers.append(dict(
                    ln1=norm_w(), wqkv=w((h + 2 * kvh) * hd, H),
                    wo=w(H, h * hd).div_(math.sqrt(tp)), ln2=norm_w(), wgu=w(2 * I, H),
                    wd=w(H, I).div_(math.sqrt(tp))))
            self.lnf = norm_w()
            self.lm_head = w(self.vocab_local, H)
        else:
            self._slice(full)
        if full is not None:
            self.cos, self.sin = full.cos, full.sin
        else:
            max_pos = 16384 + 8
            inv = 1.0 / (c["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
            ang = torch.arange(max_pos, dtype=torch.float64)[:, None] * inv[None, :]
            self.cos = ang.cos().to(device="cuda", dtype=DTYPE)
            self.sin = ang.sin().to(device="cuda", dtype=DTYPE)
        self.cos_half, self.sin_half = self.cos.contiguous(), self.sin.contiguous()
        self.attn_impl = "sdpa_flash"

    def _slice(self, full):
        r, tp, c = self.rank, self.tp, self.full_cfg
        hd, h, kvh, I = c["head_dim"], c["heads"], c["kv_heads"], c["inter"]
        self.embed = shard_rows(full.embed, r, tp).contiguous()
        self.layers = []
        for lw in full.layers:
            q, k, v = lw["wqkv"].split([h * hd, kvh * hd, kvh * hd], dim=0)
            g, u = lw["wgu"].split([I, I], dim=0)
            self.layers.append(dict(
                ln1=lw["ln1"],
                wqkv=torch.cat([shard_rows(q, r, tp), shard_rows(k, r, tp),
                                shard_rows(v, r, tp)]).contiguous(),
                wo=shard_cols(lw["wo"], r, tp), ln2=lw["ln2"],
                wgu=torch.cat([shard_rows(g, r, tp), shard_rows(u, r, tp)]).contiguous(),
                wd=shard_cols(lw["wd"], r, tp)))
        self.lnf = full.lnf
        self.lm_head = shard_rows(full.lm_head, r, tp).contiguous()

    def _embed(self, tokens):
        """Vocabulary-parallel embedding: rows outside this GPU's range are zero, then summed."""
        lo = self.rank * self.vocab_local
        local = tokens - lo
        inside = (local >= 0) & (local < self.vocab_local)
        x = F.embedding(local.clamp(0, self.vocab_local - 1), self.embed)
        x = x * inside.unsqueeze(-1).to(x.dtype)
        dist.all_reduce(x)
        return x

    def _logits(self, last):
        local = F.linear(self._rms(last, self.lnf), self.lm_head)  # [B, vocab/tp]
        gathered = torch.empty((self.tp,) + tuple(local.shape), device=local.device,
                               dtype=local.dtype)
        dist.all_gather_into_tensor(gathered, local.contiguous())
        return gathered.permute(1, 0, 2).reshape(local.shape[0], -1)  # [B, vocab]

    def _reduce(self, x):
        """The row-parallel projections' partial outputs, summed over the ranks."""
        dist.all_reduce(x)
        return x


# ------------------------------------------------------- ranks that agree --

def agree_max(value):
    t = torch.tensor([float(value)], dtype=torch.float64, device="cuda")
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return t.item()


def agree_all(flag):
    """True only when every rank says True."""
    return agree_max(0.0 if flag else 1.0) == 0.0


# ------------------------------------------------------------------ checks --

def sharding_check(rank, tp, fused):
    """A small model, sharded over the ranks and whole on each GPU, must give the same logits
    (prefill, then decode against the prefill's cache)."""
    cfg = dict(layers=2, hidden=1024, heads=16, kv_heads=8, head_dim=128, inter=2048,
               vocab=4096 * tp, rope_theta=500000.0)
    torch.manual_seed(1234)  # same seed on every GPU: the same whole model everywhere
    whole = Llama(cfg, 2)
    shard = TPLlama(cfg, 2, rank, tp, full=whole)
    whole.attn_impl = shard.attn_impl = choose_attention(whole)
    B, C = 2, 40
    toks = torch.randint(0, cfg["vocab"], (B, C + 1), device="cuda")
    dist.broadcast(toks, 0)
    pos = torch.arange(C + 1, device="cuda").repeat(B, 1)
    tp_fwd = shard.forward_fused if fused else shard.forward
    kc, vc = whole.alloc_cache(B, C + 1)
    skc, svc = shard.alloc_cache(B, C + 1)  # this GPU's KV heads only
    errs = []
    for args in ((toks[:, :C].reshape(-1), pos[:, :C].reshape(-1), B, C),  # prefill
                 (toks[:, C], pos[:, C], B, 1)):                           # then decode
        start = 0 if args[3] > 1 else C
        ref = whole.forward(*args, kc, vc, start).float()
        got = tp_fwd(*args, skc, svc, start).float()
        errs.append(((got - ref).norm() / ref.norm()).item())
    worst = agree_max(max(errs))
    if rank == 0:
        print(f"sharded-vs-whole logits (prefill, decode): rel err {errs[0]:.2e}, {errs[1]:.2e};"
              f" worst over ranks {worst:.2e}")
    if not (math.isfinite(worst) and worst < 5e-2):
        raise SystemExit(f"the sharded step differs from the whole one: rel err {worst:.2e}")
    del whole, shard
    torch.cuda.empty_cache()


# ------------------------------------------------------------------ timing --

def lined_up():
    """Every rank starts a timed repetition together, with its GPU idle."""
    dist.barrier()
    torch.cuda.synchronize()


def main():
    args = step_arguments(__doc__, "llama_step_tp.csv", "llama-3-70b", "small").parse_args()
    if not torch.cuda.is_available():
        sys.exit("llama_step_tp.py: no CUDA device")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    torch.cuda.set_device(local)
    dist.init_process_group("nccl", device_id=torch.device("cuda", local))
    rank, tp = dist.get_rank(), dist.get_world_size()
    t_start = time.time()
    cfg = MODELS[args.model]
    layers = args.layers or cfg["layers"]

    with torch.inference_mode():
        sharding_check(rank, tp, args.fused)
    torch.manual_seed(rank)
    model = TPLlama(cfg, layers, rank, tp)
    model.attn_impl = choose_attention(model)  # local heads; every rank checks its own
    torch.cuda.synchronize()
    if rank == 0:
        print(f"{args.model}: {layers} layers over TP {tp}, "
              f"{torch.cuda.memory_allocated() / 2**30:.1f} GiB of weights per GPU", flush=True)

    label = args.model if layers == cfg["layers"] else f"{args.model}-{layers}l"
    nccl = ".".join(str(x) for x in torch.cuda.nccl.version())
    cols = STEP_COLUMNS + ["tp", "nccl", "nvls"]
    csv = skipped = None
    skipped_path = os.path.splitext(args.out)[0] + "_skipped.csv"
    if rank == 0:
        meta = device_meta()
        csv = Csv(args.out, meta, cols)
        skipped = Csv(skipped_path, meta, ["model", "layers", "tp", "phase", "batch",
                                           "seq_or_ctx", "kv_gib", "free_gib", "reason"])
    grid = GRIDS[args.grid]
    V = cfg["vocab"]
    gib = float(2 ** 30)
    fwd = model.forward
    if args.fused:
        fwd = model.forward_fused
        label += "+fused"

    def emit(phase, mode, b, sc, tokens, kv_tokens, r):
        if rank != 0:
            return
        csv.row(model=label, layers=layers, phase=phase, mode=mode, batch=b, seq_or_ctx=sc,
                tokens=tokens, kv_tokens=kv_tokens, time_ms=f"{r['time_ms']:.4f}",
                p10_ms=f"{r['p10_ms']:.4f}", p90_ms=f"{r['p90_ms']:.4f}",
                wall_ms=f"{r['wall_ms']:.4f}", reps=r["reps"], attn_kernel=model.attn_impl,
                torch=torch.__version__, tp=tp, nccl=nccl, nvls=os.environ["NCCL_NVLS_ENABLE"])
        print(f"tp{tp} {phase:7s} {mode:5s} B={b:3d} {'S' if phase == 'prefill' else 'C'}={sc:5d} "
              f"{r['time_ms']:9.3f} ms (wall {r['wall_ms']:9.3f})", flush=True)

    def fits(phase, b, sc, length, extra):
        torch.cuda.empty_cache()
        free = torch.cuda.mem_get_info()[0]
        need = model.kv_bytes(b, length) + extra + args.mem_margin_gib * gib
        if agree_all(need <= free):
            return True
        if rank == 0:
            skipped.row(model=label, layers=layers, tp=tp, phase=phase, batch=b, seq_or_ctx=sc,
                        kv_gib=f"{model.kv_bytes(b, length) / gib:.2f}",
                        free_gib=f"{free / gib:.2f}", reason="kv_cache_does_not_fit")
            print(f"{phase} B={b} seq_or_ctx={sc}: skipped (KV {model.kv_bytes(b, length) / gib:.1f}"
                  f" GiB per GPU, free {free / gib:.1f} GiB)", flush=True)
        return False

    def out_of_time():
        return agree_max(time.time() - t_start) > args.max_seconds

    def run_point(phase, fn, b, sc, tokens, kv_tokens, modes, reps):
        reps = dict(reps, before=lined_up, agree=agree_max)  # the ranks time in step
        if "eager" in modes:
            emit(phase, "eager", b, sc, tokens, kv_tokens, time_step(fn, **reps))
        if "graph" in modes:
            dist.barrier()
            g, out = capture(fn)
            emit(phase, "graph", b, sc, tokens, kv_tokens, time_step(g.replay, **reps))
            torch.cuda.synchronize()
            if not bool(torch.isfinite(out).all()) and rank == 0:
                print("WARNING: non-finite logits in graph replay")
            del g, out

    with torch.inference_mode():
        if "prefill" in args.phases:
            for b, s in grid["prefill"]:
                if out_of_time():
                    break
                if not fits("prefill", b, s, s, b * s * (cfg["inter"] // tp) * 12):
                    continue
                kc, vc = model.alloc_cache(b, s)
                toks = torch.randint(0, V, (b * s,), device="cuda")
                dist.broadcast(toks, 0)
                pos = torch.arange(s, device="cuda").repeat(b)
                fn = lambda: fwd(toks, pos, b, s, kc, vc, 0)  # noqa: E731
                run_point("prefill", fn, b, s, b * s, b * s, args.prefill_modes,
                          dict(warmup=1, budget_s=1.0, min_reps=3, max_reps=10))
                del kc, vc, toks, pos
        if "decode" in args.phases:
            for b, c in grid["decode"]:
                if out_of_time():
                    break
                if not fits("decode", b, c, c + 1, 0):
                    continue
                kc, vc = model.alloc_cache(b, c + 1)
                toks = torch.randint(0, V, (b,), device="cuda")
                dist.broadcast(toks, 0)
                pos = torch.full((b,), c, device="cuda", dtype=torch.long)
                fn = lambda: fwd(toks, pos, b, 1, kc, vc, c)  # noqa: E731
                run_point("decode", fn, b, c, b, b * (c + 1), args.modes,
                          dict(warmup=3, budget_s=0.5, min_reps=5, max_reps=30))
                del kc, vc, toks, pos
    torch.cuda.synchronize()
    late = out_of_time()
    if rank == 0:
        if late:
            print("llama_step_tp: stopped at the time budget; later points are missing")
        print(f"llama_step_tp: TP {tp} done in {time.time() - t_start:.0f} s; skipped points in "
              f"{skipped_path}", flush=True)
    # destroy_process_group can hang after NCCL work was captured in CUDA graphs
    # (pytorch/pytorch#115388); the rows are flushed, so leave without it.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
