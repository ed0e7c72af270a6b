"""What a prompt is, below both the prompt templates (`pipeline.prompts`) and the backends
(`pipeline.backends.base`) that both use it, so neither imports the other."""

from __future__ import annotations

Chat = list[dict[str, str]]  # OpenAI-style messages: [{"role": ..., "content": ...}]

RAW = "raw"  # a "chat" of one raw-text message: no template (the paper's prompt format)


def is_raw(chat: Chat) -> bool:
    """Whether `chat` is one raw-text message, tokenised as text with no chat template."""
    return len(chat) == 1 and chat[0].get("role") == RAW
