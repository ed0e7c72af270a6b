"""LoRA fine-tuning (DPO, or SFT on answer_w) on a benchmark's preference pairs, and the evaluation
of the tuned model against its base (`mvpbench tune`)."""
