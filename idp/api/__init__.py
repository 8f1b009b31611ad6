"""HTTP blueprints: thin — parse, call a service, shape the reply."""
