"""pytest configuration: the helpers in cli_helpers.py are importable from every test folder."""
