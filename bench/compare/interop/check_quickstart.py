#!/usr/bin/env python3
"""Independent PyTorch check that a PeftSharp base model and LoRA adapter load and decode as in
Hugging Face transformers + PEFT.

Uses only torch and the Python standard library. It

1. validates its own Llama + LoRA reference against Hugging Face fixtures (base and adapted logits written by
   transformers 4.44.2 + PEFT 0.14.0),
2. checks the base folder's state-dict keys against the keys a transformers LlamaForCausalLM of that config.json
   expects (missing / unexpected / wrong shape),
3. checks the adapter's keys as PEFT maps them onto the adapted model (missing / unexpected / wrong shape),
4. greedy-decodes a few prompts in float64 with and without the adapter and compares the tokens with
   `peft generate --greedy --json`.

Exit status 0 only if every check passes. Run with --help for the options.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import struct
import subprocess
import sys
from dataclasses import dataclass, field

import torch

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))

DEFAULT_PROMPTS = [
    "question : what kind of word is cat ? answer :",
    "question : what kind of word is lake ? answer :",
    "question : what kind of word is blue ? answer :",
    "question : what kind of word is tom ? answer :",
    "tom saw a red fox in the park .",
    "mia went to the",
]

# Texts scored with `peft eval` (loss over every token and the appended </s>), with and without the adapter.
DEFAULT_EVAL_TEXTS = [
    "tom saw a red fox in the park . mia went to the lake with the blue ball .",
    "question : what kind of word is cat ? answer : animal",
]
# peft eval computes in float32. Its logits differ from a float64 evaluation by a few 1e-6 (rounding of
# 4 layers of float32 sums); the mean cross-entropy moves by at most twice the largest logit change. 1e-4 is
# an order above that and far below any semantic difference (the adapter changes these losses by > 0.1).
EVAL_LOSS_ATOL = 1e-4


class CheckError(Exception):
    """A file or setting this reference cannot check, with the reason."""


# ----------------------------------------------------------------------------------------------------------------
# safetensors


_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool,
}


@dataclass
class TensorFile:
    tensors: dict[str, torch.Tensor]
    dtypes: dict[str, str]
    metadata: dict | None


def read_safetensors(path: str) -> TensorFile:
    """Parses the format directly: u64 LE header length, JSON header, then raw little-endian data."""
    if sys.byteorder != "little":
        raise CheckError("this reader assumes a little-endian machine")
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise CheckError(f"{path}: {len(data)} bytes, shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise CheckError(f"{path}: header length {n} exceeds the file ({len(data)} bytes)")
    header = json.loads(data[8:8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", None)
    base = 8 + n
    tensors, dtypes = {}, {}
    for name, info in header.items():
        dtype = _DTYPES.get(info["dtype"])
        if dtype is None:
            raise CheckError(f"{path}: {name} has unsupported dtype {info['dtype']}")
        shape = list(info["shape"])
        start, end = info["data_offsets"]
        count = math.prod(shape)
        size = torch.tensor([], dtype=dtype).element_size()
        if end - start != count * size or base + end > len(data):
            raise CheckError(f"{path}: {name} spans bytes {start}..{end} but shape {shape} x {info['dtype']} needs {count * size}")
        buf = bytearray(data[base + start:base + end])
        t = torch.frombuffer(buf, dtype=dtype) if count else torch.empty(0, dtype=dtype)
        tensors[name] = t.reshape(shape)
        dtypes[name] = info["dtype"]
    return TensorFile(tensors, dtypes, metadata)


# ----------------------------------------------------------------------------------------------------------------
# transformers LlamaForCausalLM: config and state-dict keys


@dataclass
class LlamaSpec:
    vocab: int
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    eps: float
    rope_theta: float
    rope_scaling: dict | None
    tied: bool
    attention_bias: bool
    mlp_bias: bool
    eos: list[int]

    @staticmethod
    def from_folder(folder: str) -> "LlamaSpec":
        with open(os.path.join(folder, "config.json")) as f:
            c = json.load(f)
        if c.get("model_type") != "llama":
            raise CheckError(f"config.json model_type is {c.get('model_type')!r}, not 'llama'")
        if c.get("hidden_act", "silu") != "silu":
            raise CheckError(f"hidden_act {c.get('hidden_act')!r} is not implemented here (silu only)")
        if c.get("pretraining_tp", 1) != 1:
            raise CheckError("pretraining_tp > 1 is not implemented here")
        heads = c["num_attention_heads"]
        eos = c.get("eos_token_id")
        gen_path = os.path.join(folder, "generation_config.json")
        if os.path.exists(gen_path):
            with open(gen_path) as f:
                eos = json.load(f).get("eos_token_id", eos)
        eos_list = [] if eos is None else (list(eos) if isinstance(eos, list) else [eos])
        # LlamaConfig defaults (transformers 4.44) for fields a config.json may leave out.
        return LlamaSpec(
            vocab=c["vocab_size"], hidden=c["hidden_size"], intermediate=c["intermediate_size"],
            layers=c["num_hidden_layers"], heads=heads, kv_heads=c.get("num_key_value_heads") or heads,
            head_dim=c.get("head_dim") or c["hidden_size"] // heads,
            eps=c.get("rms_norm_eps", 1e-6), rope_theta=c.get("rope_theta", 10000.0), rope_scaling=c.get("rope_scaling"),
            tied=c.get("tie_word_embeddings", False), attention_bias=c.get("attention_bias", False),
            mlp_bias=c.get("mlp_bias", False), eos=eos_list)

    def linear_modules(self) -> dict[str, tuple[int, int]]:
        """Every nn.Linear of LlamaForCausalLM by module name: (in_features, out_features)."""
        q, kv = self.heads * self.head_dim, self.kv_heads * self.head_dim
        out = {}
        for i in range(self.layers):
            p = f"model.layers.{i}."
            out[p + "self_attn.q_proj"] = (self.hidden, q)
            out[p + "self_attn.k_proj"] = (self.hidden, kv)
            out[p + "self_attn.v_proj"] = (self.hidden, kv)
            out[p + "self_attn.o_proj"] = (q, self.hidden)
            out[p + "mlp.gate_proj"] = (self.hidden, self.intermediate)
            out[p + "mlp.up_proj"] = (self.hidden, self.intermediate)
            out[p + "mlp.down_proj"] = (self.intermediate, self.hidden)
        out["lm_head"] = (self.hidden, self.vocab)
        return out

    def named_modules(self) -> dict[str, str]:
        """named_modules() of LlamaForCausalLM (transformers 4.44), name -> kind, for PEFT's target matching."""
        mods = {"model": "other", "model.embed_tokens": "embedding", "model.layers": "other",
                "model.norm": "norm", "model.rotary_emb": "other", "lm_head": "linear"}
        for i in range(self.layers):
            p = f"model.layers.{i}"
            mods.update({p: "other", p + ".self_attn": "other", p + ".self_attn.rotary_emb": "other", p + ".mlp": "other",
                         p + ".mlp.act_fn": "other", p + ".input_layernorm": "norm", p + ".post_attention_layernorm": "norm"})
        for name in self.linear_modules():
            mods[name] = "linear"
        return mods

    def state_dict_shapes(self) -> dict[str, list[int]]:
        """The persistent state-dict keys transformers loads into LlamaForCausalLM, with their shapes. With
        tie_word_embeddings, lm_head.weight is the embedding itself and save_pretrained leaves it out."""
        keys = {"model.embed_tokens.weight": [self.vocab, self.hidden]}
        for name, (fin, fout) in self.linear_modules().items():
            if name == "lm_head" and self.tied:
                continue
            keys[name + ".weight"] = [fout, fin]
            biased = self.attention_bias if ".self_attn." in name else self.mlp_bias if ".mlp." in name else False
            if biased:
                keys[name + ".bias"] = [fout]
        for i in range(self.layers):
            keys[f"model.layers.{i}.input_layernorm.weight"] = [self.hidden]
            keys[f"model.layers.{i}.post_attention_layernorm.weight"] = [self.hidden]
        keys["model.norm.weight"] = [self.hidden]
        return keys


