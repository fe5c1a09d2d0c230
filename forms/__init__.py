"""Inklock forms: template model, built-in templates, renderer and field geometry.

Imports nothing from ``scanner``.
"""
