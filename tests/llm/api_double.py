"""A loopback stand-in for the OpenAI and Anthropic HTTP APIs, for tests and benchmarks.

The real SDK clients talk to it over HTTP (base_url). Replies are derived from a hash of the
request, so the same request always gets the same answer. Latency and faults are set per
server; every request is logged so tests can check that finished work was never sent twice.

Run standalone (for benchmarks, so the server has its own process and event loop):
    python tests/llm/api_double.py --latency 0.2 [--fault-rate 0.2]
prints `PORT <n>` on its first line, then serves until killed.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

FAULTS = ("429", "500", "slow", "malformed", "drop", "bad_json", "401", "403", "404")
PERMANENT_FAULTS = {
    "401": ("authentication_error", "invalid x-api-key"),
    "403": ("permission_error", "not allowed"),
    "404": ("not_found_error", "model not found"),
}
TRANSIENT_FAULTS = ("429", "500", "malformed", "drop")


@dataclass
class LogEntry:
    method: str
    path: str
    body: Any
    status: int
    fault: str | None
    key: str | None  # hash of the generation request (None for non-generation endpoints)
    time: float = field(default_factory=time.time)


def request_key(body: Any) -> str:
    """A stable hash of what was asked (messages + model + schema), ignoring transport noise."""
    if not isinstance(body, dict):
        return ""
    core = {
        "model": body.get("model"),
        "messages": body.get("messages"),
        "system": body.get("system"),
        "response_format": body.get("response_format"),
        "tools": body.get("tools"),
    }
    return hashlib.sha256(json.dumps(core, sort_keys=True).encode()).hexdigest()


def last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages or []):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def example_for(schema: dict[str, Any], seed: str) -> Any:
    """A value that satisfies a simple JSON schema, varied by `seed`."""
    n = int(seed[:6], 16) if seed else 0
    if "enum" in schema:
        return schema["enum"][n % len(schema["enum"])]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        props = schema.get("properties", {})
        return {name: example_for(sub, seed[2:] + seed[:2]) for name, sub in props.items()}
    if kind == "array":
        item = schema.get("items", {"type": "string"})
        count = max(schema.get("minItems", 1), 1)
        return [example_for(item, seed) for _ in range(count)]
    if kind == "integer":
        return n % 100
    if kind == "number":
        return (n % 1000) / 10
    if kind == "boolean":
        return bool(n % 2)
    if kind == "null":
        return None
    return f"s{seed[:8]}"


def _words(text: str) -> int:
    return max(1, len(text.split()))


class ApiDouble:
    """The server. Configure `latency`, `fault_rate`, `fault_kinds`, or queue faults with
    `fail_next`; read `log`. Call `start()` to serve on 127.0.0.1 in a background thread."""

    def __init__(
        self,
        latency: float = 0.0,
        fault_rate: float = 0.0,
        fault_kinds: tuple[str, ...] = TRANSIENT_FAULTS,
        retry_after: float = 0.05,
        slow_s: float = 30.0,
        batch_polls: int = 1,
        keep_log: bool = True,
        voice: str = "reply",
    ) -> None:
        self.latency = latency
        self.fault_rate = fault_rate
        self.fault_kinds = fault_kinds
        self.retry_after = retry_after
        self.slow_s = slow_s
        self.batch_polls = batch_polls  # polls a batch stays in progress before completing
        self.keep_log = keep_log
        self.voice = voice  # first word of every text reply: tells two servers apart
        self.log: list[LogEntry] = []
        self.counts: Counter[str] = Counter()  # generation requests seen per key
        self.served: Counter[str] = Counter()  # successful generation replies per key
        self.faults_served: Counter[str] = Counter()
        self._queued: list[tuple[str, float | None]] = []
        self._fault_for_text: dict[str, str] = {}
        self.files: dict[str, dict[str, Any]] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.anthropic_batches: dict[str, dict[str, Any]] = {}
        self.batch_item_faults: dict[str, str] = {}  # prompt text -> "error" | "expired"
        self.batch_status_override: str | None = None  # e.g. "expired", "failed"
        # Create the batch, then never answer the create call (a client killed mid-create).
        self.hang_on_create = False
        self._hang_now = False
        self._lock = threading.Lock()
        self.port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None

    # ---- configuration -------------------------------------------------------------------

    def fail_next(self, kind: str, times: int = 1, retry_after: float | None = None) -> None:
        """The next `times` generation requests get fault `kind`."""
        assert kind in FAULTS, kind
        with self._lock:
            self._queued.extend([(kind, retry_after)] * times)

    def fail_prompt(self, text: str, kind: str) -> None:
        """Every request whose last user message is `text` gets fault `kind`, always."""
        self._fault_for_text[text] = kind

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def generation_requests(self) -> list[LogEntry]:
        return [e for e in self.log if e.key]

    # ---- lifecycle -----------------------------------------------------------------------

    def start(self) -> ApiDouble:
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            self._server = loop.run_until_complete(
                asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=1024)
            )
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()
            self._server.close()
            loop.run_until_complete(self._server.wait_closed())
            for task in asyncio.all_tasks(loop):
                task.cancel()
            loop.run_until_complete(asyncio.sleep(0))
            loop.close()

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5)

    async def serve_until_terminated(self, port: int = 0) -> None:
        """Serve until SIGTERM/SIGINT (standalone mode); prints `PORT <n>` once listening."""
        import signal

        self._server = await asyncio.start_server(self._handle, "127.0.0.1", port, backlog=4096)
        self.port = self._server.sockets[0].getsockname()[1]
        print(f"PORT {self.port}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        self._server.close()

    def stats(self) -> dict[str, Any]:
        return {
            "served": dict(self.served),
            "counts": dict(self.counts),
            "faults": dict(self.faults_served),
        }

    # ---- HTTP plumbing -------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                body = await self._read_body(reader, headers)
                keep = await self._dispatch(method, target.split("?")[0], headers, body, writer)
                if not keep or headers.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            writer.close()

    @staticmethod
    async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
        if headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
                data = await reader.readexactly(size + 2)
                if size == 0:
                    break
                chunks.append(data[:-2])
            return b"".join(chunks)
        length = int(headers.get("content-length", "0") or 0)
        return await reader.readexactly(length) if length else b""

    @staticmethod
    def _send(
        writer: asyncio.StreamWriter,
        status: int,
        payload: bytes,
        content_type: str = "application/json",
        extra: dict[str, str] | None = None,
    ) -> None:
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 429: "Too Many Requests"}
        head = [
            f"HTTP/1.1 {status} {reason.get(status, 'Error')}",
            f"content-type: {content_type}",
            f"content-length: {len(payload)}",
        ]
        for k, v in (extra or {}).items():
            head.append(f"{k}: {v}")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)

    def _record(self, entry: LogEntry) -> None:
        if self.keep_log:
            self.log.append(entry)

    def _pick_fault(self, key: str, text: str) -> tuple[str | None, float | None]:
        with self._lock:
            self.counts[key] += 1
            nth = self.counts[key]
            if text in self._fault_for_text:
                return self._fault_for_text[text], None
            if self._queued:
                return self._queued.pop(0)
        if self.fault_rate > 0:
            roll = int(hashlib.sha256(f"{key}:{nth}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
            if roll < self.fault_rate:
                kinds = self.fault_kinds
                return kinds[int(key[:4], 16) % len(kinds) if len(kinds) > 1 else 0], None
        return None, None

    async def _dispatch(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        raw: bytes,
        writer: asyncio.StreamWriter,
    ) -> bool:
        if path.startswith("/v1/files") or path.startswith("/v1/batches"):
            keep = self._openai_batch_api(method, path, headers, raw, writer)
        elif path.startswith("/v1/messages/batches"):
            keep = self._anthropic_batch_api(method, path, raw, writer)
        else:
            keep = None
        if keep is not None:
            if self._hang_now:
                self._hang_now = False
                await asyncio.sleep(self.slow_s)
                return False
            return keep
        if method != "POST" or path not in ("/v1/chat/completions", "/v1/messages"):
            self._send(writer, 404, b'{"error": {"message": "no such endpoint"}}')
            self._record(LogEntry(method, path, None, 404, None, None))
            return True
        try:
            body = json.loads(raw)
        except ValueError:
            self._send(writer, 400, b'{"error": {"message": "body is not JSON"}}')
            return True
        key = request_key(body)
        messages = body.get("messages", [])
        fault, retry_after = self._pick_fault(key, last_user_text(messages))
        if self.latency:
            await asyncio.sleep(self.latency)
        anthropic = path == "/v1/messages"
        self.faults_served[fault or "none"] += 1
        if fault == "429":
            self._record(LogEntry(method, path, body, 429, fault, key))
            wait = retry_after if retry_after is not None else self.retry_after
            err = self._error_body(anthropic, "rate_limit_error", "slow down")
            self._send(writer, 429, err, extra={"retry-after": f"{wait}"})
            await writer.drain()
            return True
        if fault in PERMANENT_FAULTS:
            self._record(LogEntry(method, path, body, int(fault), fault, key))
            kind, message = PERMANENT_FAULTS[fault]
            self._send(writer, int(fault), self._error_body(anthropic, kind, message))
            await writer.drain()
            return True
        if fault == "500":
            self._record(LogEntry(method, path, body, 500, fault, key))
            self._send(writer, 500, self._error_body(anthropic, "api_error", "server fell over"))
            await writer.drain()
            return True
        if fault == "drop":
            self._record(LogEntry(method, path, body, 0, fault, key))
            transport = writer.transport
            transport.abort()
            return False
        if fault == "slow":
            self._record(LogEntry(method, path, body, 0, fault, key))
            await asyncio.sleep(self.slow_s)
            return False
        if fault == "malformed":
            self._record(LogEntry(method, path, body, 200, fault, key))
            self._send(writer, 200, b'{"id": "x", "choices": [ {"mess')
            await writer.drain()
            return True
        reply = self.anthropic_reply(body) if anthropic else self.openai_reply(body)
        if fault == "bad_json":
            self._spoil(reply, anthropic)
        with self._lock:
            self.served[key] += 1
        self._record(LogEntry(method, path, body, 200, fault, key))
        self._send(writer, 200, json.dumps(reply).encode())
        await writer.drain()
        return True

    @staticmethod
    def _error_body(anthropic: bool, kind: str, message: str) -> bytes:
        if anthropic:
            return json.dumps(
                {"type": "error", "error": {"type": kind, "message": message}}
            ).encode()
        return json.dumps({"error": {"message": message, "type": kind, "code": None}}).encode()

    @staticmethod
    def _spoil(reply: dict[str, Any], anthropic: bool) -> None:
        """Make the reply's content unparsable as the requested JSON."""
        if anthropic:
            reply["content"] = [{"type": "text", "text": "Sure! {not json"}]
            reply["stop_reason"] = "end_turn"
        else:
            reply["choices"][0]["message"]["content"] = "Sure! {not json"

    # ---- replies -------------------------------------------------------------------------

    def reply_text(self, body: dict[str, Any]) -> str:
        key = request_key(body)
        fmt = body.get("response_format") or {}
        if fmt.get("type") == "json_schema":
            schema = fmt.get("json_schema", {}).get("schema", {})
            return json.dumps(example_for(schema, key))
        if fmt.get("type") == "json_object":
            return json.dumps({"answer": key[:8]})
        prompt = last_user_text(body.get("messages", []))
        return f"{self.voice} {key[:12]} to: {prompt[:60]}"

    def openai_reply(self, body: dict[str, Any]) -> dict[str, Any]:
        text = self.reply_text(body)
        prompt_words = sum(_words(str(m.get("content", ""))) for m in body.get("messages", []))
        return {
            "id": "chatcmpl-" + request_key(body)[:16],
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "unknown"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_words,
                "completion_tokens": _words(text),
                "total_tokens": prompt_words + _words(text),
            },
        }

    def anthropic_reply(self, body: dict[str, Any]) -> dict[str, Any]:
        key = request_key(body)
        prompt_words = sum(_words(str(m.get("content", ""))) for m in body.get("messages", []))
        choice = body.get("tool_choice") or {}
        tools = {t["name"]: t for t in body.get("tools") or []}
        if choice.get("type") == "tool" and choice.get("name") in tools:
            tool = tools[choice["name"]]
            value = example_for(tool.get("input_schema", {}), key)
            content = [
                {
                    "type": "tool_use",
                    "id": "toolu_" + key[:12],
                    "name": tool["name"],
                    "input": value,
                }
            ]
            out_words = _words(json.dumps(value))
            stop = "tool_use"
        else:
            text = f"{self.voice} {key[:12]} to: {last_user_text(body.get('messages', []))[:60]}"
            content = [{"type": "text", "text": text}]
            out_words = _words(text)
            stop = "end_turn"
        return {
            "id": "msg_" + key[:16],
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "unknown"),
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {"input_tokens": prompt_words, "output_tokens": out_words},
        }

    # ---- OpenAI files + batches ----------------------------------------------------------

    def _json(self, writer: asyncio.StreamWriter, obj: Any, status: int = 200) -> bool:
        self._send(writer, status, json.dumps(obj).encode())
        return True

    def _openai_batch_api(
        self, method: str, path: str, headers: dict[str, str], raw: bytes, writer: Any
    ) -> bool:
        parts = path.strip("/").split("/")  # v1 files [id [content]] | v1 batches [id [cancel]]
        self._record(LogEntry(method, path, None, 200, None, None))
        if parts[1] == "files":
            if method == "POST" and len(parts) == 2:
                fields = parse_multipart(raw, headers.get("content-type", ""))
                file_id = "file-" + uuid.uuid4().hex[:20]
                content = fields.get("file", b"")
                self.files[file_id] = {"content": content, "purpose": fields.get("purpose", b"")}
                return self._json(
                    writer,
                    {
                        "id": file_id,
                        "object": "file",
                        "bytes": len(content),
                        "created_at": int(time.time()),
                        "filename": "input.jsonl",
                        "purpose": fields.get("purpose", b"batch").decode(),
                        "status": "processed",
                    },
                )
            if len(parts) == 4 and parts[3] == "content" and parts[2] in self.files:
                self._send(writer, 200, self.files[parts[2]]["content"], "application/octet-stream")
                return True
            return self._json(writer, {"error": {"message": "no such file"}}, 404)
        if method == "GET" and len(parts) == 2:  # list, newest first
            data = [self._public(b) for b in reversed(self.batches.values())]
            return self._json(
                writer,
                {"object": "list", "data": data, "has_more": False,
                 "first_id": data[0]["id"] if data else None,
                 "last_id": data[-1]["id"] if data else None},
            )  # fmt: skip
        if method == "POST" and len(parts) == 2:
            body = json.loads(raw)
            batch_id = "batch_" + uuid.uuid4().hex[:20]
            self.batches[batch_id] = {
                "id": batch_id,
                "object": "batch",
                "endpoint": body["endpoint"],
                "input_file_id": body["input_file_id"],
                "completion_window": body["completion_window"],
                "status": "validating",
                "created_at": int(time.time()),
                "output_file_id": None,
                "error_file_id": None,
                "request_counts": {"total": 0, "completed": 0, "failed": 0},
                "metadata": body.get("metadata"),
                "_polls": 0,
            }
            if self.hang_on_create:
                self._hang_now = True
                return True
            return self._json(writer, self._public(self.batches[batch_id]))
        if len(parts) >= 3 and parts[2] in self.batches:
            batch = self.batches[parts[2]]
            if method == "POST" and len(parts) == 4 and parts[3] == "cancel":
                batch["status"] = "cancelled"
                return self._json(writer, self._public(batch))
            batch["_polls"] += 1
            if batch["status"] in ("validating", "in_progress"):
                batch["status"] = "in_progress"
                if batch["_polls"] > self.batch_polls:
                    self._finish_openai_batch(batch)
            return self._json(writer, self._public(batch))
        return self._json(writer, {"error": {"message": "no such batch"}}, 404)

    @staticmethod
    def _public(obj: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in obj.items() if not k.startswith("_")}

    def _finish_openai_batch(self, batch: dict[str, Any]) -> None:
        lines = self.files[batch["input_file_id"]]["content"].decode().splitlines()
        out, errors = [], []
        status = self.batch_status_override
        for line in lines:
            if not line.strip():
                continue
            item = json.loads(line)
            body = item["body"]
            key = request_key(body)
            fault = self.batch_item_faults.get(last_user_text(body.get("messages", [])))
            if status == "expired":
                fault = fault or "expired"
            with self._lock:
                self.counts[key] += 1
            if fault == "expired":
                errors.append(
                    {
                        "id": "req_" + key[:8],
                        "custom_id": item["custom_id"],
                        "response": None,
                        "error": {"code": "batch_expired", "message": "expired"},
                    }
                )
                continue
            if fault == "error":
                errors.append(
                    {
                        "id": "req_" + key[:8],
                        "custom_id": item["custom_id"],
                        "response": {"status_code": 500, "body": {"error": {"message": "boom"}}},
                        "error": None,
                    }
                )
                continue
            with self._lock:
                self.served[key] += 1
            out.append(
                {
                    "id": "req_" + key[:8],
                    "custom_id": item["custom_id"],
                    "response": {"status_code": 200, "body": self.openai_reply(body)},
                    "error": None,
                }
            )
        for name, rows in (("output_file_id", out), ("error_file_id", errors)):
            if rows:
                fid = "file-" + uuid.uuid4().hex[:20]
                data = "".join(json.dumps(r) + "\n" for r in rows).encode()
                self.files[fid] = {"content": data, "purpose": b"batch_output"}
                batch[name] = fid
        batch["status"] = "expired" if status == "expired" else "completed"
        batch["request_counts"] = {
            "total": len(out) + len(errors),
            "completed": len(out),
            "failed": len(errors),
        }

    # ---- Anthropic message batches -------------------------------------------------------

    def _anthropic_batch_api(self, method: str, path: str, raw: bytes, writer: Any) -> bool:
        parts = path.strip("/").split("/")  # v1 messages batches [id [results|cancel]]
        self._record(LogEntry(method, path, None, 200, None, None))
        if method == "GET" and len(parts) == 3:  # list, newest first
            data = [self._public(b) for b in reversed(self.anthropic_batches.values())]
            return self._json(
                writer,
                {"data": data, "has_more": False,
                 "first_id": data[0]["id"] if data else None,
                 "last_id": data[-1]["id"] if data else None},
            )  # fmt: skip
        if method == "POST" and len(parts) == 3:
            body = json.loads(raw)
            batch_id = "msgbatch_" + uuid.uuid4().hex[:20]
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 86400))
            self.anthropic_batches[batch_id] = {
                "id": batch_id,
                "type": "message_batch",
                "processing_status": "in_progress",
                "request_counts": {
                    "processing": len(body["requests"]),
                    "succeeded": 0,
                    "errored": 0,
                    "canceled": 0,
                    "expired": 0,
                },
                "created_at": now,
                "expires_at": later,
                "ended_at": None,
                "cancel_initiated_at": None,
                "archived_at": None,
                "results_url": None,
                "_requests": body["requests"],
                "_polls": 0,
                "_results": b"",
            }
            if self.hang_on_create:
                self._hang_now = True
                return True
            return self._json(writer, self._public(self.anthropic_batches[batch_id]))
        if len(parts) >= 4 and parts[3] in self.anthropic_batches:
            batch = self.anthropic_batches[parts[3]]
            if len(parts) == 5 and parts[4] == "results":
                self._send(writer, 200, batch["_results"], "application/binary")
                return True
            batch["_polls"] += 1
            if batch["processing_status"] == "in_progress" and batch["_polls"] > self.batch_polls:
                self._finish_anthropic_batch(batch)
            return self._json(writer, self._public(batch))
        return self._json(writer, {"type": "error", "error": {"type": "not_found_error"}}, 404)

    def _finish_anthropic_batch(self, batch: dict[str, Any]) -> None:
        lines = []
        counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        for item in reversed(batch["_requests"]):  # results come back unordered
            params = item["params"]
            key = request_key(params)
            fault = self.batch_item_faults.get(last_user_text(params.get("messages", [])))
            with self._lock:
                self.counts[key] += 1
            if fault == "expired":
                result: dict[str, Any] = {"type": "expired"}
                counts["expired"] += 1
            elif fault == "error":
                result = {
                    "type": "errored",
                    "error": {"type": "error", "error": {"type": "api_error", "message": "boom"}},
                }
                counts["errored"] += 1
            else:
                with self._lock:
                    self.served[key] += 1
                result = {"type": "succeeded", "message": self.anthropic_reply(params)}
                counts["succeeded"] += 1
            lines.append(json.dumps({"custom_id": item["custom_id"], "result": result}))
        batch["_results"] = ("\n".join(lines) + "\n").encode()
        batch["processing_status"] = "ended"
        batch["ended_at"] = "2026-11-21T00:01:00Z"
        batch["request_counts"] = counts
        batch["results_url"] = f"{self.base_url}/v1/messages/batches/{batch['id']}/results"


