"""Storage: the schema, and the Core functions that read and write it, one transaction a step."""

from storage.conversations import (
    ConsentFacts,
    Loaded,
    StaleConversation,
    StepRecord,
    UserKey,
    due_users,
    load_conversation,
    save_decision,
)
from storage.database import Database
from storage.vault import NumberVault

__all__ = [
    "ConsentFacts",
    "Database",
    "Loaded",
    "NumberVault",
    "StaleConversation",
    "StepRecord",
    "UserKey",
    "due_users",
    "load_conversation",
    "save_decision",
]
