"""In-process Hugging Face model via transformers: the backend that needs no API and no GPU.

What it guarantees, so callers can rely on it:

- One Response per Request, in order, whatever mix of params the batch holds. Requests are
  sorted by prompt length and cut into batches of `max_batch_size` (less padding); each
  row keeps its own temperature, top_p, top_k, max_tokens, seed and stop strings, so mixed
  params never force extra passes. A batch that runs out of device memory is retried in
  halves instead of failing.
- `temperature` 0 or missing is greedy. Sampled rows take their random numbers from their
  own `torch.Generator` seeded with the request's `seed`, so a seeded request gives the
  same text whichever other requests share its batch (up to float rounding from different
  padding, which can flip an exact near-tie of logits). Without a seed, sampling is fresh
  each call.
- `finish_reason` is "stop" on EOS or a stop string (the text is cut before the stop
  string, as OpenAI does) and "length" when `max_tokens` (default 512, clamped to the
  model's context) runs out. `usage` counts real tokens: the prompt as rendered by the
  chat template, and every token the model generated for the row (EOS included).
- The checkpoint's own sampling defaults (generation_config.json temperature/top_p/top_k)
  are not used: the request's params decide. Its other defaults (repetition_penalty, ...)
  still apply, as in vLLM.
- `latency_s` is the wall time of the batch the request ran in.
- A JSON `schema` is not enforced while decoding here: the text is returned as generated
  and the engine validates it (and retries or records a parse failure).

Prompts are rendered with the tokenizer's chat template (generation prompt added) and
control tokens typed inside message content are encoded as plain text. A tokenizer
without a chat template falls back to the Tülu format (llm.chat_template).

Bad requests (empty messages, malformed messages, unsupported params, prompt longer than
the model's context) raise PermanentError naming the request before any generation
starts, so no work is lost; a model that cannot be loaded raises PermanentError naming it.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

from caravan.llm.cache_scope import cache_scope
from caravan.llm.chat_template import TULU_CHAT_TEMPLATE
from caravan.llm.types import PermanentError, Request, Response, Usage

from caravan.errors import CaravanError

DEFAULT_MAX_TOKENS = 512
_INSTALL_HINT = "pip install 'caravan-posttrain[train]' (torch and transformers)"


def request_label(index: int, request: Request) -> str:
    """How errors name a request: its id, or its position when it has none."""
    return f"request {request.id!r}" if request.id is not None else f"request #{index} (no id)"


def check_messages(messages: Any, label: str) -> None:
    """Refuse an empty or malformed message list before any work starts."""
    if not messages:
        raise PermanentError(f"{label}: messages list is empty", kind="request")
    for position, message in enumerate(messages):
        if (
            not isinstance(message, dict)
            or not isinstance(message.get("role"), str)
            or not isinstance(message.get("content"), str)
        ):
            raise PermanentError(
                f"{label}: message {position} must be a dict with string 'role' and "
                f"'content', got {message!r}",
                kind="request",
            )


@dataclass(frozen=True)
class SamplingSpec:
    """The sampling settings of one request, validated."""

    max_tokens: int = DEFAULT_MAX_TOKENS
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0


def parse_params(params: dict[str, Any], label: str) -> SamplingSpec:
    """Read the params this backend honours; reject values it cannot honour.

    Keys it does not know are ignored (they belong to other providers); `n` > 1 is refused
    because one request yields one response here.
    """

    def bad(msg: str) -> PermanentError:
        return PermanentError(f"{label}: {msg}", kind="request")

    def number(key: str, default, kind=float):
        value = params.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad(f"param {key!r} must be a number, got {value!r}")
        if kind is int and value != int(value):
            raise bad(f"param {key!r} must be an integer, got {value!r}")
        return kind(value)

    n = number("n", 1, int)
    if n != 1:
        raise bad(f"one request yields one completion here; got n={n}")
    max_tokens = number("max_tokens", DEFAULT_MAX_TOKENS, int)
    if max_tokens < 1:
        raise bad(f"param 'max_tokens' must be >= 1, got {max_tokens}")
    temperature = number("temperature", 0.0)
    if temperature < 0 or not math.isfinite(temperature):
        raise bad(f"param 'temperature' must be >= 0, got {temperature}")
    top_p = number("top_p", 1.0)
    if not 0 < top_p <= 1:
        raise bad(f"param 'top_p' must be in (0, 1], got {top_p}")
    top_k = number("top_k", None, int)
    if top_k is not None and top_k <= 0:
        top_k = None  # 0 / -1 mean "no top-k" in OpenAI-style servers
    seed = number("seed", None, int)
    stop = params.get("stop")
    if stop is None:
        stops: tuple[str, ...] = ()
    elif isinstance(stop, str):
        stops = (stop,)
    elif isinstance(stop, list | tuple) and all(isinstance(s, str) for s in stop):
        stops = tuple(stop)
    else:
        raise bad(f"param 'stop' must be a string or a list of strings, got {stop!r}")
    stops = tuple(s for s in stops if s)
    return SamplingSpec(max_tokens, temperature, top_p, top_k, seed, stops)


@dataclass
class _Row:
    index: int
    request: Request
    spec: SamplingSpec
    prompt_ids: list[int]


class LocalBackend:
    """Generate with a Hugging Face causal LM in this process (see module docstring).

    `model` is a hub id or a local folder; it is loaded on first use, once. `dtype` is a
    torch dtype or its name ("bfloat16"); None keeps the checkpoint's own dtype.
    """

    name = "local"

    def __init__(
        self,
        model: str,
        *,
        device: str = "cpu",
        dtype: Any = None,
        max_batch_size: int = 8,
        trust_remote_code: bool = False,
        hash_weights: bool | None = None,
    ) -> None:
        if max_batch_size < 1:
            raise CaravanError(f"max_batch_size must be >= 1, got {max_batch_size}")
        self.model = str(model)
        self.device = device
        self.dtype = dtype
        self.max_batch_size = max_batch_size
        self.trust_remote_code = trust_remote_code
        self.hash_weights = hash_weights
        self._scope: str | None = None
        # Set by load(); Any: used through transformers' dynamic (Auto*) API.
        self._hf_model: Any = None
        self._tokenizer: Any = None
        self._chat_template: str | None = None
        self._load_lock = threading.Lock()
        self._generate_lock = threading.Lock()

    # -- loading -------------------------------------------------------------------------

    def cache_scope(self) -> str:
        """A fingerprint of the weights this backend generates with (taken when they load):
        a checkpoint retrained in place never gets the old checkpoint's cached answers."""
        if self._scope is None:
            self._scope = cache_scope("local", self.model, hash_weights=self.hash_weights)
        return self._scope

    def load(self) -> None:
        """Load tokenizer and weights now (otherwise the first batch does it)."""
        if self._hf_model is not None:
            return
        with self._load_lock:
            if self._hf_model is not None:
                return
            self._scope = cache_scope("local", self.model, hash_weights=self.hash_weights)
            try:
                import torch  # noqa: F401
                from transformers import AutoModelForCausalLM, AutoTokenizer
            except ImportError as exc:
                raise CaravanError(
                    f"the local backend needs torch and transformers: {_INSTALL_HINT}"
                ) from exc
            try:
                tokenizer = AutoTokenizer.from_pretrained(
                    self.model, trust_remote_code=self.trust_remote_code
                )
                model = AutoModelForCausalLM.from_pretrained(
                    self.model,
                    dtype=self.dtype if self.dtype is not None else "auto",
                    trust_remote_code=self.trust_remote_code,
                )
                # transformers declares `to` via functools.wraps, which drops the bound self
                model.to(self.device)  # type: ignore[arg-type]
                model.eval()
            except Exception as exc:  # any load failure is final for this model
                raise PermanentError(
                    f"local backend could not load model {self.model!r}: "
                    f"{type(exc).__name__}: {exc}",
                    kind="model_load",
                ) from exc
            if tokenizer.pad_token_id is None:
                tokenizer.pad_token = tokenizer.eos_token
            self._chat_template = None if tokenizer.chat_template else TULU_CHAT_TEMPLATE
            self._tokenizer = tokenizer
            self._hf_model = model

    @property
    def tokenizer(self):
        self.load()
        return self._tokenizer

    @property
    def hf_model(self):
        """The loaded transformers model (for inspection and benchmarks)."""
        self.load()
        return self._hf_model

    @property
    def uses_fallback_template(self) -> bool:
        """True when the tokenizer had no chat template and the Tülu format is used."""
        self.load()
        return self._chat_template is not None

    # -- prompts -------------------------------------------------------------------------

    def render(self, messages: list[dict[str, str]]) -> str:
        """The prompt text the model sees for `messages` (generation prompt included)."""
        return self.tokenizer.apply_chat_template(
            messages,
            chat_template=self._chat_template,
            add_generation_prompt=True,
            tokenize=False,
        )

    def prompt_ids(self, messages: list[dict[str, str]]) -> list[int]:
        """Token ids of the rendered prompt; control tokens in content stay plain text."""
        encoded = self.tokenizer.apply_chat_template(
            messages,
            chat_template=self._chat_template,
            add_generation_prompt=True,
            tokenize=True,
            return_dict=True,
            sanitize_control_tokens=True,
        )
        return list(encoded["input_ids"])

    def _prepare(self, index: int, request: Request) -> _Row:
        label = request_label(index, request)
        check_messages(request.messages, label)
        messages = request.messages
        spec = parse_params(request.params, label)
        try:
            ids = self.prompt_ids(messages)
        except Exception as exc:  # template errors (unknown role, ...) are the request's fault
            raise PermanentError(
                f"{label}: chat template failed: {type(exc).__name__}: {exc}", kind="request"
            ) from exc
        limit = self._context_limit()
        if limit is not None:
            if len(ids) >= limit:
                raise PermanentError(
                    f"{label}: prompt is {len(ids)} tokens, model {self.model!r} takes "
                    f"at most {limit}",
                    kind="context_length",
                )
            if spec.max_tokens > limit - len(ids):
                spec = replace(spec, max_tokens=limit - len(ids))
        return _Row(index, request, spec, ids)

    def _context_limit(self) -> int | None:
        config = self._hf_model.config.get_text_config()
        limit = getattr(config, "max_position_embeddings", None)
        return int(limit) if isinstance(limit, int) and limit > 0 else None

    # -- generation ----------------------------------------------------------------------

    def complete_batch(self, requests: list[Request]) -> list[Response]:
        """Generate for `requests`; one Response per request, in order."""
        if not requests:
            return []
        self.load()
        rows = [self._prepare(i, r) for i, r in enumerate(requests)]  # validate all first
        order = sorted(rows, key=lambda row: (len(row.prompt_ids), row.spec.max_tokens))
        responses: list[Response | None] = [None] * len(rows)
        with self._generate_lock:
            for start in range(0, len(order), self.max_batch_size):
                chunk = order[start : start + self.max_batch_size]
                for row, response in self._generate_fitting(chunk):
                    responses[row.index] = response
        return responses  # type: ignore[return-value]

    def _generate_fitting(self, rows: list[_Row]) -> list[tuple[_Row, Response]]:
        """Generate; when the device runs out of memory, retry the batch in halves."""
        import torch

        try:
            return list(zip(rows, self._generate(rows), strict=True))
        except torch.OutOfMemoryError as exc:
            if len(rows) == 1:
                raise PermanentError(
                    f"{request_label(rows[0].index, rows[0].request)}: out of memory on "
                    f"{self.device} even in a batch of one ({len(rows[0].prompt_ids)} prompt "
                    f"tokens, max_tokens={rows[0].spec.max_tokens}): {exc}",
                    kind="oom",
                ) from exc
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        half = len(rows) // 2
        return self._generate_fitting(rows[:half]) + self._generate_fitting(rows[half:])

    async def complete(self, request: Request) -> Response:
        """One request, off the event loop (lets the engine treat this as a plain Backend)."""
        (response,) = await asyncio.to_thread(self.complete_batch, [request])
        return response

    def _generate(self, rows: list[_Row]) -> list[Response]:
        import torch
        from transformers import GenerationConfig, LogitsProcessorList, StoppingCriteriaList

        model, tokenizer = self._hf_model, self._tokenizer
        device = model.device
        width = max(len(row.prompt_ids) for row in rows)
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
        attention = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):  # left padding: every row ends where generation starts
            input_ids[i, width - len(row.prompt_ids) :] = torch.tensor(row.prompt_ids)
            attention[i, width - len(row.prompt_ids) :] = 1
        eos_ids = self._eos_ids()
        sampler = _RowSampler([row.spec for row in rows], device)
        tracker = _RowStopper([row.spec for row in rows], width, eos_ids, tokenizer)
        config = GenerationConfig(
            max_new_tokens=max(row.spec.max_tokens for row in rows),
            do_sample=False,  # _RowSampler already picked each sampled row's token
            num_beams=1,
            # Neutral values, so the checkpoint's own sampling defaults neither apply nor warn.
            temperature=1.0,
            top_p=1.0,
            top_k=50,
            eos_token_id=sorted(eos_ids) or None,
            pad_token_id=pad_id,
        )
        started = time.perf_counter()
        with torch.inference_mode():
            output = model.generate(
                input_ids=input_ids.to(device),
                attention_mask=attention.to(device),
                generation_config=config,
                logits_processor=LogitsProcessorList([sampler]),
                stopping_criteria=StoppingCriteriaList([tracker]),
            )
        latency = time.perf_counter() - started
        generated = output[:, width:].tolist()
        responses = []
        for i, row in enumerate(rows):
            length, reason = tracker.result(i, len(generated[i]))
            text = tokenizer.decode(generated[i][:length], skip_special_tokens=True)
            finish = "length" if reason == "length" else "stop"
            cut = _first_stop(text, row.spec.stop)
            if cut is not None:
                text, finish = text[:cut], "stop"
            responses.append(
                Response(
                    request_id=row.request.id,
                    text=text,
                    finish_reason=finish,
                    usage=Usage(prompt_tokens=len(row.prompt_ids), completion_tokens=length),
                    latency_s=latency,
                    cost_usd=0.0,
                )
            )
        return responses

    def _eos_ids(self) -> set[int]:
        ids: set[int] = set()
        if self._tokenizer.eos_token_id is not None:
            ids.add(int(self._tokenizer.eos_token_id))
        configured = getattr(self._hf_model.generation_config, "eos_token_id", None)
        if isinstance(configured, int):
            ids.add(configured)
        elif isinstance(configured, list | tuple):
            ids.update(int(t) for t in configured)
        return ids


