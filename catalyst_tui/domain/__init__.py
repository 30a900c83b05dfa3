"""Pure domain: the deployment record, statuses and the rules (no I/O frameworks, no Textual)."""
