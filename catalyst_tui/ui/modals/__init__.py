"""Modal dialogs: confirmations, the status patch, the handover, the JSON view."""
