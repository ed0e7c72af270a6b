"""A stand-in OpenAI-compatible server on 127.0.0.1 for tests: it honours the real wire format of
/v1/chat/completions (logprobs.content[].top_logprobs) and /v1/completions (echo + logprobs with
tokens, token_logprobs, text_offset, top_logprobs), records every request, and can be told to answer
429 or to stall past the client's timeout. Loopback only; every loop is bounded."""

from __future__ import annotations

import json
import math
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeServer:
    """`tokenizer`: echo prompts tokenised as the real model does (a transformers tokenizer), else by
    white space; `special_text_offsets=False` reproduces llama.cpp's `text_offset`, which leaves out
    the special tokens' text; `ignore_prefill` answers a prefilled chat as llama.cpp does (the model
    opens a new reply with "Answer"): always (True), or for the requests a function of the request
    body picks (a server that ignores it on some replies only). `served`: the GET /models ids, or
    whole entries (dicts) where a test needs what a server reports besides the id."""

    def __init__(self, tokenizer=None, special_text_offsets: bool = True, ignore_prefill=False):
        self.tokenizer, self.special_text_offsets, self.ignore_prefill = tokenizer, special_text_offsets, ignore_prefill
        self.served: list[str] | None = None  # GET /models answers these ids; None: 404, as some APIs do
        self.requests: list[dict] = []
        self.fail_first = 0  # answer 429 to this many requests
        self.stall_first = 0  # sleep past the timeout on this many requests
        self.status = None  # answer every request with this status
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                if self.path.endswith("/models") and server.served is not None:
                    data = [m if isinstance(m, dict) else {"id": m, "object": "model"} for m in server.served]
                    return self._send(200, {"object": "list", "data": data})
                return self._send(404, {"error": {"message": "not found"}})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    n = len(server.requests)
                    server.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
                if server.status:
                    return self._send(server.status, {"error": {"message": "bad request"}})
                if n < server.fail_first:
                    return self._send(429, {"error": {"message": "rate limited"}}, {"Retry-After": "0"})
                if n < server.fail_first + server.stall_first:
                    time.sleep(1.5)
                if self.path.endswith("/chat/completions"):
                    return self._send(200, server.chat(body))
                return self._send(200, server.completion(body))

            def _send(self, status, payload, headers=None):
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def chat(self, body):
        prefilled = body["messages"][-1]["role"] == "assistant"
        ignored = self.ignore_prefill(body) if callable(self.ignore_prefill) else self.ignore_prefill
        if body.get("logprobs") and prefilled and ignored:
            top = [{"token": "Answer", "logprob": math.log(0.7)}, {"token": "A", "logprob": math.log(0.05)}]
            content = [{"token": "Answer", "logprob": math.log(0.7), "top_logprobs": top}]
            return {"choices": [{"message": {"role": "assistant", "content": "Answer"}, "logprobs": {"content": content}}]}
        if body.get("logprobs"):
            top = [{"token": "A", "logprob": math.log(0.3)}, {"token": " B", "logprob": math.log(0.1)},
                   {"token": "Answer", "logprob": math.log(0.2)}]
            content = [{"token": "A", "logprob": math.log(0.3), "top_logprobs": top}]
            return {"choices": [{"message": {"role": "assistant", "content": "A"}, "logprobs": {"content": content}}]}
        return {"choices": [{"message": {"role": "assistant", "content": f"  reply to: {body['messages'][-1]['content'][:20]}  "}}]}

    def _tokens(self, prompt: str) -> tuple[list[str], list[int]]:
        if self.tokenizer is None:  # whitespace-split tokens with offsets
            tokens, offsets, pos = [], [], 0
            for word in prompt.split(" "):
                tokens.append(word)
                offsets.append(pos)
                pos += len(word) + 1
            return tokens, offsets
        ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        special = set(self.tokenizer.all_special_ids)
        tokens, offsets, pos = [], [], 0
        for i in ids:
            text = self.tokenizer.decode([i])
            tokens.append(text)
            offsets.append(pos)
            if i not in special or self.special_text_offsets:
                pos += len(text)
        return tokens, offsets

    def completion(self, body):
        prompt = body["prompt"]
        if body.get("echo"):
            # each prompt token has log-prob -0.5 (the first none), the generated one -9
            tokens, offsets = self._tokens(prompt)
            lps = [None] + [-0.5] * (len(tokens) - 1)
            return {"choices": [{"text": prompt + "X", "logprobs": {"tokens": tokens + ["X"], "token_logprobs": lps + [-9.0],
                                                                     "text_offset": offsets + [len(prompt)], "top_logprobs": None}}]}
        if body.get("logprobs"):
            return {"choices": [{"text": " A", "logprobs": {"tokens": [" A"], "token_logprobs": [math.log(0.4)],
                                                            "top_logprobs": [{" A": math.log(0.4), " B": math.log(0.35), "X": -5}]}}]}
        return {"choices": [{"text": "generated"}]}

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
