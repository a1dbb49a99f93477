"""Analytics: what the rollups and the pipeline say about a workspace's traffic and leads."""
