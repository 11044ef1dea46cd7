"""The panes of the app, one module each."""
