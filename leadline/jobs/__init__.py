"""The durable job queue: jobs are rows written with the change that causes them, run by
workers after that change commits, retried with backoff, and kept when they die."""
