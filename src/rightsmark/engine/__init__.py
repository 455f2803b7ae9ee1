"""The engine adapter: the only package that imports c2pa (c2pa-python). Reading, building and signing
through the engine, and the JUMBF/COSE bytes the engine does not expose.

Importing the package imports nothing else; import the module you need.
"""
