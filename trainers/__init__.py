"""GRPO for diffusers generators and reward adapters for Flow-GRPO, TRL and verl."""
