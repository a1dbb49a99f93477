"""Live delivery: events published to topics and followed by open streams (docs/live.md)."""

from leadline.live.hub import (
    QUEUE_SIZE,
    Hub,
    LiveEvent,
    Subscription,
    announce,
    configure,
    conversation_topic,
    hub,
    workspace_topic,
)

__all__ = [
    "QUEUE_SIZE",
    "Hub",
    "LiveEvent",
    "Subscription",
    "announce",
    "configure",
    "conversation_topic",
    "hub",
    "workspace_topic",
]
