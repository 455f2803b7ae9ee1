"""The Soft Binding Resolution API service (``rightsmark serve``): a repository's manifests found by soft
binding over HTTP, as the C2PA OpenAPI document specifies, plus rightsmark's write route.

:mod:`.app` is the Starlette application, :mod:`.service` its work, :mod:`.validation` the check of every store
it returns, :mod:`.limits` its bounds, :mod:`.openapi` the document it serves, :mod:`.run` the server.
Starlette and uvicorn are an optional extra (``pip install 'rightsmark[serve]'``), imported only here.
"""
