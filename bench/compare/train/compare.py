#!/usr/bin/env python3
"""PeftSharp against plain PyTorch eager on the same LoRA training and inference workloads, in one run.

The model is the benchmark config of `peft bench train` / `peft bench infer`: a Llama architecture with hidden 768,
12 layers, 12 heads, 12 KV heads, intermediate 2048, vocab 32000, tied embeddings (109.5M parameters), random
weights. The PyTorch side is written here in plain torch (no transformers/peft packages): the same decoder block
as transformers' LlamaForCausalLM in eager mode (RMSNorm, rotate_half RoPE, materialised causal softmax
attention, SwiGLU MLP, tied head, shifted-label cross-entropy), and LoRA as Hugging Face PEFT applies it
(base(x) + B(A(x))·alpha/r, A Kaiming-uniform, B zero, dropout 0) on the same modules, with torch.optim.AdamW on
the adapter parameters only. torch.set_num_threads(2).

Every workload runs in its own process, so each peak RSS (VmHWM, reset after the model is built) belongs to one
workload. PeftSharp runs `peft bench train --json` and `peft bench infer --json` the same way.

Usage (repository root, after `dotnet build src/PeftSharp.Cli -c Release`):
    python3 bench/compare/train/compare.py [--rounds 1] [--steps 5] [--skip-infer]
The script installs Debian's python3-torch with apt-get when `import torch` fails.
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

HIDDEN, LAYERS, HEADS, KV_HEADS, INTER, VOCAB = 768, 12, 12, 12, 2048, 32000
BATCH, LENGTH, RANK, ALPHA = 4, 256, 16, 32
PROMPT, NEW_TOKENS = 32, 64
ATTN = ["q_proj", "k_proj", "v_proj", "o_proj"]
ALL_LINEAR = ATTN + ["gate_proj", "up_proj", "down_proj"]
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
PEFT_DLL = os.path.join(ROOT, "src", "PeftSharp.Cli", "bin", "Release", "net10.0", "peft.dll")


def ensure_torch():
    """Imports torch; otherwise installs Debian's python3-torch and re-runs under the system python3 that has it."""
    try:
        import torch  # noqa: F401
        return
    except ImportError:
        pass
    if not os.path.exists("/usr/lib/python3/dist-packages/torch/__init__.py"):
        print("installing python3-torch with apt-get ...", file=sys.stderr)
        subprocess.run(["apt-get", "install", "-y", "python3-torch"], check=True)
    if os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3", os.path.abspath(__file__), *sys.argv[1:]])
    import torch  # noqa: F401,F811


def peak_rss_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


