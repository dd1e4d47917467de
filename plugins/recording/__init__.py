"""Built-in plugin: recording (being written)."""
