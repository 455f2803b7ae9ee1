"""``rightsmark filter``: filtered copies of tar shards and Parquet files holding only what a verify report kept.

:mod:`.report` reads the report (which inputs it covers, what it decided for each of their items),
:mod:`.tar` and :mod:`.parquet` write the copies, streaming, :mod:`.run` checks the arguments and
writes each copy atomically. Not to be confused with :mod:`rightsmark.filters`, which decides keep or
drop inside a running pipeline. Importing the package imports nothing else.
"""
