"""Write a peft LoRA as a llama.cpp GGUF LoRA adapter.

llama.cpp reads ``general.type = adapter``, ``adapter.type = lora`` and ``adapter.lora.alpha``, and
tensors ``blk.N.<tensor>.weight.lora_a`` (rank x in) and ``.lora_b`` (out x rank), checking their
shapes against the base model. For llama-family bases the GGUF converter permuted the rows of the
base q and k projections (rotary embedding layout), and transformers undid that when it loaded the
GGUF, so the adapter trained in HF layout must get the same row permutation on ``lora_b`` of q_proj
and k_proj (``lora_a`` multiplies the input side and is not permuted). Without it the adapter's
update lands on the wrong rotary dimensions and the output is garbage; tests/test_lora_real.py shows
both. The file is written atomically: a reader sees no adapter or a whole one.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import InvalidInput, ModelUnavailable
from core.lora_train import HF_TO_GGUF, TrainResult

_KEY = re.compile(r"layers\.(\d+)\.(?:self_attn|mlp)\.(\w+_proj)\.lora_([AB])\.weight$")
PERMUTED_ARCHES = ("llama",)


def permute_rows(weights: np.ndarray, n_head: int, n_head_kv: int | None = None) -> np.ndarray:
    """llama.cpp's q/k permutation (convert_hf_to_gguf ``LlamaModel.permute``), on the output rows."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    rows = weights.shape[0]
    if rows % (n_head * 2):
        raise InvalidInput(f"cannot permute {rows} rows over {n_head} heads")
    return (weights.reshape(n_head, 2, rows // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def base_info(base_gguf: Path) -> dict[str, Any]:
    """Architecture and head counts from the base model's GGUF metadata."""
    from gguf import GGUFReader

    try:
        reader = GGUFReader(str(base_gguf))
    except (OSError, ValueError) as exc:
        raise ModelUnavailable(f"cannot read base model {base_gguf}: {exc}") from exc

    def field(name: str) -> Any:
        f = reader.fields.get(name)
        if f is None:
            return None
        value = f.parts[f.data[0]]
        return bytes(value).decode("utf-8") if f.types and f.types[0].name == "STRING" else int(value[0])

    arch = field("general.architecture")
    return {"arch": arch, "n_head": field(f"{arch}.attention.head_count"),
            "n_head_kv": field(f"{arch}.attention.head_count_kv"), "n_layer": field(f"{arch}.block_count")}


def gguf_tensors(result: TrainResult, info: dict[str, Any], permute: bool = True) -> dict[str, np.ndarray]:
    """GGUF tensor name -> float32 array, q/k ``lora_b`` permuted for llama-family bases."""
    pairs: dict[tuple[int, str], dict[str, np.ndarray]] = {}
    for key, tensor in result.lora.items():
        m = _KEY.search(key)
        if m is None:
            raise InvalidInput(f"unexpected LoRA tensor {key!r}", hint="only q/k/v/o and MLP projections convert")
        layer, proj, side = int(m.group(1)), m.group(2), m.group(3)
        array = np.ascontiguousarray(tensor.numpy() if hasattr(tensor, "numpy") else np.asarray(tensor),
                                     dtype=np.float32)
        if array.ndim != 2:
            raise InvalidInput(f"LoRA tensor {key} has shape {array.shape}, expected 2-D")
        pairs.setdefault((layer, proj), {})[side] = array
    if not pairs:
        raise InvalidInput("the LoRA has no tensors to convert")
    out: dict[str, np.ndarray] = {}
    for (layer, proj), sides in sorted(pairs.items()):
        if set(sides) != {"A", "B"}:
            raise InvalidInput(f"layer {layer} {proj}: lora_A and lora_B must both be present")
        a, b = sides["A"], sides["B"]
        if a.shape[0] != result.rank or b.shape[1] != result.rank:
            raise InvalidInput(f"layer {layer} {proj}: shapes {a.shape} and {b.shape} do not match rank {result.rank}")
        if proj not in HF_TO_GGUF:
            raise InvalidInput(f"layer {layer}: {proj} has no llama.cpp tensor")
        if permute and info["arch"] in PERMUTED_ARCHES and proj in ("q_proj", "k_proj"):
            b = permute_rows(b, int(info["n_head"]), int(info["n_head"] if proj == "q_proj" else info["n_head_kv"]))
        name = f"blk.{layer}.{HF_TO_GGUF[proj]}.weight"
        out[f"{name}.lora_a"], out[f"{name}.lora_b"] = a, np.ascontiguousarray(b)
    return out


def write_gguf_lora(result: TrainResult, base_gguf: Path, out: Path, *, permute: bool = True) -> None:
    """Write the adapter to ``out`` atomically (temp file, fsync, rename). ``permute=False`` exists only
    to show in tests that the permutation matters."""
    from gguf import GGUFWriter

    from core.paths import fsync_dir

    info = base_info(base_gguf)
    if not info["arch"]:
        raise ModelUnavailable(f"{base_gguf} has no general.architecture")
    tensors = gguf_tensors(result, info, permute=permute)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        writer = GGUFWriter(str(tmp), arch=str(info["arch"]))
        writer.add_string("general.type", "adapter")
        writer.add_string("adapter.type", "lora")
        writer.add_float32("adapter.lora.alpha", float(result.alpha))
        for name, array in tensors.items():
            writer.add_tensor(name, array)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, out)
        fsync_dir(out.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
