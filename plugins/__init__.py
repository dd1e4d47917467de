"""Built-in plugins (recording, CRM, dialer, KPI). Each imports only `sdk`."""
