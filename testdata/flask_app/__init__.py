"""A small real Flask app for gowsgi's end-to-end tests: flask_app.app:app."""