def check_base_keys(spec: LlamaSpec, file: TensorFile) -> list[str]:
    expected = spec.state_dict_shapes()
    problems = []
    missing = sorted(set(expected) - set(file.tensors))
    unexpected = sorted(set(file.tensors) - set(expected))
    if missing:
        problems.append(f"missing keys ({len(missing)}): {missing[:8]}")
    if unexpected:
        problems.append(f"unexpected keys ({len(unexpected)}): {unexpected[:8]}")
    for k in sorted(set(expected) & set(file.tensors)):
        if list(file.tensors[k].shape) != expected[k]:
            problems.append(f"{k}: shape {list(file.tensors[k].shape)}, the config needs {expected[k]}")
        if not file.tensors[k].is_floating_point():
            problems.append(f"{k}: dtype {file.dtypes[k]} is not a float type")
    return problems


# ----------------------------------------------------------------------------------------------------------------
# PEFT LoRA: targeting, key mapping, scaling


ADAPTER_NAME = "default"


@dataclass
class LoraModule:
    r: int
    alpha: float
    scaling: float
    A: torch.Tensor | None = None
    B: torch.Tensor | None = None


def _pattern_value(patterns: dict, name: str, default):
    # PEFT: the first key (file order) for which re.match(r".*\." + key + "$", name) succeeds.
    for key, value in patterns.items():
        if re.match(r".*\." + key + "$", name):
            return value
    return default