# ----------------------------------------------------------------------------------------------- the torch model
def build(targets):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class RMSNorm(nn.Module):
        def __init__(self, c, eps=1e-6):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(c))
            self.eps = eps

        def forward(self, x):
            var = x.pow(2).mean(-1, keepdim=True)
            return self.weight * (x * torch.rsqrt(var + self.eps))

    class LoraLinear(nn.Module):
        """Hugging Face PEFT's LoRA Linear: base(x) + lora_B(lora_A(dropout(x))) * scaling."""

        def __init__(self, base, r, alpha):
            super().__init__()
            self.base = base
            self.lora_A = nn.Linear(base.in_features, r, bias=False)
            self.lora_B = nn.Linear(r, base.out_features, bias=False)
            nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
            nn.init.zeros_(self.lora_B.weight)
            self.scaling = alpha / r

        def forward(self, x):
            return self.base(x) + self.lora_B(self.lora_A(x)) * self.scaling

    def rotate_half(x):
        x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
        return torch.cat((-x2, x1), dim=-1)

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.q_proj = nn.Linear(HIDDEN, HIDDEN, bias=False)
            self.k_proj = nn.Linear(HIDDEN, HIDDEN, bias=False)
            self.v_proj = nn.Linear(HIDDEN, HIDDEN, bias=False)
            self.o_proj = nn.Linear(HIDDEN, HIDDEN, bias=False)

        def forward(self, x, cos, sin, cache=None):
            b, t, _ = x.shape
            d = HIDDEN // HEADS
            q = self.q_proj(x).view(b, t, HEADS, d).transpose(1, 2)
            k = self.k_proj(x).view(b, t, KV_HEADS, d).transpose(1, 2)
            v = self.v_proj(x).view(b, t, KV_HEADS, d).transpose(1, 2)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            if cache is not None:
                if cache[0] is not None:
                    k = torch.cat([cache[0], k], dim=2)
                    v = torch.cat([cache[1], v], dim=2)
                cache[0], cache[1] = k, v
            s = k.shape[2]
            scores = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(d)
            if t > 1:
                mask = torch.full((t, s), torch.finfo(scores.dtype).min).triu(s - t + 1)
                scores = scores + mask
            p = F.softmax(scores, dim=-1, dtype=torch.float32)
            y = torch.matmul(p, v).transpose(1, 2).reshape(b, t, HIDDEN)
            return self.o_proj(y)

    class Mlp(nn.Module):
        def __init__(self):
            super().__init__()
            self.gate_proj = nn.Linear(HIDDEN, INTER, bias=False)
            self.up_proj = nn.Linear(HIDDEN, INTER, bias=False)
            self.down_proj = nn.Linear(INTER, HIDDEN, bias=False)

        def forward(self, x):
            return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))

    class Layer(nn.Module):
        def __init__(self):
            super().__init__()
            self.self_attn = Attention()
            self.mlp = Mlp()
            self.input_layernorm = RMSNorm(HIDDEN)
            self.post_attention_layernorm = RMSNorm(HIDDEN)

        def forward(self, h, cos, sin, cache=None):
            h = h + self.self_attn(self.input_layernorm(h), cos, sin, cache)
            return h + self.mlp(self.post_attention_layernorm(h))

    class Llama(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed_tokens = nn.Embedding(VOCAB, HIDDEN)
            self.layers = nn.ModuleList([Layer() for _ in range(LAYERS)])
            self.norm = RMSNorm(HIDDEN)
            self.lm_head = nn.Linear(HIDDEN, VOCAB, bias=False)
            self.lm_head.weight = self.embed_tokens.weight
            d = HIDDEN // HEADS
            self.inv_freq = 1.0 / (10000.0 ** (torch.arange(0, d, 2).float() / d))

        def rope(self, start, t):
            pos = torch.arange(start, start + t).float()
            freqs = torch.outer(pos, self.inv_freq)
            emb = torch.cat((freqs, freqs), dim=-1)
            return emb.cos()[None, None], emb.sin()[None, None]

        def forward(self, ids, labels=None, caches=None, start=0):
            cos, sin = self.rope(start, ids.shape[1])
            h = self.embed_tokens(ids)
            for i, layer in enumerate(self.layers):
                h = layer(h, cos, sin, None if caches is None else caches[i])
            logits = self.lm_head(self.norm(h))
            if labels is None:
                return logits
            shift_logits = logits[..., :-1, :].contiguous()
            shift_labels = labels[..., 1:].contiguous()
            return F.cross_entropy(shift_logits.view(-1, VOCAB), shift_labels.view(-1))

    torch.manual_seed(1234)
    model = Llama()
    for p in model.parameters():
        p.requires_grad_(False)
    if targets:
        for layer in model.layers:
            for parent in (layer.self_attn, layer.mlp):
                for name in list(vars(parent)["_modules"]):
                    if name in targets:
                        setattr(parent, name, LoraLinear(getattr(parent, name), RANK, ALPHA))
    return model


def torch_train(targets, steps):
    import torch
    torch.set_num_threads(2)
    model = build(ATTN if targets == "attn" else ALL_LINEAR)
    model.train()
    params = [p for n, p in model.named_parameters() if "lora_" in n]
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.01)
    g = torch.Generator().manual_seed(7)
    ids = torch.randint(0, VOCAB, (BATCH, LENGTH), generator=g)
    reset = reset_peak()
    times = []
    loss = float("nan")
    for step in range(2 + steps):
        t0 = time.perf_counter()
        out = model(ids, labels=ids)
        out.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        loss = out.item()
        if step >= 2:
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    return {"targets": targets, "weights": "f32", "train_tokens_per_s": BATCH * LENGTH / med, "train_step_s_median": med,
            "peak_rss_mib": peak_rss_mib(), "peak_reset": reset, "trainable_parameters": sum(p.numel() for p in params), "loss": loss}


