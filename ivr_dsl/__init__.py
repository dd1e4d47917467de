"""The IVR scenario language (DSL and YAML forms). Arrives with its own issue; depends on nothing in pbx."""
