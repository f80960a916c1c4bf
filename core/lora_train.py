"""Train a LoRA adapter on chat samples with transformers + peft, loading the bundled GGUF directly.

transformers dequantizes the GGUF (Q4_1 for the bundled SmolLM2-135M) into a float32 model, so no
second copy of the weights has to ship. A plain torch loop (not the HF Trainer) keeps control of
what the issue's measurements asked for: the loss covers the answer only (prompt labels are -100),
progress is reported per step, the run stops on a cancel, at ``max_steps`` or at ``max_minutes``,
and ``before_step`` lets the caller hold training while a chat answer is being generated.

Prompts are written by :func:`chat_prompt`, the ChatML text SmolLM2's own chat template produces, so
training, llama.cpp's NLL and llama.cpp's chat completion see the same tokens. torch, transformers and
peft are imported inside functions: importing this module is cheap.
"""

from __future__ import annotations

import gc
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import Cancelled, InvalidInput, ModelUnavailable

# SmolLM2's template inserts this system turn when a conversation has none.
DEFAULT_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
END_OF_TURN = "<|im_end|>"


@dataclass
class ChatSample:
    """One question and the answer the model should give; ``source`` says where it came from."""

    question: str
    answer: str
    system: str | None = None
    source: str = ""


def chat_messages(sample: ChatSample, with_answer: bool = False) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": sample.system}] if sample.system else []
    messages.append({"role": "user", "content": sample.question})
    if with_answer:
        messages.append({"role": "assistant", "content": sample.answer})
    return messages


def chat_prompt(sample: ChatSample) -> str:
    """The prompt up to the assistant's turn, as SmolLM2's ChatML template writes it."""
    system = sample.system or DEFAULT_SYSTEM
    return (f"<|im_start|>system\n{system}{END_OF_TURN}\n<|im_start|>user\n{sample.question}{END_OF_TURN}\n"
            "<|im_start|>assistant\n")


def chat_completion(sample: ChatSample) -> str:
    """What is learned after the prompt: the answer and the end-of-turn token."""
    return f"{sample.answer}{END_OF_TURN}"


@dataclass
class TrainSettings:
    """One run's knobs (config ``training.*``); validated so a typo fails before minutes of loading."""

    rank: int = 8
    alpha: int = 16
    dropout: float = 0.05
    lr: float = 2e-4
    epochs: int = 1
    max_steps: int = 200
    max_minutes: float = 30.0
    batch_size: int = 4
    max_tokens: int = 320  # a grounded sample (two notes, the question twice) is ~250 tokens
    threads: int = 2
    seed: int = 1234
    target_modules: tuple[str, ...] = ("q_proj", "v_proj")

    def __post_init__(self) -> None:
        self.target_modules = tuple(self.target_modules)
        checks = [(self.rank >= 1, "rank must be at least 1"), (self.alpha >= 1, "alpha must be at least 1"),
                  (0 <= self.dropout < 1, "dropout must be in [0, 1)"),
                  (0 < self.lr <= 1 and math.isfinite(self.lr), "lr must be in (0, 1]"),
                  (self.epochs >= 1, "epochs must be at least 1"),
                  (self.max_steps >= 1, "max_steps must be at least 1"),
                  (self.max_minutes > 0, "max_minutes must be positive"),
                  (self.batch_size >= 1, "batch_size must be at least 1"),
                  (16 <= self.max_tokens <= 4096, "max_tokens must be in [16, 4096]"),
                  (self.threads >= 1, "threads must be at least 1"),
                  (bool(self.target_modules) and set(self.target_modules) <= set(HF_TO_GGUF),
                   f"target_modules must be among {', '.join(HF_TO_GGUF)}")]
        for ok, message in checks:
            if not ok:
                raise InvalidInput(f"training settings: {message}")


# HF projection name -> llama.cpp tensor name (used by core.lora_gguf; validated here)
HF_TO_GGUF = {"q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v", "o_proj": "attn_output",
              "gate_proj": "ffn_gate", "up_proj": "ffn_up", "down_proj": "ffn_down"}


@dataclass
class StepInfo:
    step: int
    total: int
    loss: float
    elapsed_s: float
    eta_s: float
    tokens: int


@dataclass
class TrainResult:
    """The trained LoRA weights (CPU tensors, peft names) and how the run went."""

    steps: int
    losses: list[float]
    seconds: float
    tokens: int
    stopped: str  # "done" | "max_steps" | "max_minutes"
    lora: dict[str, Any] = field(repr=False)
    rank: int
    alpha: int
    target_modules: tuple[str, ...]
    load_seconds: float = 0.0


def encode(tokenizer: Any, sample: ChatSample, max_tokens: int) -> tuple[list[int], list[int]]:
    """Token ids and labels: -100 on the prompt so only the answer (and end of turn) is learned.
    Truncation keeps the prompt and cuts the answer; a prompt that alone exceeds the budget is cut
    from the left so the question's end and the assistant marker stay."""
    prompt = tokenizer(chat_prompt(sample), add_special_tokens=False)["input_ids"]
    answer = tokenizer(chat_completion(sample), add_special_tokens=False)["input_ids"]
    return mask_labels(prompt, answer, max_tokens)


