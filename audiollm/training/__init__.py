"""Fine-tuning: typed training configs, the trainer loop, checkpoints, metrics and dev evaluation."""
