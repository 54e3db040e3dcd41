"""The ground floor: what every other part of scrutiny shares, importing nothing else of it.

- `schema`: the data model (tasks, criteria, evidence, verdicts, traces), versioned pydantic;
- `images`: image intake (any input to RGB), content hashes, PNG encodings;
- `aio`: the background event loop for synchronous callers and the bounded worker pool;
- `backend`: the `Backend` protocol a model policy talks to, and the completion it returns.
"""
