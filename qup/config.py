"""Typed, validated params: the one place that reads ``params.yaml``.

The defaults here equal params.yaml (a test holds them together), so ``Params()`` is the embedded
study and a test can build a variant with ``model_copy``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class Strict(BaseModel):
    """A params section: unknown keys are errors, so typos never pass silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class FileSource(Strict):
    path: str | None = None
    type: Literal["jsonl", "csv", "parquet"] | None = None  # None: from the extension
    shape: Literal["gsm8k", "math", "columns"] = "columns"
    columns: dict[str, str] = {}


class HubSourceParams(Strict):
    preset: Literal["gsm8k", "math", "numina"] | None = "gsm8k"
    dataset: str | None = None
    config: str | None = None
    shape: Literal["gsm8k", "math", "columns"] | None = None
    splits: list[str] = ["train", "test"]
    use_source_split: bool = True
    columns: dict[str, str] = {}


class ProblemsParams(Strict):
    source: Literal["toy", "file", "hf"] = "toy"
    n_train: int = Field(600, ge=1)
    n_test: int = Field(200, ge=1)
    test_fraction: float = Field(0.2, gt=0, lt=1)
    max_rejected_share: float = Field(0.05, ge=0, le=1)
    max_chars: int = Field(4000, ge=1)  # longest question
    # longest written solution: real MATH train has 11 over 4,000 characters (the longest 6,767), and
    # long chain-of-thought sources (NuminaMath) run longer still
    max_solution_chars: int = Field(16000, ge=1)
    file: FileSource = FileSource()
    hf: HubSourceParams = HubSourceParams()

    @model_validator(mode="after")
    def _file_needs_path(self):
        if self.source == "file" and not self.file.path:
            raise ValueError("problems.source is 'file' but problems.file.path is not set")
        return self


class ToyParams(Strict):
    min_steps: int = Field(2, ge=1)
    max_steps: int = Field(4, ge=1)
    allow_multiply: bool = True
    max_value: int = Field(40, ge=10)  # every quantity stays within 0..max_value
    max_operand: int = Field(9, ge=1)  # largest number added or taken away
    mistake_rate: float = Field(0.1, ge=0, le=1)
    # kinds the SLM's training traces get; "operand" (a wrong number copied) is left out by default:
    # it taught the tiny SLM that any number in the question will do (operand copying fell from 91% to 49%)
    mistake_kinds: list[Literal["arithmetic", "operand"]] = ["arithmetic"]
    oracle_share: float = Field(0.05, ge=0, le=1)
    # how many of the Oracle's 3 phrasings per slot (opening, each operation, closing) that Oracle-style text uses;
    # the rest come from another strong model's phrasebook: a real SLM has read the genre, not this Oracle's words
    oracle_phrases_seen: int = Field(1, ge=0, le=3)

    @model_validator(mode="after")
    def _steps_ordered(self):
        if self.min_steps > self.max_steps:
            raise ValueError("toy.min_steps must not exceed toy.max_steps")
        return self


class ModelRef(Strict):
    """A model by role: ``toy`` (trained here), a hub id, or a local directory."""

    name: str = "toy"
    revision: str | None = None
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"


class ToySLMParams(Strict):
    hidden_size: int = Field(96, ge=8)
    intermediate_size: int = Field(256, ge=8)
    num_layers: int = Field(3, ge=1)
    num_heads: int = Field(4, ge=1)
    head_dim: int | None = Field(32, ge=8)  # None: hidden_size / num_heads; vLLM's CPU kernels need 32, 64, ...
    max_positions: int = Field(512, ge=64)
    # Trained to convergence: the model first learns to copy numbers from the question (a plateau whose end
    # falls at a seed-dependent step), then arithmetic. Stopped mid-way (1,800 steps) its greedy accuracy
    # ranged 0.37-0.97 across seeds; init_std 0.06 (transformers' default 0.02 lengthens the plateau), lr 3e-3
    # and 3,000 steps let every seed converge. README "What varies, and by how much" has the measurements.
    init_std: float = Field(0.06, gt=0)
    train_steps: int = Field(3000, ge=1)
    batch_size: int = Field(16, ge=1)
    learning_rate: float = Field(3e-3, gt=0)
    warmup_steps: int = Field(50, ge=0)
    final_lr_fraction: float = Field(0.02, ge=0, le=1)
    curriculum_fraction: float = Field(0.5, ge=0, le=1)  # longer problems unlock over this share of training
    loss_on_prompt: bool = True  # also learn the questions: induction heads that copy numbers form sooner
    checkpoint_every: int = Field(200, ge=1)
    threads: int = Field(2, ge=1)


