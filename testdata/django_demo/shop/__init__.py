"""The demo shop app."""
