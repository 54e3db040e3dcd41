"""Helpers for tests, yours and ours: a fake OpenAI-compatible server and synthetic scenes.

- `fake_server`: `FakeServer` on 127.0.0.1 replays scripted chat completions (answers, tool calls,
  logprobs, errors, hangs) and records every request; `python -m scrutiny.testing.fake_server`
  runs it as a stub for benchmarks.
- `scenes`: signs with known text and canvases of coloured shapes with known boxes, and
  preference pairs built from them.
"""
