"""Relevance filter of images: cheap layered rules now, a classifier trained on crowd labels later."""
