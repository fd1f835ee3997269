"""The stage runtime: what every consuming stage (the cleansing runner, the loader) stands on.

A stage is a `Sink`: it takes the records that arrived (`add`: decode, transform, reject),
writes them (`write`, possibly on threads of its own) and says when that write is done. The
`StageLoop` does the rest, the same way for every stage:

- one set of consumer settings (`stage_consumer`): manual commits, cooperative-sticky
  assignment, a dead member's partitions handed over after 10 s;
- adaptive batching: a batch is what has arrived (up to `batch_size`), written as soon as the
  previous write is done; while a write is under way the next batch gathers (and the
  partitions pause when it is full), so batches grow with the load and a lone change waits
  for nothing;
- a `Checkpoint` per batch: its offsets, and the producers (outputs, dead letters) whose
  records must be acknowledged before the offsets are committed; nothing is committed out
  of order;
- rebalances: before partitions are given away the pending batches are written and
  committed, within `revoke_timeout_s`; if that cannot be done (Phoenix down), they are
  dropped, their retained partitions are read again from the last commit, and the revoked
  ones are replayed by their new owner, so the rebalance is never held up for long;
- errors (`cdc_ods.errors`): a `Rejected` record is dead-lettered by the sink
  (`Checkpoint.reject`) and the stage goes on; a `TransientError` is retried
  (`retry_transient`) until the batch's checkpoint gives up (the stage is stopping, or the
  rebalance's time ran out), and otherwise stops the stage with the batch uncommitted (the
  supervisor restarts it and it replays); any other `CdcError` stops the stage with its one
  line, and nothing of the unfinished batches (outputs, dead letters) goes out;
- one graceful stop (`Stop`, set by SIGTERM/SIGINT): what was consumed is written and
  committed, then the loop returns; a second signal aborts;
- the process around it (`stage_process`): log lines, the Prometheus endpoint, signals.
"""

from cdc_ods.runtime.checkpoint import Checkpoint
from cdc_ods.runtime.loop import Sink, StageLoop, stage_consumer
from cdc_ods.runtime.process import stage_process
from cdc_ods.runtime.retry import retry_transient
from cdc_ods.runtime.stop import Stop

__all__ = ["Checkpoint", "Sink", "StageLoop", "Stop", "retry_transient", "stage_consumer", "stage_process"]
