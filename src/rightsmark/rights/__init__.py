"""The rights model: what a manifest says (author, license, AI-use, consent), consent maps, signing
profiles, edits' inheritance rules (widening) and the XMP mirror. No engine, no I/O beyond files the user names.

Importing the package imports nothing else; import the module you need.
"""