class ToyRMParams(Strict):
    """The toy world's reward model: a tiny sequence classifier (see qup/toy/train_rm.py)."""

    hidden_size: int = Field(64, ge=8)
    intermediate_size: int = Field(128, ge=8)
    num_layers: int = Field(2, ge=1)
    num_heads: int = Field(4, ge=1)
    train_steps: int = Field(300, ge=1)
    batch_size: int = Field(16, ge=1)
    learning_rate: float = Field(3e-3, gt=0)
    wrong_share: float = Field(0.5, ge=0, le=1)  # share of training solutions with an injected mistake
    # target of a right solution by style: what preference data teaches real reward models
    style_targets: dict[Literal["native", "oracle", "textbook"], float] = {"native": 0.6, "oracle": 1.0,
                                                                           "textbook": 0.8}
    threads: int = Field(2, ge=1)

    @model_validator(mode="after")
    def _every_style(self):
        missing = {"native", "oracle", "textbook"} - set(self.style_targets)
        if missing:
            raise ValueError(f"models.toy_rm.style_targets lacks {', '.join(sorted(missing))}")
        return self


class HeadRMParams(Strict):
    """The reward model ``slm_head``: the SLM's frozen body with a linear head fitted on its own graded native
    samples (see qup/scoring/head_rm.py)."""

    max_samples: int = Field(512, ge=2)  # right and wrong samples, balanced
    held_out: float = Field(0.2, ge=0, lt=1)  # share kept out of the fit, for its right-over-wrong figure
    l2: float = Field(1e-3, ge=0)
    max_length: int = Field(1024, ge=16)
    batch_size: int = Field(8, ge=1)
    threads: int = Field(2, ge=1)


class EvalParams(Strict):
    k: int = Field(8, ge=1)
    temperature: float = Field(1.0, ge=0)
    max_new_tokens: int = Field(128, ge=1)
    batch_size: int = Field(128, ge=1)


class ModelsParams(Strict):
    slm: ModelRef = ModelRef()
    oracle: ModelRef = ModelRef(name="symbolic")  # symbolic (toy world) | a hub id | a local directory | an API model
    toy_slm: ToySLMParams = ToySLMParams()
    toy_rm: ToyRMParams = ToyRMParams()
    head_rm: HeadRMParams = HeadRMParams()
    eval: EvalParams = EvalParams()


class HFOptions(Strict):
    """transformers in this process."""

    batch_size: int = Field(64, ge=1)
    device: str | None = None  # None: cuda when available, else cpu


class OpenAIOptions(Strict):
    """Any OpenAI-compatible endpoint; the key comes from the environment variable ``api_key_env``."""

    base_url: str | None = None  # required when this engine is chosen
    model: str | None = None  # the server's model name; None: the manifest's id
    api_key_env: str | None = "OPENAI_API_KEY"  # None: a local server that needs no key
    concurrency: int = Field(16, ge=1)
    max_retries: int = Field(6, ge=0)
    timeout: float = Field(120.0, gt=0)
    seeded: bool = True  # send a seed per request (vLLM 0.32's CPU build fails on them under load)


class SGLangOptions(Strict):
    """An SGLang server qup launches (from ``python``, e.g. a serving venv) or reaches at ``url``."""

    url: str | None = None  # set: use that server; None: launch one on 127.0.0.1
    python: str | None = None  # the Python that has sglang; None: this one
    port: int | None = None  # None: a free port
    device: str | None = None  # e.g. cpu
    tp_size: int = Field(1, ge=1)
    dp_size: int = Field(1, ge=1)
    router: bool = True  # dp_size > 1: launch through sglang_router
    mem_fraction: float | None = Field(None, gt=0, le=1)
    max_running_requests: int | None = Field(None, ge=1)
    lora_paths: list[str] = []
    extra_args: list[str] = []
    startup_timeout: float = Field(600, gt=0)
    concurrency: int = Field(32, ge=1)
    request_timeout: float = Field(600, gt=0)


