"""Built-in plugin: crm (being written)."""
