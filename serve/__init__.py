"""Serving (below the CLI, above the adapters): app wiring, the HTTP endpoints, scheduled jobs and their settings,
and the load benchmark. It builds the chat adapters and hands them to the core (`bot`)."""
