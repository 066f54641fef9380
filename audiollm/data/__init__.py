"""Training and evaluation data: manifests, datasets, collators, the starter corpus and importers."""