class VLLMOptions(Strict):
    """vLLM's offline engine in this process."""

    dtype: str = "auto"
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1)
    tensor_parallel_size: int = Field(1, ge=1)
    max_model_len: int | None = None
    enable_lora: bool = False
    max_lora_rank: int = Field(64, ge=1)  # the largest LoRA rank an adapter may have


class SymbolicOptions(Strict):
    """The toy world's Oracle: nothing to set."""


class EngineParams(Strict):
    """The engine of one role, and every engine's options, so that
    ``dvc exp run -S engines.slm.engine=sglang`` swaps engines without touching anything else."""

    engine: Literal["hf", "sglang", "vllm", "openai", "symbolic"] = "hf"
    hf: HFOptions = HFOptions()
    sglang: SGLangOptions = SGLangOptions()
    vllm: VLLMOptions = VLLMOptions()
    openai: OpenAIOptions = OpenAIOptions()
    symbolic: SymbolicOptions = SymbolicOptions()

    @model_validator(mode="after")
    def _openai_needs_url(self):
        if self.engine == "openai" and not self.openai.base_url:
            raise ValueError("engine 'openai' needs openai.base_url")
        return self

    def options(self) -> dict:
        """The chosen engine's options."""
        return getattr(self, self.engine).model_dump()


class EnginesParams(Strict):
    """Which engine serves each role."""

    slm: EngineParams = EngineParams(hf=HFOptions(batch_size=128))
    oracle: EngineParams = EngineParams(engine="symbolic", hf=HFOptions(batch_size=16))


class NativeParams(Strict):
    """Rejection sampling: the SLM's own k samples per train problem."""

    k: int = Field(8, ge=1)
    temperature: float = Field(1.0, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)
    max_new_tokens: int = Field(128, ge=1)
    prompt: str = "toy_solve"  # qup/prompts/<name>.v<N>.txt; real models: solve
    pick: Literal["first", "random", "shortest"] = "first"
    shard_size: int = Field(64, ge=1)  # problems per resumable shard


class OraclePrompts(Strict):
    """The template (``name`` or ``name@vN`` under qup/prompts/) of each Oracle task."""

    synthesize: str = "synthesize"
    refine: str = "refine"
    style_aligned: str = "style_aligned"
    judge: str = "judge"


class OracleParams(Strict):
    """The Oracle corpora: oracle_synth, oracle_refined and style_aligned."""

    # the SLM trace each refinement starts from: the native corpus's (correct) trace, or a failed
    # sample of the same problem where there is one (repairing real errors), else the native trace
    source: Literal["native", "failed"] = "failed"
    prompts: OraclePrompts = OraclePrompts()
    temperature: float = Field(0.0, ge=0)
    max_new_tokens: int = Field(1024, ge=1)
    judge: bool = True  # rate semantic preservation of each kept refinement with the judge prompt
    # drift guard: refinements whose normalised edit distance to their source trace is above this are dropped
    style_aligned_max_edit: float | None = Field(0.5, ge=0, le=1)
    refined_max_edit: float | None = Field(None, ge=0, le=1)
    shard_size: int = Field(64, ge=1)
    # stop an Oracle stage, keeping every finished shard, before its estimated cost (USD, at costs.prices)
    # passes this; None: no limit
    max_cost: float | None = Field(None, gt=0)


class RewardModelRef(Strict):
    """One reward model the score stages run: an ORM or a PRM, through transformers or SGLang."""

    # toy (the toy world's, trained by the reward_model stage) | slm_head (the SLM with a head fitted on its graded
    # samples by the reward_model stage) | a hub id | a local directory
    name: str = "toy"
    label: str | None = None  # names its columns and metrics; None: from the name
    revision: str | None = None
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    kind: Literal["orm", "prm"] = "orm"
    engine: Literal["hf", "sglang"] = "hf"
    batch_size: int = Field(16, ge=1)
    # PRMs: how the response splits into steps, the token that closes each step, and how step scores combine
    step_split: str = "\n\n"
    step_separator: str = "<extra_0>"
    aggregate: Literal["min", "mean", "last"] = "min"
    trust_remote_code: bool = False  # e.g. Qwen2.5-Math-PRM-7B
    sglang_url: str | None = None  # engine sglang: a running server started with --is-embedding; None: launch one
    sglang_python: str | None = None
    sglang_args: list[str] = []

    @property
    def column(self) -> str:
        import re

        return "reward_" + (self.label or re.sub(r"[^a-z0-9]+", "_", self.name.lower()).strip("_"))


