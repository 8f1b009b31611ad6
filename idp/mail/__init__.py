"""Mail: messages rendered from templates, stored in the outbox, and sent in the background."""