def torch_infer(repeats):
    import torch
    torch.set_num_threads(2)
    model = build(None)
    model.eval()
    g = torch.Generator().manual_seed(7)
    ids = torch.randint(0, VOCAB, (BATCH, LENGTH), generator=g)
    prompt = torch.randint(0, VOCAB, (1, PROMPT), generator=g)
    reset = reset_peak()
    fwd, gen = [], []
    with torch.no_grad():
        for run in range(repeats + 1):
            t0 = time.perf_counter()
            model(ids)
            if run > 0:
                fwd.append(time.perf_counter() - t0)
        for run in range(repeats + 1):
            t0 = time.perf_counter()
            caches = [[None, None] for _ in range(LAYERS)]
            logits = model(prompt, caches=caches)
            nxt = logits[:, -1].argmax(-1, keepdim=True)
            pos = PROMPT
            for _ in range(NEW_TOKENS - 1):
                logits = model(nxt, caches=caches, start=pos)
                nxt = logits[:, -1].argmax(-1, keepdim=True)
                pos += 1
            if run > 0:
                gen.append(time.perf_counter() - t0)
    return {"weights": "f32", "forward_tokens_per_s": BATCH * LENGTH / statistics.median(fwd),
            "generate_tokens_per_s": NEW_TOKENS / statistics.median(gen), "peak_rss_mib": peak_rss_mib(), "peak_reset": reset}


# ---------------------------------------------------------------------------------------------------- the driver
def run_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def worker_cmd(*args):
    return [sys.executable, os.path.abspath(__file__), "--worker", *args]


