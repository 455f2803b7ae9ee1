"""Verification: what one engine reading establishes (facts), policies, the bulk pipeline, inspection and
consent withdrawal lists.

Importing the package imports nothing else; import the module you need.
"""