def lora_targets(spec: LlamaSpec, cfg: dict) -> dict[str, LoraModule]:
    """The modules PEFT 0.14 wraps for this LoraConfig on LlamaForCausalLM, with each module's r, alpha, scaling."""
    if cfg.get("peft_type") != "LORA":
        raise CheckError(f"peft_type {cfg.get('peft_type')!r}: only LORA is implemented here")
    for key, bad in (("use_dora", True), ("lora_bias", True)):
        if cfg.get(key) == bad:
            raise CheckError(f"{key}={bad} is not implemented here")
    if cfg.get("bias", "none") != "none":
        raise CheckError(f"bias={cfg.get('bias')!r} is not implemented here")
    if cfg.get("modules_to_save"):
        raise CheckError("modules_to_save is not implemented here")
    if cfg.get("layer_replication"):
        raise CheckError("layer_replication is not implemented here")
    if cfg.get("init_lora_weights", True) not in (True, False, "gaussian"):
        raise CheckError(f"init_lora_weights={cfg.get('init_lora_weights')!r} changes the base weights on load; not implemented here")
    targets = cfg.get("target_modules")
    if targets is None:
        raise CheckError("target_modules is null (PEFT would use its per-architecture default)")
    modules = spec.named_modules()
    if targets == "all-linear":
        # PEFT: every nn.Linear except the output layer, as a list of their last name components.
        targets = sorted({n.rsplit(".", 1)[-1] for n, kind in modules.items() if kind == "linear" and n != "lm_head"})
    exclude = cfg.get("exclude_modules")
    layers = cfg.get("layers_to_transform")
    if isinstance(layers, int):
        layers = [layers]
    pattern = cfg.get("layers_pattern")
    r, alpha, rs = cfg["r"], cfg["lora_alpha"], cfg.get("use_rslora", False)
    rank_pattern, alpha_pattern = cfg.get("rank_pattern") or {}, cfg.get("alpha_pattern") or {}

    def in_list(name, entries):
        return any(name == e or name.endswith("." + e) for e in entries)

    found = {}
    for name, kind in modules.items():
        if exclude is not None and (re.fullmatch(exclude, name) if isinstance(exclude, str) else in_list(name, exclude)):
            continue
        if isinstance(targets, str):
            if not re.fullmatch(targets, name):
                continue
        else:
            if not in_list(name, targets):
                continue
            if layers is not None:
                pats = [pattern] if isinstance(pattern, str) else (pattern or [None])
                index = None
                for p in pats:
                    m = re.match(r".*\.[^.]*\.(\d+)\." if p is None else r".*\." + p + r"\.(\d+)\.", name)
                    if m:
                        index = int(m.group(1))
                        break
                if index is None or index not in layers:
                    continue
        if kind != "linear":
            raise CheckError(f"target {name} is a {kind}; only Linear targets are implemented here")
        mr, ma = _pattern_value(rank_pattern, name, r), _pattern_value(alpha_pattern, name, alpha)
        found[name] = LoraModule(mr, ma, ma / math.sqrt(mr) if rs else ma / mr)
    if not found:
        raise CheckError(f"target_modules {cfg.get('target_modules')!r} match no module of the base model (PEFT raises)")
    return found


