"""The gowsgi Django demo project."""
