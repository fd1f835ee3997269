"""`cdc bench`: end-to-end throughput and latency of the whole pipeline at rising rates."""
