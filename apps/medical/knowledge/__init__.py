"""Drug knowledge for draft verification: drugs.json, interactions.json (sources in README.md)."""
from apps.medical.knowledge.loader import (
    Drug,
    DrugClass,
    Interaction,
    Knowledge,
    KnowledgeError,
    Mention,
    default_knowledge,
    load_knowledge,
)

__all__ = ["Drug", "DrugClass", "Interaction", "Knowledge", "KnowledgeError", "Mention", "default_knowledge",
           "load_knowledge"]
