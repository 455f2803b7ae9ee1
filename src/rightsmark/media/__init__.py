"""Media containers: format sniffing and the byte walkers (JPEG segments, PNG chunks, RIFF, BMFF boxes, TIFF IFDs).

Importing the package imports nothing else; import the module you need.
"""
