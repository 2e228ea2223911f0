"""Local development tools (dev server, terminal call, CLI). Never imported on Lambda."""
