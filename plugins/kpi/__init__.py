"""Built-in plugin: call records and KPIs (being assembled)."""
