"""Marketing views, one module per concern."""