def peft_state_dict_key(file_key: str, prefix: str = "lora_") -> str:
    """PEFT's set_peft_model_state_dict renaming: the adapter name goes after the last "lora_<X>" component,
    "...q_proj.lora_A.weight" -> "...q_proj.lora_A.default.weight"; keys without the prefix are unchanged."""
    if prefix not in file_key:
        return file_key
    head, _, suffix = file_key.rpartition(prefix)
    if "." in suffix:
        rest = suffix.split(".", 1)[1]
        return file_key[: len(file_key) - len(rest)] + ADAPTER_NAME + "." + rest
    return file_key + "." + ADAPTER_NAME


def load_adapter(spec: LlamaSpec, folder: str) -> tuple[dict[str, LoraModule], list[str], dict]:
    with open(os.path.join(folder, "adapter_config.json")) as f:
        cfg = json.load(f)
    modules = lora_targets(spec, cfg)
    file = read_safetensors(os.path.join(folder, "adapter_model.safetensors"))
    linear = spec.linear_modules()
    expected = {}
    for name, m in modules.items():
        fin, fout = linear[name]
        expected[f"base_model.model.{name}.lora_A.{ADAPTER_NAME}.weight"] = (name, "A", [m.r, fin])
        expected[f"base_model.model.{name}.lora_B.{ADAPTER_NAME}.weight"] = (name, "B", [fout, m.r])
    mapped = {}
    problems = []
    for k, t in file.tensors.items():
        mk = peft_state_dict_key(k)
        if mk in mapped:
            problems.append(f"two file keys map to {mk}")
        mapped[mk] = (k, t)
    missing = sorted(set(expected) - set(mapped))
    unexpected = sorted(mapped[k][0] for k in set(mapped) - set(expected))
    if missing:
        problems.append(f"missing adapter keys ({len(missing)}): {missing[:8]}")
    if unexpected:
        problems.append(f"unexpected adapter keys ({len(unexpected)}): {unexpected[:8]}")
    for mk, (name, which, shape) in expected.items():
        if mk not in mapped:
            continue
        key, t = mapped[mk]
        if list(t.shape) != shape:
            problems.append(f"{key}: shape {list(t.shape)}, PEFT creates {shape} (r={modules[name].r})")
            continue
        setattr(modules[name], which, t.to(torch.float64))
    return modules, problems, cfg


# ----------------------------------------------------------------------------------------------------------------
# The Llama forward pass (transformers modeling_llama semantics) with LoRA, in float64


