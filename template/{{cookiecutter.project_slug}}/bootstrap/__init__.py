"""Start-up code: builds the router the runtime runs."""
