"""The rough rates `--dry-run` estimates use, shared by model runs and benchmark construction
(measured on the embedded SmolLM2-135M on two CPU cores)."""

CHARS_PER_TOKEN = 4.0
CPU_TOKENS_PER_SECOND = 750.0
