"""Turning report data into text: units, percentages and aligned tables."""
