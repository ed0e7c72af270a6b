"""The transformers backend: CPU by default, GPU when present; the embedded default.

Scoring is batched and shares each group's common prefix: the longest common *token* prefix of a
group's sequences (profile + question for the two orders of a choice item; the whole prompt for the
two answers of a logprob item) runs once, its KV cache is reused for every member's suffix, then
cropped back for the next member. Finding the prefix on token ids, not text, means the shared
computation is exactly what a full forward pass would compute (a test checks the two agree).
`share_prefix=False, batch_size=1` is the naive one-prompt-at-a-time loop the benchmark compares with.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from pipeline.backends.base import AnswerScore, Backend, SamplingSettings, answer_token_ids, chat_token_ids, label_token_ids
from pipeline.backends.settings import TransformersConfig, config_from
from pipeline.models import ModelSpec
from pipeline.prompts import Chat


@dataclass
class _Seq:
    ids: list[int]
    score_from: int | None = None  # score tokens ids[score_from:] (logprob protocol)
    next_ids: list[int] | None = None  # return log-probs of these as the next token (choice protocol)


@dataclass
class _SeqResult:
    logprob_sum: float = 0.0
    tokens: int = 0
    next_logprobs: dict[int, float] | None = None


def _common_prefix(seqs: Sequence[list[int]]) -> int:
    n = min(len(s) for s in seqs)
    for i in range(n):
        first = seqs[0][i]
        if any(s[i] != first for s in seqs[1:]):
            return i
    return n


class TransformersBackend(Backend):
    name = "transformers"

    def __init__(self, spec: ModelSpec, config: TransformersConfig | None = None, *, batch_size: int = 16, **settings: Any):
        """Args: the model; its settings as a `TransformersConfig` or as keyword `settings` (the
        config holds the defaults); the run's batch size."""
        super().__init__()
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.config = config_from(TransformersConfig, config, settings, self.name)
        device, share_prefix, dtype, threads = (self.config.device, self.config.share_prefix, self.config.dtype,
                                                self.config.threads)

        if threads:
            torch.set_num_threads(threads)
        self.spec = spec
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        torch_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}.get(
            dtype or ("bf16" if self.device.startswith("cuda") else "fp32"))
        self.dtype_name = str(torch_dtype).removeprefix("torch.")
        self.tokenizer = AutoTokenizer.from_pretrained(spec.source, revision=None if "/" not in spec.name else spec.revision)
        model = AutoModelForCausalLM.from_pretrained(spec.source, dtype=torch_dtype)
        if spec.adapter:
            from peft import PeftModel

            # Folded into the weights: the same function, at the base model's speed when scoring.
            model = PeftModel.from_pretrained(model, spec.adapter).merge_and_unload()
        self.model = model.to(self.device).eval()
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.batch_size, self.share_prefix = batch_size, share_prefix
        # Scoring runs the decoder body and projects only the positions it needs onto the vocabulary:
        # the projection is ~20% of a small model's compute per token, and most positions need none.
        self._decoder, self._lm_head = self.model.get_decoder(), self.model.get_output_embeddings()
        params = inspect.signature(type(self._decoder).forward).parameters
        self._cache_arg = "cache" if "cache" in params else "past_key_values"  # renamed in transformers 5

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "device": self.device, "dtype": self.dtype_name, "batch_size": self.batch_size,
                "share_prefix": self.share_prefix, "torch_threads": torch.get_num_threads()}

    # --- tokens ------------------------------------------------------------------------------------

    def _prompt_ids(self, chat: Chat) -> list[int]:
        return chat_token_ids(self.tokenizer, chat)

    def _label_ids(self, label: str) -> list[int]:
        return label_token_ids(self.tokenizer, label)

    # --- the scoring engine ------------------------------------------------------------------------

    @torch.inference_mode()
    def _score_groups(self, groups: list[list[_Seq]]) -> list[list[_SeqResult]]:
        results: list[list[_SeqResult]] = []
        for start in range(0, len(groups), self.batch_size):
            results += self._score_batch(groups[start : start + self.batch_size])
        return results

    def _score_batch(self, groups: list[list[_Seq]]) -> list[list[_SeqResult]]:
        k = len(groups[0])
        if any(len(g) != k for g in groups):
            raise ValueError("every group in a batch must have the same number of sequences")
        pad = self.tokenizer.pad_token_id
        dev = self.device
        # Shared prefix per group, leaving at least one token (and every scored token) in the suffix.
        prefix_len = []
        for g in groups:
            p = _common_prefix([s.ids for s in g]) if self.share_prefix and k > 1 else 0
            p = min(p, *(len(s.ids) - 1 for s in g), *((s.score_from - 1) for s in g if s.score_from is not None))
            prefix_len.append(max(p, 0))
        width = max(prefix_len)
        cache = None
        prefix_mask = torch.zeros((len(groups), width), dtype=torch.long, device=dev)
        if width > 0:
            ids = torch.full((len(groups), width), pad, dtype=torch.long, device=dev)
            for row, (g, p) in enumerate(zip(groups, prefix_len, strict=True)):  # left-padded
                if p:
                    ids[row, width - p :] = torch.tensor(g[0].ids[:p], device=dev)
                    prefix_mask[row, width - p :] = 1
            positions = (prefix_mask.cumsum(-1) - 1).clamp(min=0)
            out = self._decoder(input_ids=ids, attention_mask=prefix_mask, position_ids=positions, use_cache=True)
            self.calls += 1
            cache = getattr(out, "cache", None) or out.past_key_values
        results = [[_SeqResult() for _ in range(k)] for _ in groups]
        for j in range(k):
            suffixes = [g[j].ids[p:] for g, p in zip(groups, prefix_len, strict=True)]
            s_width = max(len(s) for s in suffixes)
            ids = torch.full((len(groups), s_width), pad, dtype=torch.long, device=dev)
            s_mask = torch.zeros((len(groups), s_width), dtype=torch.long, device=dev)
            for row, s in enumerate(suffixes):  # right-padded: pads come after every real token
                ids[row, : len(s)] = torch.tensor(s, device=dev)
                s_mask[row, : len(s)] = 1
            start = torch.tensor(prefix_len, device=dev).unsqueeze(1)
            positions = start + torch.arange(s_width, device=dev).unsqueeze(0)
            out = self._decoder(input_ids=ids, attention_mask=torch.cat([prefix_mask, s_mask], dim=1),
                                position_ids=positions, use_cache=cache is not None, **{self._cache_arg: cache})
            self.calls += 1
            hidden = out.last_hidden_state
            for row, (g, p) in enumerate(zip(groups, prefix_len, strict=True)):
                seq, res, n = g[j], results[row][j], len(suffixes[row])
                if seq.next_ids is not None:
                    last = torch.log_softmax(self._lm_head(hidden[row, n - 1]).float(), dim=-1)
                    res.next_logprobs = {t: float(last[t]) for t in seq.next_ids}
                if seq.score_from is not None:
                    rows = self._lm_head(hidden[row, seq.score_from - 1 - p : n - 1]).float()
                    targets = torch.tensor(seq.ids[seq.score_from :], device=dev)
                    token_lp = torch.log_softmax(rows, dim=-1).gather(1, targets.unsqueeze(1)).squeeze(1)
                    res.logprob_sum, res.tokens = float(token_lp.sum()), len(targets)
            if cache is not None:
                cache.crop(-s_width)  # drop this member's suffix, keep the shared prefix (negative: all versions)
        return results

    # --- the three primitives ----------------------------------------------------------------------

    def label_probs(
        self, groups: Sequence[Sequence[Chat]], labels: Sequence[str], prefill: str = ""
    ) -> list[list[dict[str, float]]]:
        label_ids = {lab: self._label_ids(lab) for lab in labels}
        wanted = [t for ids in label_ids.values() for t in ids]
        tail = self.tokenizer.encode(prefill, add_special_tokens=False) if prefill else []
        seq_groups = [[_Seq(self._prompt_ids(chat) + tail, next_ids=wanted) for chat in g] for g in groups]
        out = []
        for group in self._score_groups(seq_groups):
            out.append([
                {lab: float(sum(torch.tensor([r.next_logprobs[t] for t in ids]).exp())) for lab, ids in label_ids.items()}
                for r in group
            ])
        return out

    def answer_logprobs(self, items: Sequence[tuple[Chat, Sequence[str]]]) -> list[list[AnswerScore]]:
        seq_groups = []
        for chat, answers in items:
            pairs = [answer_token_ids(self.tokenizer, chat, a) for a in answers]
            seq_groups.append([_Seq(ids, score_from=start) for ids, start in pairs])
        return [[AnswerScore(r.logprob_sum, r.tokens) for r in group] for group in self._score_groups(seq_groups)]

    @torch.inference_mode()
    def generate(self, chats: Sequence[Chat], sampling: SamplingSettings) -> list[str]:
        return self._generate_from([self._prompt_ids(c) for c in chats], sampling)

    def _generate_from(self, prompts: Sequence[list[int]], sampling: SamplingSettings, max_new_tokens: int | None = None,
                       stop: str | None = None) -> list[str]:
        tok = self.tokenizer
        outputs: list[str] = []
        for start in range(0, len(prompts), self.batch_size):
            batch = list(prompts[start : start + self.batch_size])
            width = max(len(b) for b in batch)
            ids = torch.full((len(batch), width), tok.pad_token_id, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for row, b in enumerate(batch):  # left-padded for generation
                ids[row, width - len(b) :] = torch.tensor(b)
                mask[row, width - len(b) :] = 1
            torch.manual_seed(sampling.seed + start)  # reproducible for a given batch composition
            sample = sampling.temperature > 0
            extra = {"stop_strings": [stop], "tokenizer": tok} if stop else {}
            gen = self.model.generate(
                input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                max_new_tokens=max_new_tokens or sampling.max_new_tokens,
                do_sample=sample, temperature=sampling.temperature if sample else None, top_p=sampling.top_p if sample else None,
                pad_token_id=tok.pad_token_id, **extra,
            )
            self.calls += 1
            outputs += [tok.decode(g[width:], skip_special_tokens=True).strip() for g in gen]
        return outputs

    # Template-guided JSON: for a schema of fixed-length arrays of objects with string fields (the
    # benchmark builder's), the backend writes the JSON structure itself and the model fills each
    # string in turn, so the reply always parses; the content is the model's. Other schemas fall
    # back to free generation and the caller's strict parsing.
    supports_json_schema = True
    FIELD_TOKENS = 200

    def generate_json(self, chats: Sequence[Chat], sampling: SamplingSettings, schema: dict[str, Any]) -> list[str]:
        plan = string_fields_plan(schema)
        if plan is None:
            return self.generate(chats, sampling)
        key, count, fields = plan
        heads = [self._prompt_ids(c) for c in chats]
        texts = ["{" + json.dumps(key) + ": ["] * len(chats)
        per_field = min(self.FIELD_TOKENS, max(16, sampling.max_new_tokens // max(1, count * len(fields))))
        for k in range(count):
            for j, name in enumerate(fields):
                opener = (", " if k and not j else "") + ("{" if not j else ", ") + json.dumps(name) + ': "'
                texts = [t + opener for t in texts]
                prompts = [h + self.tokenizer.encode(t, add_special_tokens=False) for h, t in zip(heads, texts, strict=True)]
                values = self._generate_from(prompts, sampling, per_field, stop='"')
                texts = [t + json.dumps(v.split('"')[0].strip())[1:-1] + '"' for t, v in zip(texts, values, strict=True)]
            texts = [t + "}" for t in texts]
        return [t + "]}" for t in texts]


def string_fields_plan(schema: dict[str, Any]) -> tuple[str, int, list[str]] | None:
    """(key, n, fields) for {"<key>": array of exactly n objects whose properties are all strings}, else None."""
    props = schema.get("properties") or {}
    if schema.get("type") != "object" or len(props) != 1:
        return None
    key, array = next(iter(props.items()))
    item = array.get("items") or {}
    n = array.get("minItems")
    fields = list((item.get("properties") or {}).keys())
    if (array.get("type") != "array" or n is None or n != array.get("maxItems") or item.get("type") != "object" or not fields
            or any(v.get("type") != "string" for v in item["properties"].values())):
        return None
    return key, int(n), fields
