"""Services shared by the CLI and the dashboard: operator actions, the watch supervisor, the fleet view."""