def _first_stop(text: str, stops: tuple[str, ...]) -> int | None:
    hits = [text.find(s) for s in stops if s in text]
    return min(hits) if hits else None


class _RowSampler:
    """Logits processor that picks each sampled row's next token with that row's settings.

    Greedy rows are left untouched. Sampled rows are drawn in one batched pass with the
    Gumbel-max trick (argmax of temperature-scaled logits plus Gumbel noise, over the
    top-k / top-p survivors), which samples exactly from the softmax; only the noise is
    drawn row by row, from the row's own torch.Generator, which keeps a seeded row
    independent of its batch neighbours. The chosen token's logit becomes +inf, so
    generate's greedy step takes it.
    """

    def __init__(self, specs: list[SamplingSpec], device) -> None:
        import torch

        sampled = [i for i, spec in enumerate(specs) if not spec.greedy]
        self.rows = torch.tensor(sampled, dtype=torch.long, device=device)
        self.generators = []
        for i in sampled:
            generator = torch.Generator(device=device)
            seed = specs[i].seed
            if seed is not None:
                generator.manual_seed(seed)
            else:
                generator.seed()
            self.generators.append(generator)
        picked = [specs[i] for i in sampled]
        self.temperature = torch.tensor(
            [[spec.temperature] for spec in picked], dtype=torch.float32, device=device
        )
        self.top_p = torch.tensor([[spec.top_p] for spec in picked], device=device)
        self.top_k = torch.tensor(
            [[spec.top_k or 2**62] for spec in picked], dtype=torch.long, device=device
        )
        self.filtered = any(spec.top_p < 1 or spec.top_k is not None for spec in picked)

    def __call__(self, input_ids, scores):
        import torch

        if not self.generators:
            return scores
        logits = scores[self.rows].float() / self.temperature
        vocab = logits.shape[-1]
        noise = torch.stack(
            [
                torch.rand(vocab, generator=g, device=logits.device, dtype=torch.float32)
                for g in self.generators
            ]
        )
        gumbel = -torch.log(-torch.log(noise))
        if self.filtered:
            ordered, order = torch.sort(logits, dim=-1, descending=True)
            rank = torch.arange(vocab, device=logits.device)[None, :]
            keep = rank < self.top_k
            probs = torch.softmax(ordered.masked_fill(~keep, -math.inf), dim=-1)
            keep &= (torch.cumsum(probs, dim=-1) - probs) < self.top_p
            choice = (ordered.masked_fill(~keep, -math.inf) + gumbel).argmax(dim=-1)
            tokens = order.gather(-1, choice[:, None]).squeeze(-1)
        else:
            tokens = (logits + gumbel).argmax(dim=-1)
        # generate hands us its own float32 copy, so mark the choice in place: an
        # infinite logit is the one greedy argmax takes.
        scores[self.rows, tokens] = math.inf
        return scores


