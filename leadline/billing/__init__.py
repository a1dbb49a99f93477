"""Plans and what a workspace used this billing cycle."""