class LlamaReference:
    def __init__(self, spec: LlamaSpec, weights: dict[str, torch.Tensor], lora: dict[str, LoraModule] | None):
        self.s = spec
        self.w = {k: v.to(torch.float64) for k, v in weights.items()}
        if spec.tied:
            self.w["lm_head.weight"] = self.w["model.embed_tokens.weight"]
        self.lora = lora or {}
        self.inv_freq = self._inv_freq()

    def _inv_freq(self) -> torch.Tensor:
        # transformers computes inv_freq and the angles in float32, even for a float64 model.
        d = self.s.head_dim
        inv = 1.0 / (self.s.rope_theta ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))
        rs = self.s.rope_scaling
        if not rs:
            return inv
        kind = rs.get("rope_type", rs.get("type"))
        if kind == "default":
            return inv
        if kind == "linear":
            return inv / rs["factor"]
        if kind == "llama3":
            factor, low, high = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
            old = rs["original_max_position_embeddings"]
            low_wavelen, high_wavelen = old / low, old / high
            wavelen = 2 * math.pi / inv
            scaled = torch.where(wavelen > low_wavelen, inv / factor, inv)
            smooth = (old / wavelen - low) / (high - low)
            smoothed = (1 - smooth) * scaled / factor + smooth * scaled
            medium = ~(wavelen < high_wavelen) * ~(wavelen > low_wavelen)
            return torch.where(medium, smoothed, scaled)
        raise CheckError(f"rope_scaling type {kind!r} is not implemented here (default, linear, llama3)")

    def _linear(self, name: str, x: torch.Tensor) -> torch.Tensor:
        y = x @ self.w[name + ".weight"].T
        b = self.w.get(name + ".bias")
        if b is not None:
            y = y + b
        m = self.lora.get(name)
        if m is not None:
            y = y + (x @ m.A.T) @ m.B.T * m.scaling
        return y

    def _rms(self, name: str, x: torch.Tensor) -> torch.Tensor:
        var = x.pow(2).mean(-1, keepdim=True)
        return self.w[name + ".weight"] * (x * torch.rsqrt(var + self.s.eps))

    @staticmethod
    def _rotate_half(x: torch.Tensor) -> torch.Tensor:
        h = x.shape[-1] // 2
        return torch.cat((-x[..., h:], x[..., :h]), dim=-1)

    def logits(self, ids: list[int]) -> torch.Tensor:
        """Logits [L, vocab] of one unpadded sequence at positions 0..L-1."""
        s = self.s
        L = len(ids)
        pos = torch.arange(L, dtype=torch.float32)
        freqs = torch.outer(pos, self.inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos().to(torch.float64), emb.sin().to(torch.float64)
        mask = torch.full((L, L), float("-inf"), dtype=torch.float64).triu(1)
        rep = s.heads // s.kv_heads
        h = self.w["model.embed_tokens.weight"][torch.tensor(ids, dtype=torch.long)]
        for i in range(s.layers):
            p = f"model.layers.{i}."
            x = self._rms(p + "input_layernorm", h)
            q = self._linear(p + "self_attn.q_proj", x).view(L, s.heads, s.head_dim).transpose(0, 1)
            k = self._linear(p + "self_attn.k_proj", x).view(L, s.kv_heads, s.head_dim).transpose(0, 1)
            v = self._linear(p + "self_attn.v_proj", x).view(L, s.kv_heads, s.head_dim).transpose(0, 1)
            q = q * cos + self._rotate_half(q) * sin
            k = k * cos + self._rotate_half(k) * sin
            k = k.repeat_interleave(rep, dim=0)   # repeat_kv: query head j uses key/value head j // rep
            v = v.repeat_interleave(rep, dim=0)
            att = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(s.head_dim) + mask, dim=-1)
            o = (att @ v).transpose(0, 1).reshape(L, s.heads * s.head_dim)
            h = h + self._linear(p + "self_attn.o_proj", o)
            x = self._rms(p + "post_attention_layernorm", h)
            gate = self._linear(p + "mlp.gate_proj", x)
            h = h + self._linear(p + "mlp.down_proj", torch.nn.functional.silu(gate) * self._linear(p + "mlp.up_proj", x))
        return self._linear("lm_head", self._rms("model.norm", h))

    def greedy(self, ids: list[int], max_new: int) -> tuple[list[int], float]:
        """transformers' greedy search: arg-max each step, stop after an EOS token (kept). Also returns the
        smallest gap between the best and second-best logit over the steps (how close the run came to a tie)."""
        seq, out, gap = list(ids), [], math.inf
        for _ in range(max_new):
            last = self.logits(seq)[-1]
            top = torch.topk(last, 2).values
            gap = min(gap, float(top[0] - top[1]))
            t = int(torch.argmax(last))
            out.append(t)
            seq.append(t)
            if t in self.s.eos:
                break
        return out, gap


# ----------------------------------------------------------------------------------------------------------------
# Validation of the reference on Hugging Face fixtures


FIXTURE_CASES = [
    # (fixture folder, adapter sub-folder or "" or None for the base model only, io key of the expected logits)
    ("llama-lora", None, "base_logits"),
    ("llama-lora", "", "logits"),
    ("llama-lora-rslora-all-linear", "", "logits"),
    ("llama-lora-patterns", "regex", "regex.logits"),
]

