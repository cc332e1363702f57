"""Difficulty classifier: timm backbones, grouped splits, two-stage training, metrics and batched scoring."""