def load():
    return os.getloadavg()[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=1, help="alternate PeftSharp and PyTorch this many times; medians are reported")
    ap.add_argument("--steps", type=int, default=5, help="timed training steps after 2 warm-ups")
    ap.add_argument("--repeat", type=int, default=3, help="timed inference runs after one warm-up")
    ap.add_argument("--skip-infer", action="store_true")
    ap.add_argument("--peft", default=PEFT_DLL, help="path of peft.dll")
    ap.add_argument("--peak-gflops", type=float, default=0, help="FMA peak for the MFU (default: the best that peft bench train measures in the run)")
    ap.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    a = ap.parse_args()
    ensure_torch()
    if a.worker:
        kind = a.worker[0]
        res = torch_train(a.worker[1], int(a.worker[2])) if kind == "train" else torch_infer(int(a.worker[1]))
        print(json.dumps(res))
        return

    import torch
    print(f"torch {torch.__version__}, threads set to 2; OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')}", file=sys.stderr)
    print("\n".join(l for l in torch.__config__.parallel_info().splitlines() if l.strip()), file=sys.stderr)
    dotnet = ["dotnet", a.peft]
    rows = {}

    def add(key, side, value):
        rows.setdefault(key, {}).setdefault(side, []).append(value)

    peaks = []
    for r in range(a.rounds):
        print(f"round {r + 1}: load {load():.2f}; peft bench train ...", file=sys.stderr)
        cmd = dotnet + ["bench", "train", "--targets", "both", "--weights", "both", "--steps", str(a.steps), "--json"]
        if a.peak_gflops:
            cmd += ["--peak-gflops", str(a.peak_gflops)]
        ours = run_json(cmd)
        if "fma_peak" in ours:
            peaks.append(ours["fma_peak"].get("peak_gflops", ours["fma_peak"]["gflops_2_threads"]))
        for x in ours["results"]:
            # MFU against the best peak measured so far: a peak measured while other processes held a core is low.
            x["tokens_flops"] = x["train_tokens_per_s"] * x["flops_per_token"]
            add(("train", x["targets"], x["weights"]), "ours", x)
        for targets in ("attn", "all-linear"):
            print(f"round {r + 1}: load {load():.2f}; torch train {targets} ...", file=sys.stderr)
            add(("train", targets, "f32"), "torch", run_json(worker_cmd("train", targets, str(a.steps))))
        if not a.skip_infer:
            print(f"round {r + 1}: load {load():.2f}; peft bench infer ...", file=sys.stderr)
            for x in run_json(dotnet + ["bench", "infer", "--repeat", str(a.repeat), "--json"])["results"]:
                add(("infer", x["weights"]), "ours", x)
            print(f"round {r + 1}: load {load():.2f}; torch infer ...", file=sys.stderr)
            add(("infer", "f32"), "torch", run_json(worker_cmd("infer", str(a.repeat))))
    print(f"end: load {load():.2f}", file=sys.stderr)

    def med(side, field):
        vals = [x[field] for x in side if x.get(field) is not None]
        return statistics.median(vals) if vals else float("nan")

    def ratio(a_, b_):
        return a_ / b_ if b_ and not math.isnan(b_) else float("nan")

    peak = a.peak_gflops or (max(peaks) if peaks else float("nan"))
    for side in rows.values():
        for x in side.get("ours", []):
            if "tokens_flops" in x:
                x["mfu"] = x["tokens_flops"] / (peak * 1e9)
    print(f"\nFMA peak used for MFU: {peak:.1f} GFLOP/s (2 threads; {'given' if a.peak_gflops else 'best of ' + ', '.join(f'{p:.1f}' for p in peaks) + ' measured by peft bench train'})")
    print(f"{'workload':<34}{'PeftSharp':>12}{'PyTorch':>12}{'ratio':>9}")
    f32_train = {}
    for key in sorted(rows, key=str):
        sides = rows[key]
        ours, theirs = sides.get("ours", []), sides.get("torch", [])
        if key[0] == "train":
            name = f"train {key[1]} {key[2]}"
            o_tps, t_tps = med(ours, "train_tokens_per_s"), med(theirs, "train_tokens_per_s")
            o_mem, t_mem = med(ours, "peak_rss_mib"), med(theirs, "peak_rss_mib")
            if key[2] == "f32":
                f32_train[key[1]] = (o_tps, o_mem)
                t_ref = (t_tps, t_mem)
            else:
                t_tps, t_mem = rows.get(("train", key[1], "f32"), {}).get("torch") and (
                    med(rows[("train", key[1], "f32")]["torch"], "train_tokens_per_s"),
                    med(rows[("train", key[1], "f32")]["torch"], "peak_rss_mib")) or (float("nan"), float("nan"))
            print(f"{name + ' tokens/s':<34}{o_tps:>12.1f}{t_tps:>12.1f}{ratio(o_tps, t_tps):>8.2f}x")
            print(f"{name + ' peak RSS MiB':<34}{o_mem:>12.0f}{t_mem:>12.0f}{ratio(o_mem, t_mem):>8.2f}x")
            print(f"{name + ' MFU':<34}{med(ours, 'mfu'):>12.3f}")
            print(f"{name + ' alloc bytes/step':<34}{med(ours, 'allocated_bytes_per_step'):>12.0f}")
        else:
            name = f"infer {key[1]}"
            for field, label in (("forward_tokens_per_s", "forward 4x256 tok/s"), ("generate_tokens_per_s", "generate 32+64 tok/s"), ("peak_rss_mib", "peak RSS MiB")):
                o, t = med(ours, field), med(theirs, field) if theirs else (med(rows[("infer", "f32")]["torch"], field) if ("infer", "f32") in rows else float("nan"))
                print(f"{name + ' ' + label:<34}{o:>12.1f}{t:>12.1f}{ratio(o, t):>8.2f}x")
    for targets in ("attn", "all-linear"):
        b = rows.get(("train", targets, "bf16"), {}).get("ours")
        if b and targets in f32_train:
            tps, mem = med(b, "train_tokens_per_s"), med(b, "peak_rss_mib")
            print(f"bf16 / f32 (PeftSharp) {targets}: tokens/s {tps / f32_train[targets][0]:.3f}, peak RSS {mem / f32_train[targets][1]:.3f}")
    print("\nraw:", json.dumps({" ".join(k): v for k, v in rows.items()}))


if __name__ == "__main__":
    main()