# transformers + PEFT computed the fixture logits in float32; rerunning them in float64 moved them by at most
# meta.json checks.fp32_vs_fp64_logits_max_abs (1.6e-7 .. 4.2e-7). A float64 reference with the same semantics is
# therefore within ~5e-7 of the fixture. 1e-5 leaves a 20x margin and is still 10^4 below the adapters' effect on
# the logits (0.08 .. 1.3), so a wrong scaling, target set or rotary convention cannot pass.
FIXTURE_ATOL = 1e-5


def find_fixture_root(explicit: str | None) -> str | None:
    for cand in (explicit, os.environ.get("PEFTSHARP_FIXTURES"), os.path.join(REPO, "..", "shared", "fixtures"),
                 os.path.join(REPO, "tests", "fixtures")):
        if cand and os.path.isdir(os.path.join(cand, "peft", "llama-lora")):
            return os.path.abspath(cand)
    return None


def validate_on_fixtures(root: str) -> bool:
    print(f"== reference vs Hugging Face fixtures ({root}/peft)")
    ok = True
    for name, sub, key in FIXTURE_CASES:
        folder = os.path.join(root, "peft", name)
        if not os.path.exists(os.path.join(folder, sub or "", "adapter_config.json" if sub is not None else "config.json")):
            if name == "llama-lora":
                print(f"  FAIL {name} is missing from this fixture root")
                ok = False
            else:
                print(f"  skip {name}: not in this fixture root")
            continue
        spec = LlamaSpec.from_folder(folder)
        base = read_safetensors(os.path.join(folder, "model.safetensors"))
        problems = check_base_keys(spec, base)
        lora = None
        if sub is not None:
            lora, adapter_problems, _ = load_adapter(spec, os.path.join(folder, sub) if sub else folder)
            problems += adapter_problems
        io = read_safetensors(os.path.join(folder, "io.safetensors")).tensors
        with open(os.path.join(folder, "meta.json")) as f:
            checks = json.load(f).get("checks", {})
        fp64 = checks.get("regex.fp32_vs_fp64_logits_max_abs" if sub == "regex" else "fp32_vs_fp64_logits_max_abs")
        ref = LlamaReference(spec, base.tensors, lora)
        expected = io[key].to(torch.float64)
        err, effect = 0.0, 0.0
        for row in range(io["input_ids"].shape[0]):
            n = int(io["attention_mask"][row].sum())   # right padding: real tokens never attend to the pad
            got = ref.logits(io["input_ids"][row, :n].tolist())
            err = max(err, float((got - expected[row, :n]).abs().max()))
            effect = max(effect, float((expected[row, :n] - io["base_logits"][row, :n].to(torch.float64)).abs().max()))
        label = f"{name}/{sub}" if sub else name + (" (base)" if sub is None else "")
        good = not problems and err <= FIXTURE_ATOL
        ok &= good
        extra = f"; adapter effect {effect:.3g}" if sub is not None else ""
        print(f"  {'ok  ' if good else 'FAIL'} {label:42s} max |ref - HF| {err:.2e} (HF fp32 vs fp64: {fp64 if fp64 is None else f'{fp64:.1e}'}; tol {FIXTURE_ATOL:.0e}){extra}")
        for p in problems:
            print(f"       {p}")
    return ok


# ----------------------------------------------------------------------------------------------------------------
# Comparison with `peft generate`


def peft_command(explicit: str | None) -> list[str]:
    path = explicit or os.path.join(REPO, "src", "PeftSharp.Cli", "bin", "Release", "net10.0", "peft.dll")
    if not os.path.exists(path):
        raise CheckError(f"{path} not found: build it with `dotnet build src/PeftSharp.Cli -c Release` or pass --peft")
    return ["dotnet", path] if path.endswith(".dll") else [path]


def run_generate(cmd: list[str], base: str, adapter: str | None, prompt: str, max_new: int) -> dict:
    args = cmd + ["generate", "--model", base, "--greedy", "--json", "--max-new-tokens", str(max_new), "--prompt", prompt]
    if adapter:
        args += ["--adapter", adapter]
    proc = subprocess.run(args, capture_output=True, text=True)
    if proc.returncode != 0:
        raise CheckError(f"{' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()}")
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise CheckError(f"peft generate printed no JSON line: {proc.stdout!r}")
    return json.loads(lines[-1])


