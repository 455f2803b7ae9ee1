"""Soft bindings: what finds a manifest again from the pixels alone, after its file lost it.

A soft binding is a value computed from the image's content (a *fingerprint*, here the ISCC image code of
ISO 24138) or carried invisibly in its pixels (a *watermark* carrying a short identifier), recorded in the
manifest as a ``c2pa.soft-binding`` assertion and indexed by a manifest repository
(:mod:`rightsmark.repository`). :mod:`.model` holds the shared vocabulary; each method is a small plug-in
(:mod:`.iscc`, :mod:`.watermark` with :mod:`.qim`), applied at signing by :mod:`.signing`. Nothing here is
imported at start-up.
"""
