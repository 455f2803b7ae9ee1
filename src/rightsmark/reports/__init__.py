"""Reports: record formats as plug-ins, report files and keep lists, the run summary.

Importing the package imports nothing else; import the module you need.
"""
