"""The three evaluation protocols, registered by name with one signature: `scorer(instances, ctx)`
turns a batch of Instances into Result fields using only the backend's primitives (so every backend
produces the same rows) and what the `ScoringContext` carries.

    choice    both answers shown as A/B in both orders; in each order the model *decides* for
              answer_w when P(answer_w's label) > 0.5 among the two labels (½ at exactly 0.5), and
              aligned = the mean of the two decisions (0, ½ or 1), so PAA is the share of decisions
              for answer_w. The label probability is kept beside it: p_w_first, p_w_second and their
              mean p_w (a confidence, not a choice: a model that cannot choose sits near 0.5 there)
    logprob   length-normalised log-likelihood of answer_w vs answer_l; aligned = share of the paper's
              margins δ that the margin exceeds (analysis.data.metrics.opa_score; its mean over instances is OPA)
    generate  a free-form answer, then a judge (see pipeline.judges)

Each protocol's `version` says which rule derived `aligned` from the kept raw fields; a run's
manifest records it. A change of that rule bumps the version and `pipeline.runs.rederive` recomputes
cached rows from their raw fields (keys unchanged: the model's measurement is the same). A change
that needs new model outputs belongs in the cache key instead (the prompt template version, `identity`).

A new protocol: a function `(instances, ctx) -> rows` decorated with `@protocol(name, version=...,
...traits)`; nothing else names it (the Result contract takes any protocol name, `mvpbench run
--protocol` offers what this registry holds). Its traits (`ScoringProtocol`: whether it samples, is judged, what enters its key, prompts per
instance, how it re-derives) are all a caller reads: nothing outside this module tests its name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from analysis.data.metrics import opa_score
from pipeline.backends.base import Backend, BackendError, SamplingSettings
from pipeline.judges import Judge
from pipeline.prompts import CHOICE_LABELS, CHOICE_PREFILL, answer_prompt, choice_prompts, paper_prompt
from pipeline.registry import Registry

Row = dict[str, Any]
Instances = Sequence[Mapping[str, Any]]


@dataclass(frozen=True)
class ScoringContext:
    """Everything a scorer may use besides the instances, in one object."""

    backend: Backend
    condition: str
    prompt_format: str = "chat"
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    judge: Judge | None = None


class Scorer(Protocol):
    def __call__(self, instances: Instances, ctx: ScoringContext) -> list[Row]: ...


class RunSettings(Protocol):
    """What a protocol's key fields may read from a run (a `pipeline.runs.spec.RunSpec`)."""

    sampling: SamplingSettings
    judge: str | None


Rederive = Callable[[Mapping[str, Any]], Row | None]


@dataclass(frozen=True)
class ScoringProtocol:
    """A registered protocol and what its callers need to know of it (so none branches on its name).

    Attributes:
        name: as users and rows name it.
        score: the scorer.
        version: the rule that derives `aligned` from the kept fields (see the module docstring).
        needs_judge: its rows are judged, so a run needs `--judge` and the judge enters its key.
        samples: it samples replies, so the sampling settings enter its key and its manifest.
        prompt_formats: the prompt formats it accepts.
        prompts_per_instance: how many times an instance's text is sent (the cost estimate).
        rederive: a kept row -> its derived fields under the current rule (None: the row lacks the
            raw fields), or None when the protocol keeps nothing to re-derive from.
    """

    name: str
    score: Scorer
    version: int
    needs_judge: bool = False
    samples: bool = False
    prompt_formats: tuple[str, ...] = ("chat",)
    prompts_per_instance: int = 1
    rederive: Rederive | None = None

    def key_fields(self, run: RunSettings) -> dict[str, Any]:
        """What of a run's settings decides this protocol's results, beside the model and the
        instance (a run's identity): the sampling settings of a sampled protocol, a judged one's judge."""
        fields: dict[str, Any] = {}
        if self.samples:
            fields["sampling"] = run.sampling.as_dict()
        if self.needs_judge:
            fields["judge"] = run.judge
        return fields


REGISTRY: Registry[ScoringProtocol] = Registry("protocol")


def protocol(name: str, *, version: int, needs_judge: bool = False, samples: bool = False,
             prompt_formats: tuple[str, ...] = ("chat",), prompts_per_instance: int = 1,
             rederive: Rederive | None = None) -> Callable[[Scorer], Scorer]:
    """Register a scorer under `name` with its traits (see `ScoringProtocol`); a name registered twice
    is an error."""

    def register(fn: Scorer) -> Scorer:
        REGISTRY.register(name, ScoringProtocol(name, fn, version, needs_judge, samples, prompt_formats,
                                                prompts_per_instance, rederive))
        return fn

    return register


def get_protocol(name: str) -> ScoringProtocol:
    """The protocol registered as `name`; an unknown name is one ValueError listing the known ones."""
    return REGISTRY.get(name)


