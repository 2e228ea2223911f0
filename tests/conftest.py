"""Project-wide pytest setup: ``*.call.yaml`` call scenarios are tests (aiflow.testing)."""

pytest_plugins = ["aiflow.testing.plugin", "pytester"]
