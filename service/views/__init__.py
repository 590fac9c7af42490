"""Service views, one module per concern."""
