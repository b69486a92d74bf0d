"""Controllers: the code that handles messages, grouped by subject."""
