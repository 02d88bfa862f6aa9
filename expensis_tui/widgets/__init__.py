"""Reusable widgets and modal screens of the console."""