class _RowStopper:
    """Stopping criterion that ends each row on EOS, a stop string or its own max_tokens.

    It records why and after how many generated tokens each row ended, so the caller needs
    no guessing from padding.
    """

    def __init__(self, specs: list[SamplingSpec], width: int, eos_ids: set[int], tokenizer):
        self.specs = specs
        self.width = width
        self.eos_ids = eos_ids
        self.tokenizer = tokenizer
        self.ended: list[tuple[int, str] | None] = [None] * len(specs)
        # A stop string ending at the newest token spans at most its byte length + 1 tokens.
        self.windows = [max((len(s.encode()) for s in spec.stop), default=0) + 2 for spec in specs]

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        count = input_ids.shape[1] - self.width
        newest = input_ids[:, -1].tolist()  # one device sync per step, not one per row
        for i, spec in enumerate(self.specs):
            if self.ended[i] is not None:
                continue
            if newest[i] in self.eos_ids:
                self.ended[i] = (count, "eos")
            elif spec.stop and self._has_stop(input_ids[i, self.width :], spec.stop, i):
                self.ended[i] = (count, "stop")
            elif count >= spec.max_tokens:
                self.ended[i] = (count, "length")
        done = [ended is not None for ended in self.ended]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    def _has_stop(self, generated, stops: tuple[str, ...], i: int) -> bool:
        tail = self.tokenizer.decode(generated[-self.windows[i] :].tolist())
        return any(s in tail for s in stops)

    def result(self, i: int, produced: int) -> tuple[int, str]:
        """(tokens generated, why it ended) for row i."""
        ended = self.ended[i]
        if ended is None:  # generate stopped first (its own max_new_tokens)
            return produced, "length"
        return ended