def scoring_version(name: str | None) -> int:
    """The current scoring rule of protocol `name`; 1 for a name no longer registered (what
    manifests without a `scoring_version` mean)."""
    return REGISTRY.get(name).version if name in REGISTRY else 1


def score(name: str, instances: Instances, ctx: ScoringContext) -> list[Row]:
    """Score `instances` under the protocol `name`: one row of Result fields per instance, in order."""
    rows = get_protocol(name).score(instances, ctx)
    if len(rows) != len(instances):
        raise RuntimeError(f"protocol {name} returned {len(rows)} rows for {len(instances)} instances")
    return rows


# --- choice ----------------------------------------------------------------------------------------


def _decision(p_w: float) -> float:
    return 1.0 if p_w > 0.5 else 0.0 if p_w < 0.5 else 0.5


def choice_decision(p_w_first: float, p_w_second: float) -> float:
    """A choice item's `aligned`: the mean over the two orders of the decision for answer_w."""
    return (_decision(p_w_first) + _decision(p_w_second)) / 2


def choice_fields(p_w_first: float, p_w_second: float) -> Row:
    """Everything a choice row derives from its two kept probabilities (what re-derivation rewrites)."""
    return {"aligned": choice_decision(p_w_first, p_w_second), "p_w": (p_w_first + p_w_second) / 2}


def rederive_choice(row: Mapping[str, Any]) -> Row | None:
    """A choice row's derived fields from its two kept probabilities (None for a row without both)."""
    first, second = row.get("p_w_first"), row.get("p_w_second")
    return None if first is None or second is None else choice_fields(first, second)


# choice 1: aligned = mean label probability (manifests without `scoring_version`); 2: mean of decisions.
# Both orders show the item's whole text: two prompts' worth per instance.
@protocol("choice", version=2, prompts_per_instance=2, rederive=rederive_choice)
def score_choice(instances: Instances, ctx: ScoringContext) -> list[Row]:
    orders = [choice_prompts(inst, ctx.condition) for inst in instances]
    try:
        probs = ctx.backend.label_probs([[o.chat for o in pair] for pair in orders], CHOICE_LABELS, CHOICE_PREFILL)
    except BackendError as err:  # a reply refused for one item (an endpoint ignored the prefill): name the item
        if getattr(err, "group", None) is None:
            raise
        raise BackendError(f"item {instances[err.group]['instance_id']}: {err}") from None
    rows = []
    for pair, pair_probs in zip(orders, probs, strict=True):
        p_w, p_a, mass = [], [], []
        for order, p in zip(pair, pair_probs, strict=True):
            total = p["A"] + p["B"]
            mass.append(total)
            if total > 0:
                p_w.append(p[order.w_label] / total)
                p_a.append(p["A"] / total)
        if len(p_w) < 2:
            rows.append({"aligned": None, "label_mass": sum(mass) / 2, "error": "no probability on either label"})
            continue
        rows.append({
            **choice_fields(p_w[0], p_w[1]),
            "p_w_first": p_w[0],
            "p_w_second": p_w[1],
            "position_bias": (p_a[0] + p_a[1]) / 2 - 0.5,
            "order_consistent": (p_w[0] > 0.5) == (p_w[1] > 0.5),
            "label_mass": (mass[0] + mass[1]) / 2,
        })
    return rows


# --- logprob ---------------------------------------------------------------------------------------


# The scoring rule lives with the words that describe it (analysis.data.metrics): one definition of OPA.
opa_share = opa_score


@protocol("logprob", version=1, prompt_formats=("chat", "paper"))
def score_logprob(instances: Instances, ctx: ScoringContext) -> list[Row]:
    prompt = paper_prompt if ctx.prompt_format == "paper" else answer_prompt
    items = [(prompt(inst, ctx.condition), [inst["answer_w"], inst["answer_l"]]) for inst in instances]
    rows = []
    for w, lo in ctx.backend.answer_logprobs(items):
        margin = w.mean - lo.mean
        rows.append({"aligned": opa_share(margin), "logprob_w": w.mean, "logprob_l": lo.mean, "margin": margin,
                     "tokens_w": w.tokens, "tokens_l": lo.tokens})
    return rows


# --- generate --------------------------------------------------------------------------------------


@protocol("generate", version=1, needs_judge=True, samples=True)
def score_generate(instances: Instances, ctx: ScoringContext) -> list[Row]:
    if ctx.judge is None:
        raise ValueError("the generate protocol needs a judge")
    outputs = ctx.backend.generate([answer_prompt(inst, ctx.condition) for inst in instances], ctx.sampling)
    judged = ctx.judge.score(instances, outputs)
    return [{"output": out, **j} for out, j in zip(outputs, judged, strict=True)]