def parse_multipart(raw: bytes, content_type: str) -> dict[str, bytes]:
    """Fields of a multipart/form-data body, by name."""
    marker = "boundary="
    if marker not in content_type:
        return {}
    boundary = content_type.split(marker, 1)[1].split(";")[0].strip().strip('"').encode()
    fields: dict[str, bytes] = {}
    for part in raw.split(b"--" + boundary):
        if b"\r\n\r\n" not in part:
            continue
        head, _, data = part.partition(b"\r\n\r\n")
        name = None
        for line in head.decode("latin-1").split("\r\n"):
            if line.lower().startswith("content-disposition") and 'name="' in line:
                name = line.split('name="', 1)[1].split('"', 1)[0]
        if name is not None:
            fields[name] = data[:-2] if data.endswith(b"\r\n") else data
    return fields


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--retry-after", type=float, default=0.05)
    parser.add_argument("--no-log", action="store_true", help="keep no request log (memory)")
    parser.add_argument("--stats-file", help="write served/seen counts here on SIGTERM")
    args = parser.parse_args()
    double = ApiDouble(
        latency=args.latency,
        fault_rate=args.fault_rate,
        retry_after=args.retry_after,
        keep_log=not args.no_log,
    )

    asyncio.run(double.serve_until_terminated(args.port))
    if args.stats_file:
        with open(args.stats_file, "w") as fh:
            json.dump(double.stats(), fh)


if __name__ == "__main__":
    main()
