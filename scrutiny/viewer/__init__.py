"""`scrutiny view`: a local web viewer for traces (127.0.0.1, standard library only, no CDN).

Pages are rendered on the server as plain HTML and CSS, a page of traces at a time, so a store
with thousands of traces opens as fast as one with ten:
- `/`: the traces, newest first, filterable and paged; tick two to compare them;
- `/trace/ID`: the task, each image with the boxes the tools found drawn over it (detections,
  OCR lines, zoomed regions, changed regions), every tool call and model message in order, the
  per-criterion scores with their rationale, and the critique;
- `/compare?t=A&t=B`: two traces side by side, criterion by criterion;
- `/runs`, `/run/ID`, `/runs/compare?r=A&r=B`: every run; one run (its score histogram, criteria met
  by kind, abstentions by reason, best and worst items; for training, its curves per step, alarms
  and samples); two runs side by side;
- `/artifact/HASH.png`: an image from the store.
"""

from scrutiny.viewer.server import make_server, serve_in_thread
from scrutiny.viewer.traces import PAGE_SIZE, trace_page

__all__ = ["PAGE_SIZE", "make_server", "serve_in_thread", "trace_page"]