def word_level_ids(folder: str, text: str) -> list[int] | None:
    """Token ids of a word-level tokenizer.json that only splits on whitespace (no normalizer, no added special
    tokens); None for any other tokenizer, whose ids are then taken from peft generate's JSON."""
    path = os.path.join(folder, "tokenizer.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        t = json.load(f)
    model = t.get("model") or {}
    if model.get("type") != "WordLevel" or t.get("normalizer") or t.get("post_processor"):
        return None
    if (t.get("pre_tokenizer") or {}).get("type") != "WhitespaceSplit":
        return None
    vocab, unk = model["vocab"], model.get("unk_token")
    ids = []
    for word in text.split():
        if word in vocab:
            ids.append(vocab[word])
        elif unk in vocab:
            ids.append(vocab[unk])
        else:
            return None
    return ids


def run_eval(cmd: list[str], base: str, adapter: str | None, text: str, scratch: str) -> dict:
    data = os.path.join(scratch, "eval.jsonl")
    with open(data, "w") as f:
        f.write(json.dumps({"text": text}) + "\n")
    args = cmd + ["eval", "--model", base, "--data", data, "--json"] + (["--adapter", adapter] if adapter else [])
    proc = subprocess.run(args, capture_output=True, text=True)
    if proc.returncode != 0:
        raise CheckError(f"{' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()}")
    return json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("{")][-1])


def compare_eval_loss(base: str, adapter: str, models: dict, cmd: list[str]) -> bool:
    """Mean next-token cross-entropy of a text (+ </s>) from `peft eval` against the float64 reference."""
    with open(os.path.join(base, "tokenizer_config.json")) as f:
        eos_token = json.load(f).get("eos_token")
    eos = word_level_ids(base, eos_token) if isinstance(eos_token, str) else None
    texts = [(t, word_level_ids(base, t)) for t in DEFAULT_EVAL_TEXTS]
    if not eos or any(ids is None for _, ids in texts):
        print("== peft eval loss: skipped (the tokenizer is not a plain word-level one this script can reproduce)")
        return True
    print(f"== peft eval loss (float32) vs float64 reference, tolerance {EVAL_LOSS_ATOL:g}")
    import tempfile
    ok = True
    with tempfile.TemporaryDirectory() as scratch:
        for text, ids in texts:
            ids = ids + eos
            for mode, ref in models.items():
                out = run_eval(cmd, base, adapter if mode == "adapter" else None, text, scratch)
                logits = ref.logits(ids)[:-1]
                want = float(torch.nn.functional.cross_entropy(logits, torch.tensor(ids[1:])))
                diff = abs(out["loss"] - want)
                same = out.get("tokens") == len(ids) - 1 and diff <= EVAL_LOSS_ATOL
                ok &= same
                print(f"  {'ok  ' if same else 'FAIL'} {mode:7s} {len(ids) - 1} tokens: loss peft {out['loss']:.7f}, reference {want:.7f}, "
                      f"|diff| {diff:.1e}" + ("" if out.get("tokens") == len(ids) - 1 else f"; peft scored {out.get('tokens')} tokens"))
    return ok


