"""Helpers of the recording plugin's end-to-end test (tests/e2e/test_recording_plugin.py)."""
