"""Signing: one file, batches on worker processes, runs from a profile, edits of signed files, watching a folder.

Importing the package imports nothing else; import the module you need.
"""