class ScoringParams(Strict):
    """The score stages: reward models, adaptation cost and style distance of every corpus."""

    reward_models: list[RewardModelRef] = [RewardModelRef(name="toy", label="toy_orm", batch_size=32)]
    # the SLM's NLL: hf (in process) | sglang (prompt logprobs from a server, with engines.slm.sglang's options)
    nll_engine: Literal["hf", "sglang"] = "hf"
    nll_batch_size: int = Field(16, ge=1)  # on CPU a small model is compute-bound: 8-16 beats 64 (qup bench nll)
    top_tokens: int = Field(20, ge=1)
    bootstrap: int = Field(1000, ge=10)  # resamples for the 95% intervals
    shard_size: int = Field(256, ge=1)

    @model_validator(mode="after")
    def _distinct_columns(self):
        columns = [r.column for r in self.reward_models]
        if len(set(columns)) != len(columns):
            raise ValueError(f"scoring.reward_models: two reward models share a label ({', '.join(columns)}); "
                             "give each a distinct label")
        return self


class TrainParams(Strict):
    """The train@<corpus> stages: one budget, the same for every corpus."""

    method: Literal["lora", "full"] = "lora"
    # one checkpoint per training seed: a seed changes data order and adapter initialisation, never the problems
    seeds: list[int] = Field([0, 1, 2], min_length=1)

    @model_validator(mode="after")
    def _distinct_seeds(self):
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"train.seeds repeats a seed: {self.seeds}")
        return self
    objective: Literal["sft", "dft"] = "sft"  # dft: Dynamic Fine-Tuning (token losses weighted by probability)
    examples: int | None = Field(300, ge=1)  # problems per corpus (all corpora cover them); None: every common one
    epochs: float = Field(1.0, gt=0)
    batch_size: int = Field(16, ge=1)
    gradient_accumulation: int = Field(1, ge=1)
    learning_rate: float = Field(1e-3, gt=0)
    scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup"] = "cosine"
    warmup_steps: int = Field(0, ge=0)
    max_length: int = Field(1024, ge=16)
    lora_r: int = Field(16, ge=1)
    lora_alpha: int = Field(32, ge=1)
    lora_dropout: float = Field(0.0, ge=0, lt=1)
    lora_targets: str | list[str] = "all-linear"
    save_steps: int = Field(50, ge=1)  # checkpoint interval, for resuming after a crash
    device: Literal["cpu", "cuda"] | None = None  # None: cuda when available
    threads: int | None = Field(2, ge=1)  # torch CPU threads; None: torch's default


BENCHMARK_PRESETS = ("toy_ood", "gsm8k", "math500", "aime24", "aime25", "amc23", "minerva", "olympiadbench")


class BenchmarkRef(Strict):
    """An evaluation set beside the test split: a preset or a local file (any ``problems`` shape).

    ``toy_ood``: toy problems longer than any the SLM trained on (toy.max_steps + 1 and + 2 steps).
    The hub presets need the hub (or its local cache with HF_HUB_OFFLINE=1) and fail clearly without it.
    """

    name: str = Field(pattern=r"^[a-z0-9_]+$")  # labels its results; "test" is the test split's
    preset: Literal[BENCHMARK_PRESETS] | None = None
    file: FileSource | None = None
    max_problems: int | None = Field(None, ge=1)  # the first N problems (after a seeded shuffle); None: all

    @model_validator(mode="after")
    def _one_source(self):
        if (self.preset is None) == (self.file is None):
            raise ValueError(f"benchmark {self.name!r}: set exactly one of preset and file")
        if self.file is not None and not self.file.path:
            raise ValueError(f"benchmark {self.name!r}: file.path is not set")
        if self.name == "test":
            raise ValueError("benchmark name 'test' is the test split's; choose another")
        return self