def compare_with_cli(base: str, adapter: str, prompts: list[str], max_new: int, cmd: list[str]) -> bool:
    spec = LlamaSpec.from_folder(base)
    base_file = read_safetensors(os.path.join(base, "model.safetensors"))
    print(f"== base model {base}")
    problems = check_base_keys(spec, base_file)
    print(f"  {'ok  ' if not problems else 'FAIL'} {len(base_file.tensors)} tensors; state-dict keys of LlamaForCausalLM "
          f"({spec.layers} layers, tied head: {spec.tied}): no missing, unexpected or mis-shaped key" if not problems else "  FAIL base keys")
    for p in problems:
        print(f"       {p}")
    print(f"== adapter {adapter}")
    lora, adapter_problems, cfg = load_adapter(spec, adapter)
    scalings = sorted({m.scaling for m in lora.values()})
    if not adapter_problems:
        print(f"  ok   {2 * len(lora)} tensors map onto {len(lora)} LoRA modules (r={cfg['r']}, lora_alpha={cfg['lora_alpha']}, "
              f"scaling {', '.join(f'{s:g}' for s in scalings)}): no missing, unexpected or mis-shaped key")
    for p in adapter_problems:
        print(f"  FAIL {p}")
    ok = not problems and not adapter_problems
    if not ok:
        return False

    models = {"base": LlamaReference(spec, base_file.tensors, None), "adapter": LlamaReference(spec, base_file.tensors, lora)}
    print(f"== greedy decoding, float64 reference vs peft generate (up to {max_new} new tokens)")
    tokens, min_gap = 0, math.inf
    for prompt in prompts:
        own_ids = word_level_ids(base, prompt)
        for mode, ref in models.items():
            out = run_generate(cmd, base, adapter if mode == "adapter" else None, prompt, max_new)
            ids = out["prompt_ids"]
            notes = []
            if own_ids is not None and own_ids != ids:
                notes.append(f"prompt ids differ: ours {own_ids}, peft {ids}")
            want, gap = ref.greedy(ids, max_new)
            got = out["generated_ids"]
            same = want == got and not notes
            ok &= same
            tokens += len(got)
            min_gap = min(min_gap, gap)
            print(f"  {'ok  ' if same else 'FAIL'} {mode:7s} {prompt!r}: {len(got)} tokens {'identical' if same else 'DIFFER'}; "
                  f"smallest top-2 logit gap {gap:.3g}; text {out.get('text', '')!r}")
            if not same:
                first = next((i for i, (a, b) in enumerate(zip(want, got)) if a != b), min(len(want), len(got)))
                notes.append(f"reference {want}\n       peft      {got}\n       first difference at new token {first}")
            for n in notes:
                print(f"       {n}")
    print(f"  {tokens} generated tokens compared; tie margin never below {min_gap:.3g}")
    return compare_eval_loss(base, adapter, models, cmd) and ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quickstart", metavar="DIR", help="a `peft quickstart --output DIR` folder (uses DIR/base-model and DIR/adapter)")
    ap.add_argument("--base", help="base model folder (config.json, model.safetensors, tokenizer.json)")
    ap.add_argument("--adapter", help="LoRA adapter folder (adapter_config.json, adapter_model.safetensors)")
    ap.add_argument("--prompt", action="append", help="prompt to decode (repeatable; default: four quickstart prompts)")
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--peft", help="peft.dll or peft executable (default: the Release build in this repository)")
    ap.add_argument("--fixtures", help="fixture root holding peft/ (default: $PEFTSHARP_FIXTURES, ../shared/fixtures, tests/fixtures)")
    ap.add_argument("--skip-fixture-validation", action="store_true", help="do not validate the reference on the fixtures first")
    a = ap.parse_args()
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

    base, adapter = a.base, a.adapter
    if a.quickstart:
        base = base or os.path.join(a.quickstart, "base-model")
        adapter = adapter or os.path.join(a.quickstart, "adapter")
    if not a.skip_fixture_validation:
        root = find_fixture_root(a.fixtures)
        if root is None:
            print("no fixture root found (pass --fixtures or --skip-fixture-validation)", file=sys.stderr)
            return 2
        if not validate_on_fixtures(root):
            print("FAILED: the reference does not reproduce the Hugging Face fixtures; nothing else was checked")
            return 1
    if not base or not adapter:
        if a.skip_fixture_validation:
            ap.error("give --quickstart DIR or both --base and --adapter")
        print("reference validated; no model given (--quickstart DIR or --base/--adapter) so nothing else was checked")
        return 0
    try:
        ok = compare_with_cli(base, adapter, a.prompt or DEFAULT_PROMPTS, a.max_new_tokens, peft_command(a.peft))
    except (CheckError, OSError, json.JSONDecodeError) as e:
        print(f"FAILED: {e}")
        return 1
    except KeyError as e:
        print(f"FAILED: a required field is missing: {e}")
        return 1
    print("PASSED: keys load as in transformers + PEFT, every greedy token and every eval loss matches" if ok else "FAILED (see above)")
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except CheckError as e:
        print(f"FAILED: {e}", file=sys.stderr)
        sys.exit(1)
