"""Trust: sources of trust anchors by role, the bundled trust lists, and X.509 chain validation.

Importing the package imports nothing else; import the module you need.
"""
