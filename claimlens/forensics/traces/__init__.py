"""Shared helpers for the photo-only manipulation-trace detectors (JPEG traces, noise, copy-move)."""
