"""The only code that knows collection names, document shapes and indexes."""
