"""Showing results to people: the HTML report and its plots, live progress and the closing summary."""
