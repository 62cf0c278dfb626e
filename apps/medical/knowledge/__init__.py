"""Drug knowledge for draft verification: drugs.json, interactions.json (schema and sources in README.md)."""
from apps.medical.knowledge.loader import (
    ROUTES,
    SCHEDULES,
    UNITS,
    Allergen,
    CrossReactivity,
    DoseLimit,
    Drug,
    DrugClass,
    Interaction,
    Knowledge,
    KnowledgeError,
    Mention,
    Recognition,
    Tag,
    default_knowledge,
    load_knowledge,
)

__all__ = ["ROUTES", "SCHEDULES", "UNITS", "Allergen", "CrossReactivity", "DoseLimit", "Drug", "DrugClass",
           "Interaction", "Knowledge", "KnowledgeError", "Mention", "Recognition", "Tag", "default_knowledge",
           "load_knowledge"]
