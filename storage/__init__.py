"""Storage: SQLAlchemy 2 async models and the functions that read and write them (all the SQL)."""

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
