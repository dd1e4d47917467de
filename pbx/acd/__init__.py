"""Automatic call distribution, the pure core: agents, queues, strategies, EWT, the dispatcher.

Sans-IO: every entry point takes `now` and returns commands for the call layer and
events for the bus (outputs.py). Randomness comes from an injected rng. Nothing in
this package imports asyncio, socket, time, random or threading; the wiring to
legs, the bus and the admin API lives elsewhere.
"""

from .agents import TRANSITIONS, Agent, AgentEvent, AgentState, AgentStateError, Membership
from .dispatcher import Acd
from .ewt import HandleTime, WaitEstimate, remaining_seconds, spoken_minutes
from .outputs import (
    AcdEvent, AgentConnected, AgentNoAnswer, AgentOffered, AgentStateChanged, AgentStateRepaired, AnnounceToCaller,
    CallbackCompleted, CallbackScheduled, CancelOffer, Command, ConnectAgent, OfferCall, Outcome, Output, Overflow,
    OverflowTarget, PlaceCallback, QueueAbandoned, QueueJoined, QueueLeft, QueueOverflowed, QueueTimedOut, Refused,
    RemoveCaller,
)
from .queue import CallbackSettings, Entry, PenaltyStep, Queue, QueueSettings, WaitingList
from .snapshot import AcdSnapshot, AgentSnapshot, CallerSnapshot, QueueSnapshot
from .strategies import BUILT_IN, Candidate, Rng, Strategy, StrategyRegistry, default_registry, has_skills

__all__ = [
    "TRANSITIONS", "Acd", "AcdEvent", "AcdSnapshot", "Agent", "AgentConnected", "AgentEvent", "AgentNoAnswer",
    "AgentOffered", "AgentSnapshot", "AgentState", "AgentStateChanged", "AgentStateError", "AgentStateRepaired",
    "AnnounceToCaller", "BUILT_IN", "CallbackCompleted", "CallbackScheduled", "CallbackSettings", "CallerSnapshot",
    "Candidate", "CancelOffer", "Command", "ConnectAgent", "Entry", "HandleTime", "Membership", "OfferCall",
    "Outcome", "Output", "Overflow", "OverflowTarget", "PenaltyStep", "PlaceCallback", "Queue", "QueueAbandoned",
    "QueueJoined", "QueueLeft", "QueueOverflowed", "QueueSettings", "QueueSnapshot", "QueueTimedOut", "Refused",
    "RemoveCaller", "Rng", "Strategy", "StrategyRegistry", "WaitEstimate", "WaitingList", "default_registry",
    "has_skills", "remaining_seconds", "spoken_minutes",
]
