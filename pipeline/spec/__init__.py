"""The search-space file: its schema (pydantic), loading and --set overrides, and the names of
metrics and feature spaces. Imports nothing else of the pipeline but pipeline.errors.
"""
