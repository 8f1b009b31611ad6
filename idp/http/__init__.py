"""HTTP: blueprints, pages, request parsing, and the one map from domain errors to answers."""
