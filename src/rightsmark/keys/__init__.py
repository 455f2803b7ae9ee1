"""Keys and certificates: the development CA, loading and checking signing material, CSRs, where a key
lives (PEM, PKCS#12, PKCS#11), and RFC 3161 timestamp authorities.

Importing the package imports nothing else; import the module you need.
"""
