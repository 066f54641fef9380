"""Publish a saved model's directory to the Hugging Face hub, where :func:`.resolve.resolve_saved` finds it."""

from __future__ import annotations

from pathlib import Path


def upload_folder(folder: Path, repo_id: str, private: bool, token: str | None, commit_message: str) -> str:
    """Create model repository ``repo_id`` if it is missing, commit every file of ``folder`` to it, and return the
    commit's URL."""
    from huggingface_hub import HfApi

    if not repo_id or repo_id.count("/") > 1:
        raise ValueError(f"{repo_id!r} is not a Hugging Face repository id (NAME or OWNER/NAME)")
    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    commit = api.upload_folder(repo_id=repo_id, repo_type="model", folder_path=folder, commit_message=commit_message)
    return commit.commit_url