def mask_labels(prompt: list[int], answer: list[int], max_tokens: int) -> tuple[list[int], list[int]]:
    if len(prompt) >= max_tokens - 1:
        prompt = prompt[-(max_tokens // 2):]
    answer = answer[:max_tokens - len(prompt)]
    return prompt + answer, [-100] * len(prompt) + answer


def base_dir_and_file(base_gguf: Path) -> tuple[str, str]:
    if not base_gguf.is_file():
        raise ModelUnavailable(f"base model {base_gguf} does not exist")
    return str(base_gguf.parent), base_gguf.name


def load_base(base_gguf: Path, threads: int) -> tuple[Any, Any]:
    """(tokenizer, float32 model) from the GGUF, offline."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call] # its bars would scribble over the CLI's progress lines
    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    torch.set_num_threads(threads)
    folder, name = base_dir_and_file(base_gguf)
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    except (OSError, ValueError, RuntimeError, ImportError) as exc:
        raise ModelUnavailable(f"transformers cannot load {base_gguf} for training: {exc}",
                               hint="training needs the `gguf` package and a llama-family GGUF model") from exc
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer, model


def _batches(n: int, batch_size: int, epochs: int, seed: int) -> list[list[int]]:
    rng = random.Random(seed)
    out: list[list[int]] = []
    for _ in range(epochs):
        order = list(range(n))
        rng.shuffle(order)
        out.extend(order[i:i + batch_size] for i in range(0, n, batch_size))
    return out


def train_lora(base_gguf: Path, samples: Sequence[ChatSample], settings: TrainSettings, *,
               on_step: Callable[[StepInfo], None] | None = None, should_stop: Callable[[], bool] | None = None,
               before_step: Callable[[], None] | None = None) -> TrainResult:
    """Train a LoRA on ``samples``; returns its weights. Raises ``Cancelled`` when ``should_stop``."""
    if not samples:
        raise InvalidInput("nothing to train on: the buffer is empty")
    import torch
    from peft import LoraConfig, get_peft_model, get_peft_model_state_dict

    t_load = time.perf_counter()
    torch.manual_seed(settings.seed)
    tokenizer, model = load_base(base_gguf, settings.threads)
    encoded = [encode(tokenizer, s, settings.max_tokens) for s in samples]
    model = get_peft_model(model, LoraConfig(r=settings.rank, lora_alpha=settings.alpha,
                                             lora_dropout=settings.dropout,
                                             target_modules=list(settings.target_modules), task_type="CAUSAL_LM"))
    load_seconds = time.perf_counter() - t_load
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=settings.lr)
    plan = _batches(len(encoded), settings.batch_size, settings.epochs, settings.seed)
    total = min(len(plan), settings.max_steps)
    stopped = "done" if total == len(plan) else "max_steps"
    pad = int(tokenizer.pad_token_id)
    losses: list[float] = []
    tokens = 0
    start = time.perf_counter()
    model.train()
    try:
        for step, batch in enumerate(plan[:total], 1):
            if before_step is not None:
                before_step()
            if should_stop is not None and should_stop():
                raise Cancelled("training cancelled")
            if (time.perf_counter() - start) / 60 > settings.max_minutes:
                stopped = "max_minutes"
                break
            width = max(len(encoded[i][0]) for i in batch)
            ids = torch.full((len(batch), width), pad, dtype=torch.long)
            labels = torch.full((len(batch), width), -100, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, i in enumerate(batch):
                x, y = encoded[i]
                ids[row, :len(x)] = torch.tensor(x)
                labels[row, :len(y)] = torch.tensor(y)
                mask[row, :len(x)] = 1
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            if not torch.isfinite(loss):
                raise InvalidInput(f"training diverged at step {step} (loss {float(loss)})",
                                   hint="lower training.lr")
            loss.backward()
            optimiser.step()
            optimiser.zero_grad(set_to_none=True)
            losses.append(float(loss.detach()))
            tokens += int(mask.sum())
            elapsed = time.perf_counter() - start
            if on_step is not None:
                on_step(StepInfo(step=step, total=total, loss=losses[-1], elapsed_s=elapsed,
                                 eta_s=elapsed / step * (total - step), tokens=tokens))
        state = {k: v.detach().to("cpu", torch.float32).clone() for k, v in get_peft_model_state_dict(model).items()}
    finally:
        del model, optimiser
        gc.collect()
    return TrainResult(steps=len(losses), losses=losses, seconds=time.perf_counter() - start, tokens=tokens,
                       stopped=stopped, lora=state, rank=settings.rank, alpha=settings.alpha,
                       target_modules=settings.target_modules, load_seconds=load_seconds)


def answer_nll_torch(base_gguf: Path, samples: Sequence[ChatSample], lora: TrainResult | None = None,
                     threads: int = 2) -> list[list[float]]:
    """Per-answer-token NLL under transformers (+ the LoRA): the reference llama.cpp is checked against."""
    import torch
    from peft import LoraConfig, get_peft_model, set_peft_model_state_dict

    tokenizer, model = load_base(base_gguf, threads)
    if lora is not None:
        model = get_peft_model(model, LoraConfig(r=lora.rank, lora_alpha=lora.alpha, lora_dropout=0.0,
                                                 target_modules=list(lora.target_modules), task_type="CAUSAL_LM"))
        set_peft_model_state_dict(model, lora.lora)
    model.eval()
    out: list[list[float]] = []
    with torch.no_grad():
        for s in samples:
            ids, labels = encode(tokenizer, s, 4096)
            logits = model(input_ids=torch.tensor([ids])).logits[0]
            logp = torch.log_softmax(logits.float(), dim=-1)
            out.append([-float(logp[i - 1, ids[i]]) for i in range(1, len(ids)) if labels[i] != -100])
    del model
    gc.collect()
    return out
