"""Fused elementwise kernels (Triton) for the validation step, doing what serving engines
such as vLLM do with their own fused kernels: residual add + RMSNorm in one pass, rotary
embedding applied in place to q and k, the new K and V written into the cache by one
kernel through a slot mapping (vLLM's reshape_and_cache does the same job), and SiLU(gate) * up
in one pass.  With them the
reference step moves the bytes the step-time model counts for these ops, instead of the
several passes of plain PyTorch (docs/validation.md)."""

import torch
import triton
import triton.language as tl


@triton.jit
def _add_rmsnorm(x_ptr, res_ptr, w_ptr, out_ptr, n, eps, HAS_RES: tl.constexpr,
                 BLOCK: tl.constexpr):
    row = tl.program_id(0)
    offs = tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + row * n + offs, mask=mask, other=0.0).to(tl.float32)
    if HAS_RES:
        x += tl.load(res_ptr + row * n + offs, mask=mask, other=0.0).to(tl.float32)
    tl.store(res_ptr + row * n + offs, x.to(tl.bfloat16), mask=mask)
    rstd = 1.0 / tl.sqrt(tl.sum(x * x, axis=0) / n + eps)
    w = tl.load(w_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    tl.store(out_ptr + row * n + offs, (x * rstd * w).to(tl.bfloat16), mask=mask)


def add_rmsnorm(x, residual, w, out, has_residual, eps=1e-5):
    """residual <- x (+ residual); out <- rmsnorm(residual) * w.  All [T, n] contiguous."""
    T, n = x.shape
    _add_rmsnorm[(T,)](x, residual, w, out, n, eps, HAS_RES=has_residual,
                       BLOCK=triton.next_power_of_2(n), num_warps=8)


@triton.jit
def _rotary(qkv_ptr, pos_ptr, cos_ptr, sin_ptr, row_stride, HALF: tl.constexpr):
    t = tl.program_id(0)
    head = tl.program_id(1)
    offs = tl.arange(0, HALF)
    pos = tl.load(pos_ptr + t)
    cos = tl.load(cos_ptr + pos * HALF + offs).to(tl.float32)
    sin = tl.load(sin_ptr + pos * HALF + offs).to(tl.float32)
    base = qkv_ptr + t * row_stride + head * 2 * HALF
    x1 = tl.load(base + offs).to(tl.float32)
    x2 = tl.load(base + HALF + offs).to(tl.float32)
    tl.store(base + offs, (x1 * cos - x2 * sin).to(tl.bfloat16))
    tl.store(base + HALF + offs, (x2 * cos + x1 * sin).to(tl.bfloat16))


def rotary_(qkv, positions, cos, sin, rot_heads, head_dim):
    """NeoX rotary in place on the first rot_heads heads (q then k) of each qkv row."""
    T = qkv.shape[0]
    # The kernel reads positions[t] at offset t: they must be contiguous.
    _rotary[(T, rot_heads)](qkv, positions.contiguous(), cos, sin, qkv.stride(0),
                            HALF=head_dim // 2, num_warps=1)


@triton.jit
def _kv_write(qkv_ptr, slot_ptr, kc_ptr, vc_ptr, row_stride, k_col, v_col,
              KVH: tl.constexpr, HD: tl.constexpr):
    t = tl.program_id(0)
    head = tl.program_id(1)
    offs = tl.arange(0, HD)
    slot = tl.load(slot_ptr + t)  # int64: the cache row of token t
    src = qkv_ptr + t * row_stride + head * HD + offs
    dst = slot * (KVH * HD) + head * HD + offs
    tl.store(kc_ptr + dst, tl.load(src + k_col))
    tl.store(vc_ptr + dst, tl.load(src + v_col))


def kv_write_(qkv, slots, kc, vc, heads, kv_heads, head_dim):
    """Copies each token's K and V heads from its qkv row [q | k | v] into cache row slots[t]
    of kc and vc (contiguous, rows of kv_heads * head_dim), in one launch."""
    T = qkv.shape[0]
    _kv_write[(T, kv_heads)](qkv, slots, kc, vc, qkv.stride(0), heads * head_dim,
                             (heads + kv_heads) * head_dim, KVH=kv_heads, HD=head_dim,
                             num_warps=1)


@triton.jit
def _silu_mul(gu_ptr, out_ptr, inter, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    cols = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    mask = cols < inter
    g = tl.load(gu_ptr + row * 2 * inter + cols, mask=mask, other=0.0).to(tl.float32)
    u = tl.load(gu_ptr + row * 2 * inter + inter + cols, mask=mask, other=0.0).to(tl.float32)
    tl.store(out_ptr + row * inter + cols, (g / (1.0 + tl.exp(-g)) * u).to(tl.bfloat16), mask=mask)


def silu_and_mul(gu):
    T, two_i = gu.shape
    inter = two_i // 2
    out = torch.empty((T, inter), device=gu.device, dtype=gu.dtype)
    BLOCK = 1024
    _silu_mul[(T, triton.cdiv(inter, BLOCK))](gu, out, inter, BLOCK=BLOCK, num_warps=4)
    return out
