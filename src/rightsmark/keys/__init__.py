"""Keys and certificates: key types and algorithms, the certificate rules, signing material, the development
CA, certificate requests, where a key lives (PEM, PKCS#12, PKCS#11), and RFC 3161 timestamp authorities.

Importing the package imports nothing else; import the module you need.
"""
