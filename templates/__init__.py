"""Jinja2 templates shipped as package data (replies, reviewer cards, reports, rationales)."""

from pathlib import Path

TEMPLATES_DIR = Path(__file__).resolve().parent