class EvaluateParams(Strict):
    """The evaluate@<corpus> and evaluate_base stages, on the test split and every benchmark."""

    k: int = Field(6, ge=1)  # Avg@k: pass@1 averaged over k samples at temperature
    max_problems: int | None = Field(None, ge=1)  # evaluate the first N test problems; None: all
    temperature: float = Field(1.0, ge=0)
    max_new_tokens: int = Field(384, ge=1)  # room for the Oracle's longer style
    shard_size: int = Field(100, ge=1)
    benchmarks: list[BenchmarkRef] = [BenchmarkRef(name="toy_ood", preset="toy_ood", max_problems=50)]

    @model_validator(mode="after")
    def _distinct_benchmarks(self):
        names = [b.name for b in self.benchmarks]
        if len(set(names)) != len(names):
            raise ValueError(f"evaluate.benchmarks: two benchmarks share a name ({', '.join(names)})")
        return self


class DecontaminateParams(Strict):
    """Drop training problems that overlap the test split or a benchmark: a shared word n-gram
    (lowercased, whitespace-normalised, as open-r1 does with n = 8) or the same normalised text."""

    # open-r1 uses 8 on natural-language problems; the toy world's questions are templated (one sentence per step),
    # so 64% of its train problems share an 8-gram with its test split, and 13 (GPT-3's rule) finds near-copies
    ngram: int = Field(13, ge=1)


class Price(Strict):
    """What a model costs, in USD per million tokens."""

    prompt: float = Field(0.0, ge=0)
    completion: float = Field(0.0, ge=0)


class CostParams(Strict):
    """Token prices for cost estimates (stage metrics, ``oracle.max_cost``, ``qup plan``)."""

    # by model id as the manifest names it (e.g. gpt-4o); a model not listed costs nothing (a local engine)
    prices: dict[str, Price] = {}
    gpu_tokens_per_second: float = Field(2500.0, gt=0)  # qup plan's GPU-hours: generated tokens per second per GPU


class Params(Strict):
    seed: int = 0
    problems: ProblemsParams = ProblemsParams()
    toy: ToyParams = ToyParams()
    models: ModelsParams = ModelsParams()
    engines: EnginesParams = EnginesParams()
    native: NativeParams = NativeParams()
    oracle: OracleParams = OracleParams()
    corpora: list[str] = ["native", "oracle_refined", "oracle_synth", "style_aligned", "reference"]
    scoring: ScoringParams = ScoringParams()
    train: TrainParams = TrainParams()
    decontaminate: DecontaminateParams = DecontaminateParams()
    evaluate: EvaluateParams = EvaluateParams()
    costs: CostParams = CostParams()


class ParamsError(ValueError):
    """params.yaml is missing, unreadable or invalid."""


def read_yaml(path: str | Path) -> dict:
    """A YAML mapping from ``path``; errors name the file."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError as err:
        raise ParamsError(f"{path}: no such file") from err
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: expected a mapping of params, got {type(raw).__name__}")
    return raw


def merged(base: dict, overlay: dict) -> dict:
    """``base`` with ``overlay`` on top: mappings merge key by key, anything else (lists too) replaces."""
    out = dict(base)
    for key, value in overlay.items():
        out[key] = merged(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return out


def overrides(overlay: dict, prefix: str = "") -> list[str]:
    """An overlay as ``dvc exp run -S`` overrides, one per leaf (``key.path=value``, the value in YAML flow style)."""
    flags = []
    for key, value in overlay.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flags += overrides(value, f"{name}.")
        else:
            text = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
            flags.append(f"{name}={text.removesuffix('...').strip()}")
    return flags


def assignments(flags: list[str]) -> dict:
    """``key.path=value`` overrides (as ``dvc exp run -S`` takes them, values in YAML) as a nested overlay."""
    overlay: dict = {}
    for flag in flags:
        key, sep, value = flag.partition("=")
        if not sep or not key:
            raise ParamsError(f"{flag!r}: expected KEY=VALUE, e.g. native.k=8")
        *parents, leaf = key.split(".")
        node = overlay
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(value)
    return overlay


def load_params(path: str | Path = "params.yaml", overlays: list[str | Path] = (), sets: list[str] = ()) -> Params:
    """Read and validate ``path``, with each overlay file (a preset) merged on top in order, then the ``sets``
    (``key.path=value``); errors name the file and each offending key."""
    raw = read_yaml(path)
    for overlay in overlays:
        raw = merged(raw, read_yaml(overlay))
    raw = merged(raw, assignments(list(sets)))
    where = " + ".join(str(p) for p in [path, *overlays, *sets])
    try:
        return Params.model_validate(raw)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}" for e in err.errors()
        )
        raise ParamsError(f"{where}: {problems}") from err
