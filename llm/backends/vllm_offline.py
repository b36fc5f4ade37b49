"""vLLM's offline engine (`vllm.LLM`) in this process: the fast path on a GPU machine.

vLLM is an optional extra (GPU only); it is imported when the backend first loads, and a
missing install is a CaravanError that says how to get it. Requests go through
`LLM.chat` (the model's own chat template, generation prompt added) with one
`SamplingParams` per request: temperature (0 or missing = greedy), top_p, top_k,
max_tokens (default 512), seed (vLLM seeds per request, so a seeded request does not depend
on its batch), stop strings (cut from the text, as OpenAI does) and n=1. A request with a
JSON `schema` is decoded under vLLM's structured outputs (`StructuredOutputsParams(json=...)`),
so the text follows the schema; the engine still validates it like any other reply.

Params are checked (and messages validated) for the whole batch before anything is sent,
with errors naming the request, exactly as in the local backend.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from caravan.llm.backends.local import SamplingSpec, check_messages, parse_params, request_label
from caravan.llm.cache_scope import cache_scope
from caravan.llm.types import PermanentError, Request, Response, Usage

from caravan.errors import CaravanError

INSTALL_HINT = (
    "the vLLM backend needs vllm, which is not installed. On a GPU (CUDA) machine run: "
    "pip install 'caravan-posttrain[vllm]'. Without a GPU use the local backend (--provider local) "
    "or point the OpenAI backend at a running `vllm serve` (--base-url)."
)


class VLLMBackend:
    """Batched generation with `vllm.LLM`; `engine_kwargs` go to `vllm.LLM` unchanged
    (tensor_parallel_size, gpu_memory_utilization, max_model_len, dtype, ...)."""

    name = "vllm"

    def __init__(
        self,
        model: str,
        *,
        max_batch_size: int = 256,
        hash_weights: bool | None = None,
        **engine_kwargs: Any,
    ) -> None:
        if max_batch_size < 1:
            raise CaravanError(f"max_batch_size must be >= 1, got {max_batch_size}")
        self.model = str(model)
        self.max_batch_size = max_batch_size
        self.hash_weights = hash_weights
        self.engine_kwargs = engine_kwargs
        self._llm: Any = None  # vllm.LLM, set by load()
        self._vllm: Any = None  # the vllm module, imported by load()
        self._scope: str | None = None
        self._lock = threading.Lock()  # loading
        self._generate_lock = threading.Lock()  # vllm.LLM is not safe to enter from two threads

    def cache_scope(self) -> str:
        """A fingerprint of the weights (see LocalBackend.cache_scope)."""
        if self._scope is None:
            self._scope = cache_scope("vllm", self.model, hash_weights=self.hash_weights)
        return self._scope

    def load(self) -> None:
        """Import vllm and start the engine (otherwise the first batch does it)."""
        if self._llm is not None:
            return
        with self._lock:
            if self._llm is not None:
                return
            try:
                import vllm
            except ImportError as exc:
                raise CaravanError(INSTALL_HINT) from exc
            try:
                llm = vllm.LLM(model=self.model, **self.engine_kwargs)
            except Exception as exc:  # bad id, no weights, no GPU memory: final for this model
                raise PermanentError(
                    f"vLLM could not load model {self.model!r}: {type(exc).__name__}: {exc}",
                    kind="model_load",
                ) from exc
            self._vllm, self._llm = vllm, llm

    def _sampling_params(self, spec: SamplingSpec, schema: dict | None):
        kwargs: dict[str, Any] = {
            "n": 1,
            "temperature": spec.temperature,
            "top_p": spec.top_p,
            "max_tokens": spec.max_tokens,
            "seed": spec.seed,
        }
        if spec.top_k is not None:
            kwargs["top_k"] = spec.top_k
        if spec.stop:
            kwargs["stop"] = list(spec.stop)
        if schema is not None:
            from vllm.sampling_params import StructuredOutputsParams

            kwargs["structured_outputs"] = StructuredOutputsParams(json=schema)
        return self._vllm.SamplingParams(**kwargs)

    def complete_batch(self, requests: list[Request]) -> list[Response]:
        """Generate for `requests`; one Response per request, in order."""
        if not requests:
            return []
        prepared = []
        for i, request in enumerate(requests):  # validate everything before any GPU work
            label = request_label(i, request)
            check_messages(request.messages, label)
            prepared.append((request, parse_params(request.params, label)))
        self.load()
        responses: list[Response] = []
        with self._generate_lock:
            for start in range(0, len(prepared), self.max_batch_size):
                chunk = prepared[start : start + self.max_batch_size]
                responses.extend(self._run(chunk, start))
        return responses

    async def complete(self, request: Request) -> Response:
        """One request, off the event loop (lets the engine treat this as a plain Backend)."""
        (response,) = await asyncio.to_thread(self.complete_batch, [request])
        return response

    def _run(self, chunk: list[tuple[Request, SamplingSpec]], offset: int) -> list[Response]:
        conversations = [request.messages for request, _ in chunk]
        params = [self._sampling_params(spec, request.schema) for request, spec in chunk]
        started = time.perf_counter()
        try:
            outputs = self._llm.chat(
                conversations,
                sampling_params=params,
                use_tqdm=False,
                add_generation_prompt=True,
            )
        except (ValueError, TypeError) as exc:  # vLLM's input validation (too long, bad template)
            labels = [request_label(offset + i, r) for i, (r, _) in enumerate(chunk)]
            shown = ", ".join(labels[:10]) + (" ..." if len(labels) > 10 else "")
            raise PermanentError(
                f"vLLM rejected the batch holding {shown}: {type(exc).__name__}: {exc}",
                kind="request",
            ) from exc
        latency = time.perf_counter() - started
        if len(outputs) != len(chunk):
            raise PermanentError(
                f"vLLM returned {len(outputs)} outputs for {len(chunk)} requests", kind="server"
            )
        return [
            _to_response(request, output, latency)
            for (request, _), output in zip(chunk, outputs, strict=True)
        ]


def _to_response(request: Request, output: Any, latency: float) -> Response:
    """Map a vLLM RequestOutput (outputs[0].text / token_ids / finish_reason) to a Response."""
    completion = output.outputs[0]
    usage = Usage(
        prompt_tokens=len(output.prompt_token_ids or []),
        completion_tokens=len(completion.token_ids or []),
    )
    reason = completion.finish_reason
    if reason not in ("stop", "length"):  # "abort" or unfinished: no usable text
        return Response(
            request_id=request.id,
            text=completion.text or None,
            finish_reason=reason,
            usage=usage,
            latency_s=latency,
            cost_usd=0.0,
            error=f"vLLM finished request {request.id!r} with finish_reason={reason!r}",
            error_kind="server",
        )
    return Response(
        request_id=request.id,
        text=completion.text,
        finish_reason=reason,
        usage=usage,
        latency_s=latency,
        cost_usd=0.0,
    )
