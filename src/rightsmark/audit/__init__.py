"""Chain-of-custody audit: walking a file's ancestry, findings, and the HTML report.

Importing the package imports nothing else; import the module you need.
"""
