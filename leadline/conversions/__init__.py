"""Conversions: sending a lead's pipeline outcomes (qualified, won) back to the ad platforms
that brought it, with a record of what was sent and why something was not."""
