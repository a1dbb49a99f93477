"""People: a workspace's members (owner, admins, agents), their availability and tokens."""
