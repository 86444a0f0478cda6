"""pytest configuration: the helpers in cli_helpers.py are importable from every test folder."""

import os
import tempfile

# Results cached per dataset (latentzoo.cache) go to a folder of this test session, never the user's.
os.environ.setdefault("LATENTZOO_CACHE", tempfile.mkdtemp(prefix="latentzoo-test-cache-"))
