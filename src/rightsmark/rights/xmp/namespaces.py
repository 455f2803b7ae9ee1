"""The XML namespaces of the XMP properties rightsmark writes and reads (a module of their own: naming them,
as :mod:`rightsmark.rights.signals_xmp` does for every verified file, loads nothing else)."""

X = "adobe:ns:meta/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
XML = "http://www.w3.org/XML/1998/namespace"
DC = "http://purl.org/dc/elements/1.1/"
XMP_RIGHTS = "http://ns.adobe.com/xap/1.0/rights/"
PLUS = "http://ns.useplus.org/ldf/xmp/1.0/"
IPTC_EXT = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
