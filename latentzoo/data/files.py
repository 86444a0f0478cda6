"""Readers for the user's own files (placeholder until the file readers land)."""
from latentzoo.errors import UserError


def load_path(path, seed):
    raise UserError(f"{path}: reading datasets from files is not available yet")
