"""Accounts: signing in to the dashboard. People's passwords, the browsers signed in as them
(sign-ins), the limit on failed attempts, and the one-time link that makes the first owner."""
