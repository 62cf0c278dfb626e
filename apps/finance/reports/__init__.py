"""Research reports: generation by section on a gpu worker, grounding, editing, versions, approval, export."""
